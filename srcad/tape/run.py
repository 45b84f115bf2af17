"""Run a user's NumPy function on the tape: the bridge srcad.api uses for mode="tape".

value_and_grad and vjp wrap the arguments to differentiate in tensors that require grad, and
other float arrays in constant tensors, and call the function rebuilt with patched globals and
closure cells (the caller's arrays are never changed: writes go to copies):
  - `math`, and names imported from it, apply tensor ops to tensors (math.sin -> np.sin);
  - `numpy`'s allocations (np.zeros, np.empty, np.array, ...) return tensors, so that
    `y[i] = t` inside the function is recorded;
  - `float(t)` keeps a tensor a tensor.
User helper functions it reaches through globals, closure cells or arguments, and its own
recursive calls, are rebuilt the same way when first called. The call runs in user-code mode
(mode.py), where whatever would still drop a gradient raises instead.
"""

import contextlib
import functools
import gc
import math
import numbers
import sys
import types

import numpy as np

from srcad.tape import engine, mode
from srcad.tape.numpy_api import broadcast_to, erf, full_like, reshape, stack
from srcad.tape.tensor import Tensor, as_tensor


def value_and_grad(fn, args, wrt):
    """Value and gradient of a scalar-valued function, on the tape.

    Args:
        fn: the user's function.
        args: tuple of its positional arguments (floats, ints, bools, NumPy arrays, ...).
        wrt: tuple of the indices of the arguments to differentiate with respect to.

    Returns:
        (value, grads): value as a float; grads a tuple in wrt order, a float for a number
        argument and an ndarray shaped like the argument for an array argument.

    Raises:
        TypeError: fn does not return a single number, or a wrt argument is not numeric.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    value = _output_value(out, fn)
    if value.size != 1:
        raise TypeError(
            f"{_qualname(fn)} returned an array of shape {value.shape}, but value_and_grad "
            "needs a scalar output; use vjp for non-scalar outputs"
        )
    if isinstance(out, Tensor) and out.requires_grad:
        with _collector_paused():
            engine.backward(out)
    return value.item(), _grads(args, wrt, leaves)


def vjp(fn, args, wrt):
    """Value and vector-Jacobian product function of fn, on the tape.

    Returns:
        (value, pullback): value is fn's output as a float or ndarray; pullback(cotangent),
        with a cotangent shaped like value, returns the grads as value_and_grad does. It can be
        called any number of times.
    """
    with _collector_paused():
        out, leaves = _trace(fn, args, wrt)
    value = _output_value(out, fn)

    def pullback(cotangent):
        cotangent = np.asarray(cotangent, dtype=np.float64)
        if cotangent.shape != value.shape:
            raise ValueError(
                f"the cotangent has shape {cotangent.shape}, but {_qualname(fn)} returned "
                f"shape {value.shape}"
            )
        for leaf in leaves.values():
            leaf.grad = None
        if isinstance(out, Tensor) and out.requires_grad:
            with _collector_paused():
                engine.backward(out, cotangent, retain_graph=True)
        return _grads(args, wrt, leaves)

    return (value.item() if value.ndim == 0 else value), pullback


def _trace(fn, args, wrt):
    """Call fn on tensors: returns its output and {argument index: leaf tensor}."""
    patcher = _Patcher()
    leaves = {i: _leaf(args, i) for i in wrt}
    with mode.enable_grad(), mode.user_code():
        # the function gets copies of the leaves: NumPy code may write into its arguments
        call_args = [
            leaves[i].clone() if i in leaves else patcher.argument(arg)
            for i, arg in enumerate(args)
        ]
        return patcher.callable(fn)(*call_args), leaves


@contextlib.contextmanager
def _collector_paused():
    """The graph is many small objects, which the cyclic garbage collector would scan again and
    again while the graph grows; reference counting alone frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _leaf(args, i):
    if not 0 <= i < len(args):
        raise IndexError(f"wrt index {i} is out of range for {len(args)} arguments")
    value = args[i]._value if isinstance(args[i], Tensor) else np.asarray(args[i])
    if value.dtype.kind not in "fiu":
        raise TypeError(
            f"argument {i} is a {type(args[i]).__name__} of dtype {value.dtype}; the tape "
            "differentiates with respect to numbers and numeric arrays only"
        )
    return Tensor(value.astype(np.float64), requires_grad=True)


def _qualname(fn):
    return getattr(fn, "__qualname__", repr(fn))


