"""What a user's NumPy function sees while run.py runs it on tensors.

Inside the call, `math.sin(t)` applies a tensor op, `np.zeros(n)` returns a tensor (so that
`y[i] = t` is recorded), `float(t)` keeps a tensor a tensor, and a helper compiled with
numba.njit runs as Python. The user's functions are not copied: they run as they are, and every
function, class and module keeps its identity (`ACT is square`, `f.__name__`, isinstance).
What changes, for the duration of the call only, are the library objects user code reaches by
name. patched(fn, args) finds the globals of every user module reachable from fn and its
arguments (through globals, closure cells, classes, modules, partials and small containers),
and replaces in them, and in closure cells, in place:
  - the `math` and `numpy` modules and the functions imported from them by shims (below):
    np.zeros and the like make tensors, and np.array, np.asarray, np.asanyarray, np.require
    and the like return a tensor as NumPy returns an array (itself, a view or a copy), except
    inside a user class's __array__, which must return an ndarray; np.r_[a, b] concatenates
    tensors;
  - a numba dispatcher of user code by its Python function;
  - `float`, by a stand-in that keeps a 0-d tensor a tensor (added to the module's globals);
and a local `import math` / `import numpy` / `import scipy.special` executed by such a module
gives the shims too. All is put back when the call returns. Each shim acts as what it replaces
except in the thread that is running user code on the tape (mode.in_user_code()), so code using
the same modules from other threads meanwhile is unaffected; nested and concurrent calls share
the patches.

Limits: a library function reached otherwise than by a name (`FUNCS = [math.sin]`) or a user
module the walk does not reach is not patched (a tensor there raises a clear error rather than
drop its gradient), and `type(v) is float` is False while `float` is replaced.
"""

import builtins
import contextlib
import functools
import math
import operator
import sys
import threading
import types

import numpy as np

from srcad.compiler.frontend import changed_since_compiled
from srcad.errors import StaleCompiledValue, UnsupportedError
from srcad.tape import mode
from srcad.tape.numpy_api import broadcast_to, erf, full_like, reshape
from srcad.tape.tensor import Tensor, apply, as_tensor, holds_tensor, stacked

_LARGEST_CONTAINER = 64  # containers in globals are searched for functions only up to this size


def is_user_function(fn):
    return isinstance(fn, types.FunctionType) and mode.is_user_module(
        fn.__module__, fn.__code__.co_filename
    )


def python_of_jitted(v):
    """The Python function behind a numba dispatcher (@numba.njit) of user code, else None:
    the tape runs it on tensors, which compiled code cannot take."""
    if type(v).__module__.partition(".")[0] != "numba":
        return None
    python = getattr(v, "py_func", None)
    if not is_user_function(python):
        return None
    changed = changed_since_compiled(v)
    if changed is not None:  # (its Python function would compute something else)
        return _refused_when_called(python, changed)
    return python


def _refused_when_called(python, changed):
    """A stand-in for a numba function whose compiled values changed: refused if the code
    calls it (found by an attack: one anywhere in a module the tape patched refused every
    function of that module)."""
    @functools.wraps(python)
    def stale(*args, **kwargs):
        raise StaleCompiledValue(changed)
    return stale


def stand_in(v):
    """What user code gets instead of v while on the tape: a shim, the Python function of a
    jitted helper, or None to keep v."""
    return _SHIMS.get(id(v)) or python_of_jitted(v)


@contextlib.contextmanager
def patched(fn, args):
    """Patch what fn and args reach (see the module docstring) for the duration of the block."""
    _add_scipy_shims()
    reach = _Reach()
    for obj in (fn, *args):
        reach.visit(obj)
    acquired = []
    try:
        with _LOCK:
            for target in reach.targets.values():
                _acquire(target)
                acquired.append(target)
        yield
    finally:
        with _LOCK:
            for target in acquired:
                _release(target)


# ---- finding what to patch ----


