"""The small value types a tensor reports: dtypes (srcad.float64, ...) and Size (its shape).

A DType prints as torch's do (srcad.float32) and stands for a NumPy dtype wherever NumPy takes
one (np.zeros(3, dtype=srcad.float32)), since NumPy reads its `dtype` attribute. Size is a tuple
that prints as srcad.Size([2, 3]). Tensor.size is both torch's method (x.size(), x.size(0)) and
NumPy's attribute (x.size == 6), so code written for either keeps working.
"""

import numpy as np

from srcad.tape import mode


class DType:
    """A tensor's element type: a NumPy dtype with torch's name and printing."""

    __slots__ = ("dtype", "name")

    def __init__(self, name, numpy_dtype):
        self.name, self.dtype = name, np.dtype(numpy_dtype)

    def __repr__(self):  # (NumPy's in a NumPy function the tape runs, as it printed it)
        return repr(self.dtype) if mode.in_user_code() else f"srcad.{self.name}"

    def __str__(self):
        return str(self.dtype) if mode.in_user_code() else f"srcad.{self.name}"

    def __eq__(self, other):
        try:
            return self.dtype == as_numpy(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.dtype)

    def __getattr__(self, name):  # kind, itemsize, ... as NumPy's dtype has them
        return getattr(self.dtype, name)

    @property
    def is_floating_point(self):
        return self.dtype.kind == "f"


# torch's aliases float, int and bool are given by srcad.tape's __init__, not here, where they
# would hide the builtins
float16 = half = DType("float16", np.float16)
float32 = DType("float32", np.float32)
float64 = double = DType("float64", np.float64)
int8 = DType("int8", np.int8)
int16 = short = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = long = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
bool_ = DType("bool", np.bool_)

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_BY_NUMPY = {t.dtype: t for t in _ALL}


def as_numpy(dtype):
    """The NumPy dtype of a DType, a NumPy dtype or a Python type (float, int, bool)."""
    return dtype.dtype if isinstance(dtype, DType) else np.dtype(dtype)


def of(numpy_dtype):
    """The DType a tensor with this NumPy dtype reports."""
    found = _BY_NUMPY.get(numpy_dtype)
    return found if found is not None else DType(str(numpy_dtype), numpy_dtype)


_DEFAULT_FLOAT = [np.dtype(np.float64)]  # srcad's default float is float64, torch's float32


def set_default_dtype(dtype):
    """The dtype of tensors made from Python floats and of float factories (zeros, rand, ...)
    without dtype=, as torch.set_default_dtype."""
    dtype = as_numpy(dtype)
    if dtype.kind != "f":
        raise TypeError(f"only floating-point types are supported as the default type, not "
                        f"{of(dtype)!r}")
    _DEFAULT_FLOAT[0] = dtype


def get_default_dtype():
    return of(_DEFAULT_FLOAT[0])


def with_default_float(array):
    """`array`, made from Python data or by a factory, in the default float type if float."""
    return array.astype(_DEFAULT_FLOAT[0]) if array.dtype == np.float64 and \
        _DEFAULT_FLOAT[0] != np.float64 else array


def default_for(array):
    """torch's dtype for data given without dtype=: the data's own type (Python ints give
    int64, bools bool, floats the default float)."""
    if array.dtype.kind not in "fiub":
        raise TypeError(f"srcad.tensor: cannot make a tensor of {array.dtype} data")
    return array.dtype


class Size(tuple):
    """A tensor's shape: a tuple that prints as srcad.Size([2, 3])."""

    def __repr__(self):
        return tuple.__repr__(self) if mode.in_user_code() else f"srcad.Size({list(self)})"

    __str__ = __repr__

    def numel(self):
        return int(np.prod(self))


class SizeAttribute(int):
    """x.size: the number of elements (NumPy's attribute), callable as torch's x.size(dim)."""

    def __new__(cls, shape):
        size = super().__new__(cls, int(np.prod(shape)))
        size.shape = shape
        return size

    def __call__(self, dim=None):
        return Size(self.shape) if dim is None else self.shape[dim]


_SCALAR_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
                      "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
                      "bool": "Bool"}


def torch_name(numpy_dtype):
    """The name torch's messages give a dtype (Float, Double, Long, ...)."""
    name = np.dtype(numpy_dtype).name
    return _SCALAR_TYPE_NAMES.get(name, name)


# ---- torch's type promotion (NumPy's differs: an int tensor times a float32 one is float64
# there, and a 0-d float64 array promotes a float32 array) ----

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote(a, b):
    """torch.promote_types: within a category as NumPy, across categories the higher one."""
    if a is None or b is None:
        return b if a is None else a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    return np.promote_types(a, b) if ca == cb else (a if ca > cb else b)


def result_type(operands, is_tensor):
    """The dtype torch gives an operation on `operands` (tensors, arrays and numbers):
    dimensioned tensors decide, unless a 0-d tensor of a higher category (float over int)
    does, or else a Python number of a higher category (a float: the default float)."""
    dimensioned = zero_d = number = None
    for x in operands:
        if is_tensor(x) or isinstance(x, (np.ndarray, np.generic)):
            value = np.asarray(getattr(x, "_value", x))
            if value.ndim:
                dimensioned = _promote(dimensioned, value.dtype)
            else:
                zero_d = _promote(zero_d, value.dtype)
        elif isinstance(x, (bool, int, float, complex)):
            kind = {bool: np.bool_, int: np.int64, complex: np.complex128}.get(
                type(x), _DEFAULT_FLOAT[0])
            number = _promote(number, np.dtype(kind))
    out = dimensioned
    for candidate in (zero_d, number):
        if candidate is not None and (out is None or
                                      _CATEGORY[candidate.kind] > _CATEGORY[out.kind]):
            out = candidate
    return out
