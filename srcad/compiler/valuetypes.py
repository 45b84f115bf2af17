"""The types srcad specialises a gradient on: the kind (float / int / bool) and rank of a value,
as `of_value` reads them from a call's arguments (kept apart from type inference, which
needs the whole pipeline, so that a call can be typed without importing it)."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ty:
    kind: str  # "f" float, "i" int, "b" bool, "tuple", "none", "str", "dtype", "unknown"
    ndim: int = 0
    items: tuple = ()

    @property
    def is_array(self):
        return self.kind in "fib" and self.ndim > 0

    def __str__(self):
        if self.kind == "tuple":
            return "(" + ", ".join(map(str, self.items)) + ")"
        name = {"f": "float", "i": "int", "b": "bool"}.get(self.kind, self.kind)
        return f"{name}[{self.ndim}d]" if self.ndim else name


FLOAT, INT, BOOL = Ty("f"), Ty("i"), Ty("b")
NONE, STR, UNKNOWN = Ty("none"), Ty("str"), Ty("unknown")


def array(kind, ndim):
    return Ty(kind, ndim) if ndim else Ty(kind)


def is_int64(value):
    """Whether `value` is a Python int that compiled code's 64-bit integers hold."""
    return type(value) is int and -2 ** 63 <= value < 2 ** 63


def of_value(value):
    """The Ty of a Python/NumPy value passed as an argument. A subclass of float, int or of an
    array type may change what its operators mean (`Scaled(float)` with its own `__mul__`):
    it has no type the generated code can take."""
    cls = type(value)
    subclass = cls.__module__ != "numpy" and cls not in (bool, int, float, tuple) and \
        isinstance(value, (int, float, np.generic, np.ndarray, tuple)) and \
        not _plain_namedtuple(value)
    if subclass or (isinstance(value, np.ndarray) and cls is not np.ndarray):
        return UNKNOWN
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return INT
    if isinstance(value, (float, np.floating)):
        return FLOAT
    if isinstance(value, np.ndarray):
        kind = {"f": "f", "i": "i", "u": "i", "b": "b"}.get(value.dtype.kind)
        return array(kind, value.ndim) if kind else UNKNOWN
    if isinstance(value, tuple):
        return Ty("tuple", items=tuple(of_value(v) for v in value))
    if value is None:
        return NONE
    if isinstance(value, str):
        return STR
    return UNKNOWN


def _plain_namedtuple(value):
    """A collections.namedtuple / typing.NamedTuple instance (its items are what it holds)."""
    cls = type(value)
    return isinstance(value, tuple) and hasattr(cls, "_fields") and \
        cls.__getitem__ is tuple.__getitem__ and cls.__iter__ is tuple.__iter__