class _Reach:
    """The user-module globals and closure cells reachable from some objects."""

    def __init__(self):
        self.targets = {}  # id -> a globals dict or a cell
        self._seen = set()

    def visit(self, obj):
        stack = [obj]
        while stack:
            obj = stack.pop()
            if id(obj) not in self._seen:
                self._seen.add(id(obj))
                stack.extend(self._inside(obj))

    def _inside(self, obj):
        """Register obj's globals and cells, and return the objects it leads to."""
        if isinstance(obj, types.FunctionType):
            return self._function(obj) if is_user_function(obj) else ()
        if isinstance(obj, types.MethodType):
            return (obj.__func__,)
        if isinstance(obj, functools.partial):
            return (obj.func, *obj.args, *obj.keywords.values())
        if isinstance(obj, (staticmethod, classmethod)):
            return (obj.__func__,)
        if isinstance(obj, property):
            return (obj.fget, obj.fset, obj.fdel)
        if isinstance(obj, types.ModuleType):
            if not mode.is_user_module(obj.__name__, getattr(obj, "__file__", None)):
                return ()
            return self._namespace(vars(obj))
        if isinstance(obj, type):
            return self._class(obj)
        if isinstance(obj, (list, tuple, set, frozenset, dict)):
            if len(obj) > _LARGEST_CONTAINER:
                return ()
            return obj.values() if isinstance(obj, dict) else obj
        python = python_of_jitted(obj)
        if python is not None:
            return (getattr(python, "__wrapped__", python),)
        if type(obj).__name__ == "custom_vjp" and type(obj).__module__ == "srcad.custom":
            return (obj.fn, obj.vjp, obj.jvp)  # (the tape calls its vjp: in a second
            # derivative's backward pass, on tensors)
        if type(obj).__module__ in ("builtins", "numpy"):
            return ()
        instance = getattr(obj, "__dict__", None)  # (a user object's numba function `p.fn`)
        if isinstance(instance, dict) and (type(obj) is types.SimpleNamespace or
                                           mode.is_user_module(type(obj).__module__, None)):
            return [type(obj), *self._namespace(instance)]
        return (type(obj),)

    def _function(self, fn):
        found = [*self._namespace(fn.__globals__), *(fn.__defaults__ or ())]
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # the variable is not assigned yet
                continue
            if stand_in(contents) is not None:
                self.targets[id(cell)] = cell
            found.append(contents)
        found.extend((fn.__kwdefaults__ or {}).values())
        return found

    def _namespace(self, namespace):
        if id(namespace) in self.targets:
            return ()
        self.targets[id(namespace)] = namespace
        return list(namespace.values())

    def _class(self, cls):
        if not mode.is_user_module(cls.__module__, None):
            return ()
        return [*vars(cls).values(), *cls.__bases__]


# ---- patching in place, shared by nested and concurrent calls ----

_LOCK = threading.Lock()
_ACTIVE = {}  # id(globals dict or cell) -> [target, number of calls using it, what was there]
_MISSING = object()  # what a globals dict held under a name it did not have


def _acquire(target):
    active = _ACTIVE.get(id(target))
    if active is not None:
        active[1] += 1
        return
    if not _ACTIVE:
        builtins.__import__ = _import
    saved = _patch_cell(target) if isinstance(target, types.CellType) else _patch_dict(target)
    _ACTIVE[id(target)] = [target, 1, saved]


def _release(target):
    active = _ACTIVE[id(target)]
    active[1] -= 1
    if active[1]:
        return
    del _ACTIVE[id(target)]
    if isinstance(target, types.CellType):
        _restore_cell(target, *active[2])
    else:
        _restore_dict(target, active[2])
    if not _ACTIVE and builtins.__import__ is _import:
        builtins.__import__ = _real_import


def _patch_dict(namespace):
    saved = {}
    for name, value in list(namespace.items()):
        replacement = stand_in(value)
        if replacement is not None:
            saved[name] = (value, replacement)
    if "float" not in namespace and "__builtins__" in namespace:  # (a module's globals, not
        saved["float"] = (_MISSING, _Float)  # an object's attributes: vars(p) stays as it is)
    for name, (_, replacement) in saved.items():
        namespace[name] = replacement
    return saved


def _restore_dict(namespace, saved):
    for name, (original, replacement) in saved.items():
        if namespace.get(name) is replacement:  # unless the user's code assigned it since
            if original is _MISSING:
                del namespace[name]
            else:
                namespace[name] = original


def _patch_cell(cell):
    original = cell.cell_contents
    cell.cell_contents = replacement = stand_in(original)
    return original, replacement


def _restore_cell(cell, original, replacement):
    if cell.cell_contents is replacement:
        cell.cell_contents = original


_real_import = builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    """`import math`, `import numpy`, `import scipy.special as sp` and the like inside a patched
    user module, on the tape: the shims."""
    if level != 0 or id(globals) not in _ACTIVE or not mode.in_user_code():
        return _real_import(name, globals, locals, fromlist, level)
    shim = _SHIM_MODULES.get(name)
    if shim is not None:
        return shim
    module = _real_import(name, globals, locals, fromlist, level)
    return _SHIMS.get(id(module), module)  # (SciPy and its submodules)