def _output_value(out, fn):
    if isinstance(out, Tensor):
        return out._value.copy()
    if isinstance(out, (numbers.Real, np.ndarray, np.generic)):
        return np.array(out, dtype=np.float64)
    raise TypeError(
        f"{_qualname(fn)} returned a {type(out).__name__}; the tape differentiates functions "
        "that return a number or an array"
    )


def _grads(args, wrt, leaves):
    grads = []
    for i in wrt:
        grad = leaves[i]._grad
        grad = np.zeros(leaves[i].shape) if grad is None else grad.numpy()
        grads.append(grad.item() if isinstance(args[i], numbers.Number) else grad)
    return tuple(grads)


# ---- rebuilding user functions ----

_LIBRARIES = frozenset(sys.stdlib_module_names) | {"numpy", "scipy", "numba", "srcad"}


def _is_user_function(fn):
    if not isinstance(fn, types.FunctionType):
        return False
    path = fn.__code__.co_filename
    return (
        (fn.__module__ or "").partition(".")[0] not in _LIBRARIES
        and "site-packages" not in path
        and "dist-packages" not in path
    )


class _Patcher:
    """Rebuilds the user functions of one call, each once, sharing one patched copy of each
    module's globals (so recursion and helpers reach the rebuilt versions)."""

    def __init__(self):
        self._functions = {}
        self._globals = {}

    def callable(self, fn):
        if isinstance(fn, types.MethodType) and _is_user_function(fn.__func__):
            return types.MethodType(self.function(fn.__func__), fn.__self__)
        fn = _python_of_jitted(fn) or fn
        return self.function(fn) if _is_user_function(fn) else fn

    def argument(self, arg):
        if isinstance(arg, np.ndarray) and arg.dtype == np.float64:
            constant = as_tensor(arg)
            constant._shared = True  # a write inside the function goes to a copy
            return constant
        if isinstance(arg, np.ndarray):
            return as_tensor(arg) if arg.dtype.kind == "f" else arg.copy()
        return self.value(arg)

    def value(self, v):
        """What a global or closure variable holding v holds in rebuilt functions: a user
        function (also behind numba.njit or functools.partial) is rebuilt when first called."""
        shim = _SHIMS.get(id(v))
        if shim is not None:
            return shim
        if _is_user_function(v):
            return _PatchedOnCall(self, v)
        python = _python_of_jitted(v)
        if python is not None:
            return _PatchedOnCall(self, python)
        if isinstance(v, functools.partial) and _is_user_function(v.func):
            return functools.partial(_PatchedOnCall(self, v.func), *v.args, **v.keywords)
        return v

    def function(self, fn):
        patched = self._functions.get(fn)
        if patched is None:
            closure = fn.__closure__ and tuple(self._cell(cell) for cell in fn.__closure__)
            patched = types.FunctionType(
                fn.__code__, self._globals_of(fn), fn.__name__, fn.__defaults__, closure
            )
            patched.__kwdefaults__ = fn.__kwdefaults__
            patched.__qualname__ = fn.__qualname__
            self._functions[fn] = patched
        return patched

    def _globals_of(self, fn):
        patched = self._globals.get(id(fn.__globals__))
        if patched is None:
            patched = {name: self.value(v) for name, v in fn.__globals__.items()}
            patched.setdefault("float", _Float)
            self._globals[id(fn.__globals__)] = patched
        return patched

    def _cell(self, cell):
        try:
            contents = cell.cell_contents
        except ValueError:  # the variable is not assigned yet
            return cell
        return types.CellType(self.value(contents))


def _python_of_jitted(v):
    """The Python function behind a numba dispatcher (@numba.njit) of user code, else None:
    the tape runs it on tensors, which compiled code cannot take."""
    if type(v).__module__.partition(".")[0] != "numba":
        return None
    python = getattr(v, "py_func", None)
    return python if _is_user_function(python) else None


class _PatchedOnCall:
    """A user function seen by a rebuilt function: rebuilt itself when first called."""

    __slots__ = ("_fn", "_patched", "_patcher")

    def __init__(self, patcher, fn):
        self._patcher, self._fn, self._patched = patcher, fn, None

    def __call__(self, *args, **kwargs):
        if self._patched is None:
            self._patched = self._patcher.function(self._fn)
        return self._patched(*args, **kwargs)


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
    "fabs": np.abs,
    "pow": np.power,
    "log": lambda x, base=None: np.log(x) if base is None else np.log(x) / np.log(base),
    "hypot": lambda *xs: np.hypot(*xs) if len(xs) == 2 else np.sqrt(sum(x * x for x in xs)),
    "erf": erf,
    "degrees": lambda x: x * (180 / math.pi),
    "radians": lambda x: x * (math.pi / 180),
}
_MATH_ZERO_GRADIENT = {"floor", "ceil", "trunc", "isnan", "isinf", "isfinite", "isclose"}


