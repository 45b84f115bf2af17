"""Errors and warnings srcad raises, and the `file:line` locations they carry.

Every failure a user can cause names the construct and where it is in the user's own file.
"""

import numpy as np


class SourceLoc:
    """A place in the user's source: file name, absolute line number, and the line's text."""

    __slots__ = ("file", "line", "text")

    def __init__(self, file, line, text=""):
        self.file, self.line, self.text = file, line, text

    def __str__(self):
        return f"{self.file}:{self.line}"

    def __repr__(self):
        return f"SourceLoc({self.file!r}, {self.line})"


class DerivedLoc(SourceLoc):
    """The place in the user's source of a statement of generated code that srcad transforms
    again (a second derivative's): messages name the user's line, not the generated code."""

    __slots__ = ()


# in the reason Numba refuses a str(), repr(), format() or print() for (runtime.text_of and its
# kin): the generated Python makes the text instead, in the arguments' own precision
PYTHON_TEXT = "Python's text is made instead"

class UnsupportedError(Exception):
    """srcad cannot transform a construct. The message names it and its `file:line`."""

    def __init__(self, what, loc=None):
        self.what, self.loc = what, loc
        where = f"{loc}: " if loc else ""
        line = f"\n    {loc.text.strip()}" if loc is not None and loc.text.strip() else ""
        super().__init__(f"{where}{what}{line}")


class AliasingError(UnsupportedError):
    """A write into an array while another name for its memory (a view, a second name) is
    read later: srcad follows values by name and would not see the change. mode="auto" runs
    such code on the tape, whose views share memory as NumPy's do."""


class StaleCompiledValue(UnsupportedError):
    """A numba function called by the user's code was compiled with a global or closure value
    that has changed since: its machine code computes with the old one, its source (which
    srcad differentiates, in every mode) with the new. Never a reason to fall back."""


def share_elements(a, b):
    """Whether arrays `a` and `b` share an element (x[0::2] and x[1::2] do not): NumPy's
    exact test where it is quick, else sharing assumed (the arguments an AliasingError names)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return np.shares_memory(a, b, max_work=10_000)
    except np.exceptions.TooHardError:
        return True


class UserCodeError(TypeError):
    """Something the user gave srcad is wrong whatever mode runs it (a custom vjp returning the
    wrong number of adjoints): raised as it is, never a reason to fall back."""


class SourceUnavailableError(UnsupportedError):
    """The function's source code cannot be read (a builtin, a lambda typed at a prompt, ...)."""


class FallbackWarning(UserWarning):
    """srcad.grad fell back from the source transform to the runtime tape; the text says why."""


def warn_fallback(message):
    """A FallbackWarning attributed to the user's line that called into srcad (whichever of
    srcad's entry points it went through: grad, jacobian, explain, a nested derivative)."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2  # (level 1 is this function)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, FallbackWarning, stacklevel=level)


class CacheWarning(UserWarning):
    """srcad cannot use its disk cache (e.g. the directory is writable by others); the text says
    why. Generated code is then kept in memory only."""


class ListItemShapeError(ValueError):
    """An item of another shape than the others put in a list the source transform lowered to
    an array (compiler/lists.py); mode="auto" runs the function on the tape instead."""

    def __init__(self, item_shape, items_shape, where):
        super().__init__(f"an item of shape {item_shape} put in a list of items of shape "
                         f"{items_shape} ({where}): srcad's source transform takes lists whose "
                         "items share one shape (mode='auto' and mode='tape' run the others "
                         "on the tape)")


class EmptyStack(ValueError):
    def __init__(self, where):
        super().__init__(f"need at least one array to stack ({where})")


class ShapeAssumptionFailed(Exception):
    """Arrays a generated gradient assumed have one shape do not (the code broadcasts them):
    srcad runs the gradient generated without the assumption instead (never seen by users)."""