# ---- math for tensors ----

_MATH_ON_TENSORS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "exp": np.exp,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "cbrt": np.cbrt,
    "fabs": np.abs,
    "pow": np.power,
    "log": lambda x, base=None: np.log(x) if base is None else np.log(x) / np.log(base),
    # (np.hypot pairwise, as the source transform: a sum of squares under- and overflows)
    "hypot": lambda *xs: functools.reduce(np.hypot, xs[1:], xs[0]) if len(xs) > 1 else
    np.hypot(xs[0], 0.0) if xs else 0.0,
    "dist": lambda p, q: _MATH_ON_TENSORS["hypot"](*(a - b for a, b in zip(p, q, strict=True))),
    "erf": erf,
    "degrees": lambda x: x * (180 / math.pi),
    "radians": lambda x: x * (math.pi / 180),
    "prod": lambda iterable, start=1: functools.reduce(operator.mul, iterable, start),
}
_MATH_ZERO_GRADIENT = {"floor", "ceil", "trunc", "isnan", "isinf", "isfinite", "isclose"}


def _in_float64(value):
    if isinstance(value, (tuple, list)):
        return type(value)(map(_in_float64, value))
    return value.to(np.float64) if isinstance(value, Tensor) and value.dtype.kind == "f" else \
        value


def _math_function(name, real):
    @functools.wraps(real)
    def shim(*args, **kwargs):
        tensors = [e for a in args for e in (a if isinstance(a, (tuple, list)) else (a,))
                   if isinstance(e, Tensor)]  # (math.dist takes two sequences)
        if not tensors or not mode.in_user_code():
            return real(*args, **kwargs)
        on_tensors = _MATH_ON_TENSORS.get(name) or _rule_ops().handler(real)
        if on_tensors is not None:  # (in float64, as math computes: of float32 values too)
            if name == "prod":  # (the product of its items, arrays among them, as they are)
                return on_tensors(*args, **kwargs)
            result = on_tensors(*(_in_float64(a) for a in args), **kwargs).to(np.float64)
            result._python = True  # math.* returns a Python float
            return result
        if name not in _MATH_ZERO_GRADIENT and any(t.requires_grad for t in tensors):
            raise TypeError(
                mode.located(
                    f"srcad.tape has no derivative for math.{name}, called on a value that "
                    "depends on the differentiated inputs; write it with supported functions "
                    "(np.sin, np.exp, ...)"
                )
            )
        return real(*(a._value.item() if isinstance(a, Tensor) else a for a in args), **kwargs)

    return shim


# ---- NumPy allocations that return tensors ----


def _allocating(np_func):
    @functools.wraps(np_func)
    def allocate(*args, **kwargs):
        result = np_func(*args, **kwargs)
        on_tape = mode.in_user_code() and isinstance(result, np.ndarray)
        if on_tape and result.dtype.kind == "f" and not _in_array_protocol():
            return as_tensor(result)
        return result

    return allocate


def _in_array_protocol():
    """True when called (directly or through a few user functions) from a user class's
    __array__, whose result NumPy requires to be an ndarray."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # (the shims)
    for _ in range(4):
        if frame is None or not mode.is_user_module(frame.f_globals.get("__name__"),
                                                    frame.f_code.co_filename):
            return False
        if frame.f_code.co_name == "__array__":
            return True
        frame = frame.f_back
    return False


def _to_array(np_func):
    """np.array, np.asarray, np.asanyarray, np.ascontiguousarray, np.asfortranarray, np.require
    and np.asarray_chkfinite: tensors, and lists holding tensors, stay on the tape. A tensor
    comes back as NumPy's result does: the tensor itself, a view of it (ndmin=) or a copy."""
    allocate = _allocating(np_func)

    @functools.wraps(np_func)
    def to_array(obj, *args, **kwargs):
        if not (mode.in_user_code() and holds_tensor(obj)):
            return allocate(obj, *args, **kwargs)
        if not isinstance(obj, Tensor):
            dtype = kwargs.get("dtype", args[0] if args else None)
            if dtype is not None and np.dtype(dtype).kind != "f":
                return allocate(obj, *args, **kwargs)  # (raises for a tracked tensor)
            obj = stacked(obj)
            if np_func is np.array:  # the stack is the new array
                return obj if obj._value.dtype == np.dtype(dtype or obj._value.dtype) else \
                    obj.astype(dtype)
        value = obj._value
        result = np_func(value, *args, **kwargs)  # NumPy's own answer and errors
        if result is value:
            return obj
        if result.dtype.kind != "f":  # an integer or bool array: no gradient to keep
            return allocate(obj, *args, **kwargs)  # (raises for a tracked tensor)
        if np.may_share_memory(result, value):  # ndmin=, or a 0-d array made 1-D
            return reshape(obj, result.shape)
        convert = functools.partial(np_func, *args, **kwargs)
        return apply("convert", obj, convert=convert, source=value.dtype)

    return to_array