def _math_function(name, real):
    on_tensors = _MATH_ON_TENSORS.get(name)

    @functools.wraps(real)
    def shim(*args):
        tensors = [a for a in args if isinstance(a, Tensor)]
        if not tensors:
            return real(*args)
        if on_tensors is not None:
            return on_tensors(*args)
        if name not in _MATH_ZERO_GRADIENT and any(t.requires_grad for t in tensors):
            raise TypeError(
                f"srcad.tape has no derivative for math.{name}, called on a value that depends "
                "on the differentiated inputs; write it with supported functions (np.sin, "
                "np.exp, ...)"
            )
        return real(*(a.item() if isinstance(a, Tensor) else a for a in args))

    return shim


# ---- NumPy allocations that return tensors ----


def _allocating(np_func):
    @functools.wraps(np_func)
    def allocate(*args, **kwargs):
        result = np_func(*args, **kwargs)
        is_float_array = isinstance(result, np.ndarray) and result.dtype.kind == "f"
        return as_tensor(result) if is_float_array else result

    return allocate


def _holds_tensor(obj):
    return isinstance(obj, Tensor) or (
        isinstance(obj, (list, tuple)) and any(_holds_tensor(item) for item in obj)
    )


def _stacked(obj):
    return stack([_stacked(item) for item in obj]) if isinstance(obj, (list, tuple)) else obj


def _to_array(np_func):
    """np.array / np.asarray / np.ascontiguousarray: tensors, and lists holding tensors, stay on
    the tape; only np.array copies a tensor (the others return it, as NumPy returns an array)."""
    allocate = _allocating(np_func)

    @functools.wraps(np_func)
    def to_array(obj, dtype=None, **kwargs):
        if _holds_tensor(obj) and (dtype is None or np.dtype(dtype).kind == "f"):
            if not isinstance(obj, Tensor):
                obj = _stacked(obj)
            elif np_func is np.array:
                return obj.clone()
            if np_func is np.ascontiguousarray and obj.ndim == 0:
                return reshape(obj, (1,))  # it returns at least 1-D
            return obj
        return allocate(obj, dtype, **kwargs)

    return to_array


def _full(shape, fill_value, dtype=None, **kwargs):
    if isinstance(fill_value, Tensor):
        return broadcast_to(fill_value, shape)
    return _allocating(np.full)(shape, fill_value, dtype, **kwargs)


class _NumpyForTensors(types.ModuleType):
    def __getattr__(self, name):
        return getattr(np, name)


class _FloatType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, float) or (isinstance(obj, Tensor) and obj.ndim == 0)


class _Float(metaclass=_FloatType):
    """float inside user code: float(t) keeps a tensor on the tape, and a 0-d tensor (a NumPy
    scalar there) is an instance; dtype=float means float64 as with the builtin."""

    dtype = np.dtype(np.float64)  # what NumPy reads when this class is passed as a dtype

    def __new__(cls, x=0.0):
        if isinstance(x, Tensor):
            return x if x.ndim == 0 else x.reshape(())
        return float(x)


_MATH = types.ModuleType("math", "math, applying tensor ops to tensors (srcad.tape.run)")
_NUMPY = _NumpyForTensors("numpy", "numpy, allocating tensors (srcad.tape.run)")
_SHIMS = {id(math): _MATH, id(np): _NUMPY}
for _name in dir(math):
    if not _name.startswith("_"):
        _real = getattr(math, _name)
        setattr(_MATH, _name, _math_function(_name, _real) if callable(_real) else _real)
        if callable(_real):
            _SHIMS[id(_real)] = getattr(_MATH, _name)
_NUMPY_SHIMS = {
    name: _allocating(getattr(np, name))
    for name in ("zeros", "ones", "empty", "eye", "identity", "copy")
    + ("zeros_like", "ones_like", "empty_like")
}
_NUMPY_SHIMS.update(
    full=_full,
    full_like=full_like,
    array=_to_array(np.array),
    asarray=_to_array(np.asarray),
    ascontiguousarray=_to_array(np.ascontiguousarray),
)
for _name, _shim in _NUMPY_SHIMS.items():
    setattr(_NUMPY, _name, _shim)
    _SHIMS[id(getattr(np, _name))] = _shim