def _of_lists(np_func, operands=1):
    """A reduction (np.mean, np.sum, ...) or product (np.dot, ...) whose operands (the first
    `operands` arguments) may be lists or tuples holding tensors: NumPy takes each as the array
    of its items, which stays on the tape as their stack (NumPy converts a list itself, without
    asking its tensors to dispatch)."""

    @functools.wraps(np_func)
    def of_lists(*args, **kwargs):
        if mode.in_user_code():
            args = [stacked(a) if k < operands and type(a) in (list, tuple) and holds_tensor(a)
                    else a for k, a in enumerate(args)]
        return np_func(*args, **kwargs)

    return of_lists


def _full(shape, fill_value, dtype=None, **kwargs):
    if isinstance(fill_value, Tensor) and mode.in_user_code():
        return broadcast_to(fill_value, shape)
    return _allocating(np.full)(shape, fill_value, dtype, **kwargs)


def _full_like(a, fill_value, dtype=None, **kwargs):
    if mode.in_user_code():
        return full_like(a, fill_value, dtype, **kwargs)
    return np.full_like(a, fill_value, dtype, **kwargs)


class _NumpyForTensors(types.ModuleType):
    def __getattr__(self, name):
        return getattr(np, name)


# ---- SciPy's functions that do not dispatch to tensors (logsumexp, solve_triangular, ...) ----


def _scipy_function(real, on_tensors):
    @functools.wraps(real)
    def shim(*args, **kwargs):
        if mode.in_user_code() and holds_tensor((*args, *kwargs.values())):
            return on_tensors(*args, **kwargs)
        return real(*args, **kwargs)

    return shim


class _ModuleShim(types.ModuleType):
    """A module as user code on the tape sees it: `replaced` attributes, the rest its own."""

    def __init__(self, real, replaced):
        super().__init__(real.__name__, real.__doc__)
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _rule_ops():
    from srcad.tape import rule_ops  # (imports the rules, SciPy and Numba: at first use)
    return rule_ops


def _scipy_shims():
    import scipy
    import scipy.linalg
    import scipy.special

    rule_ops = _rule_ops()
    shims = {}
    replaced = {}
    for module in (scipy.special, scipy.linalg):
        functions = {}
        for name in dir(module):
            real = getattr(module, name, None)
            if callable(real) and not isinstance(real, np.ufunc) and \
                    rule_ops.handler(real) is not None:
                functions[name] = shims[id(real)] = _scipy_function(real, rule_ops.handler(real))
        replaced[module.__name__.rpartition(".")[2]] = shims[id(module)] = \
            _ModuleShim(module, functions)
    shims[id(scipy)] = _ModuleShim(scipy, replaced)
    return shims


# ---- float() and np.float64() ----


class _ScalarType(type):
    """float or np.float64 in user code: a 0-d tensor (a number there) is an instance, and
    the rest (subclasses, float.fromhex, np.float64(1).dtype, ...) is the type's own."""

    def __instancecheck__(cls, obj):
        on_tape = isinstance(obj, Tensor) and obj.ndim == 0 and mode.in_user_code()
        # (a Python float is no np.float64; NumPy's float64 is a float)
        return isinstance(obj, cls.real) or (on_tape and obj.dtype == cls.dtype and
                                             (cls.real is float or not obj._python))

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, cls.real)

    def __getattr__(cls, name):
        return getattr(cls.real, name)


class _Float(metaclass=_ScalarType):
    """float in user code: float(t) keeps a tensor on the tape; dtype=float means float64 as
    with the builtin."""

    real = float
    dtype = np.dtype(np.float64)  # what NumPy reads when this class is passed as a dtype

    def __new__(cls, x=0.0):
        if isinstance(x, Tensor) and mode.in_user_code():
            number = x.reshape(()).to(np.float64)  # a Python float: a tensor of its own
            number._python = True
            return number
        return float(x)


class _Float64(metaclass=_ScalarType):
    """np.float64 in user code: np.float64(t) keeps a tensor on the tape (of t's shape, as
    np.float64 of an array is an array)."""

    real = np.float64
    dtype = np.dtype(np.float64)

    def __new__(cls, x=0.0):
        if isinstance(x, Tensor) and mode.in_user_code():
            return x.to(cls.dtype)
        return cls.real(x)


class _Float32(_Float64):
    """np.float32 in user code, as np.float64."""

    real = np.float32
    dtype = np.dtype(np.float32)


class _ArrayType(type):
    """np.ndarray in user code: a tensor of one axis or more is an instance (a 0-d one stands
    for a number there); the rest is the class's own."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, np.ndarray) or \
            isinstance(obj, Tensor) and obj.ndim > 0 and mode.in_user_code()

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, np.ndarray)

    def __getattr__(cls, name):
        return getattr(np.ndarray, name)

    def __call__(cls, *args, **kwargs):
        return np.ndarray(*args, **kwargs)


class _NdArray(np.ndarray, metaclass=_ArrayType):
    """np.ndarray in user code (see _ArrayType; a subclass, for `x.view(np.ndarray)`)."""


_NdArray.__name__ = _NdArray.__qualname__ = "ndarray"
_Float.__name__ = _Float.__qualname__ = "float"
_Float64.__name__ = _Float64.__qualname__ = "float64"
_Float32.__name__ = _Float32.__qualname__ = "float32"


# ---- the shims, by the id of what they replace ----

_MATH = types.ModuleType("math", "math, applying tensor ops to tensors (srcad.tape.patching)")
_NUMPY = _NumpyForTensors("numpy", "numpy, allocating tensors (srcad.tape.patching)")
_SHIM_MODULES = {"math": _MATH, "numpy": _NUMPY}
_SHIMS = {id(math): _MATH, id(np): _NUMPY}
for _name in dir(math):
    if not _name.startswith("_"):
        _real = getattr(math, _name)
        setattr(_MATH, _name, _math_function(_name, _real) if callable(_real) else _real)
        if callable(_real):
            _SHIMS[id(_real)] = getattr(_MATH, _name)


class _Concatenator:
    """np.r_ on the tape: np.r_[a, b, ...] of arrays and numbers is np.concatenate of each at
    least 1-D, so tensors stay tensors (NumPy's own makes each an array); with slices or
    strings, and outside user code, NumPy's."""

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not mode.in_user_code():
            return np.r_[key]
        if any(isinstance(i, (slice, str)) for i in items):
            if all(isinstance(i, (slice, str, int, float, np.ndarray, np.generic)) for i in items):
                return np.r_[key]
            raise UnsupportedError("np.r_[...] with slices or strings is not supported on "
                                   "tensors (write np.concatenate((np.arange(...), x)))")
        return np.concatenate([np.atleast_1d(_NUMPY_SHIMS["array"](item) if isinstance(
            item, (list, tuple)) else item) for item in items])  # (a list of tensors: a tensor)


_NUMPY_SHIMS = {
    name: _allocating(getattr(np, name))
    for name in ("zeros", "ones", "empty", "eye", "identity", "copy")
    + ("zeros_like", "ones_like", "empty_like")
}
_NUMPY_SHIMS.update(
    full=_full,
    full_like=_full_like,
    float64=_Float64,
    float32=_Float32,
    ndarray=_NdArray,
    r_=_Concatenator(),
    **{
        name: _to_array(getattr(np, name))
        for name in ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray")
        + ("require", "asarray_chkfinite")
    },
    **{
        name: _of_lists(getattr(np, name))
        for name in ("sum", "mean", "prod", "max", "min", "amax", "amin", "std", "var")
        + ("median", "cumsum", "cumprod", "average", "ptp", "polyval")
    },
    **{name: _of_lists(getattr(np, name), 2) for name in ("dot", "matmul", "inner", "outer")},
)
for _name, _shim in _NUMPY_SHIMS.items():
    setattr(_NUMPY, _name, _shim)
    _SHIMS[id(getattr(np, _name))] = _shim


@functools.cache
def _add_scipy_shims():
    """At the first patching: SciPy is imported when the tape runs, not by `import srcad`."""
    _SHIMS.update(_scipy_shims())
