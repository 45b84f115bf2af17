"""Tensor: a float64 NumPy array that records the operations applied to it, as in PyTorch.

Every operation on a tensor that requires grad (in grad mode) runs its forward from ops.OPS and
gives the result an engine.Node as grad_fn; backward() walks those nodes. NumPy functions called
on tensors arrive through __array_ufunc__ / __array_function__; one the tape cannot
differentiate raises instead of dropping the gradient, and so does converting a tracked tensor
to a plain array.

Storage and versions: a result never shares memory with its inputs. In-place operations
(a += b, y[i] = v, x.add_(1)) write into the tensor's storage, bump its version counter and make
the recorded op its new grad_fn. A node that saved the old value then raises at backward time,
as in PyTorch; in user-code mode (mode.py) the write goes to a fresh copy instead (as it does
for a tensor wrapping a caller's array there). x[i] of basic
indices reads a copy that remembers where it came from, so writing into it (A[i][j] = v) also
writes into A, as a NumPy view would.
"""

import dis
import functools
import sys
import warnings
import weakref

import numpy as np

from srcad.tape import engine, mode
from srcad.tape.ops import OPS, is_basic_index

_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]

_DROPPED_IN_USER_CODE = (
    "srcad.tape: float() of a value that depends on the differentiated inputs would return a "
    "plain number and drop its gradient. It happens in code the tape does not rewrite "
    "(methods of classes, library functions): float(x) or math functions there, or storing x "
    "into a NumPy array made outside the differentiated function. Keep x as it is, or write "
    "x.detach() where no gradient should flow."
)
_DROPPED_BY_STORE = (
    "srcad.tape: storing a tensor that requires grad into a NumPy array (y[i] = t) would drop "
    "its gradient. Make y a tensor (srcad.tensor(np.zeros(n))), or store t.detach() if no "
    "gradient should flow."
)
_DROPPED_BY_ARRAY = (
    "srcad.tape: a tensor that requires grad (shape {shape}) was converted to a NumPy array, "
    "which would drop its gradient: it was stored into a NumPy array (y[i:j] = t), put in "
    "np.array([...]) or np.float64(...), or passed to a function the tape does not know. Make "
    "y a tensor (srcad.tensor(...)), build arrays of tensors with np.stack, or use t.detach() "
    "(and t.detach().numpy()) if no gradient should flow."
)


def _operand(x):
    """The NumPy value of an op input: a tensor's storage, or the number or array itself."""
    if isinstance(x, Tensor):
        return x._value
    if isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=np.float64)
    return x


def _apply(name, *inputs, **params):
    """Run op `name` on inputs (tensors, arrays, numbers) and record it if any input is tracked."""
    op = OPS[name]
    values = [x._value if isinstance(x, Tensor) else _operand(x) for x in inputs]
    value = np.asarray(op.forward(*values, **params), dtype=np.float64)
    if value.base is not None:  # a view of an input: results never share memory with inputs
        value = value.copy()
    out = _new(value)
    if not mode.is_grad_enabled():
        return out
    edges = [x.grad_fn or x if isinstance(x, Tensor) and x._requires_grad else None for x in inputs]
    if all(edge is None for edge in edges):
        return out
    values.append(value)
    counters = [x._counter if isinstance(x, Tensor) else None for x in inputs]
    counters.append(out._counter)
    out.grad_fn = engine.Node(op, params, edges, values, counters)
    out._requires_grad = True
    if not op.linear:
        for x in inputs:
            if isinstance(x, Tensor):
                x._shared = True
        out._shared = True
    return out


def _new(value):
    t = object.__new__(Tensor)
    t._value, t._counter = value, [0]  # the version counter, shared with detach()ed aliases
    t._requires_grad = t._retains_grad = t._shared = False
    t.grad_fn = t._grad = t._view_of = None
    return t


def _tracked(x):
    return isinstance(x, Tensor) and x._requires_grad and mode.is_grad_enabled()


def _plain(obj, name=None):
    """obj with tensors replaced by their arrays. If `name` (the NumPy function they are about
    to be passed to) is given, a tracked tensor raises instead: the tape cannot differentiate it."""
    if isinstance(obj, Tensor):
        if name is not None and _tracked(obj):
            raise TypeError(
                f"srcad.tape has no derivative for {name}, called on a tensor that requires "
                "grad. Write it with operations the tape supports (srcad/tape/ops.py), or pass "
                "x.detach() if no gradient should flow through it."
            )
        return obj._value
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(item, name) for item in obj)
    if isinstance(obj, dict):
        return {key: _plain(item, name) for key, item in obj.items()}
    return obj


def _check_inplace(t):
    if not mode.is_grad_enabled():
        return
    kind = "a leaf Variable"
    while t is not None:
        if t._requires_grad and t.grad_fn is None:
            raise RuntimeError(f"{kind} that requires grad is being used in an in-place operation.")
        t, kind = (t._view_of[0] if t._view_of else None), "a view of a leaf Variable"


def _method(name, reflected=False):
    """A Tensor method applying op `name` to self (and the other operand)."""
    if reflected:
        return lambda self, other: _apply(name, other, self)
    return lambda self, *other: _apply(name, self, *other)


def _in_place(name):
    return lambda self, other: self._inplace(name, other)


def _augmented(name):
    """x += y and friends. In user code a 0-d tensor stands for a NumPy scalar, which `+=`
    rebinds rather than changes, so there the result is a new tensor."""

    def augmented(self, other):
        if self.ndim == 0 and mode.in_user_code():
            return _apply(name, self, other)
        return self._inplace(name, other)

    return augmented


def _comparison(ufunc):
    """A comparison: not recorded; a bool array, or a bool for 0-d operands."""

    def compare(self, other):
        result = ufunc(self._value, _operand(other))
        return result if result.ndim else bool(result)

    return compare


def _axis(axis, dim):
    axis = dim if axis is None else axis  # torch spells it dim
    return tuple(axis) if isinstance(axis, list) else axis


class Tensor:
    """A float64 array (0-d for a scalar) that records operations when it requires grad."""

    __slots__ = (
        "__weakref__",
        "_counter",
        "_grad",
        "_requires_grad",
        "_retains_grad",
        "_shared",
        "_value",
        "_view_of",
        "grad_fn",
    )
    __hash__ = object.__hash__  # hashable by identity, like torch tensors, despite __eq__

    def __new__(cls, data, requires_grad=False):
        t = _new(np.array(_operand(data), dtype=np.float64))
        t.requires_grad = requires_grad
        return t

    # ---- autograd attributes ----

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self.grad_fn is not None and not flag:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        if self.grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during backward(). If you want the gradient "
                "of a non-leaf Tensor, call .retain_grad() on it before backward().",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor(value)
            if value.shape != self.shape:
                raise RuntimeError("assigned grad has data of a different size")
        self._grad = value

    def retain_grad(self):
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retained = weakref.ref(self)

    def backward(self, gradient=None, retain_graph=None):
        engine.backward(self, None if gradient is None else _operand(gradient), bool(retain_graph))

    def detach(self):
        """A tensor outside the graph sharing this one's storage and version counter."""
        out = _new(self._value)
        out._counter = self._counter
        return out

    def detach_(self):
        self.grad_fn, self._requires_grad, self._view_of = None, False, None
        return self

    @property
    def data(self):
        """This tensor's storage as a tensor outside the graph, with its own version counter."""
        return _new(self._value)

    @data.setter
    def data(self, value):
        self._value = np.array(_operand(value), dtype=np.float64)

    @property
    def _version(self):
        return self._counter[0]

    def _accumulate_grad(self, g):
        if self._grad is None:
            self._grad = _new(np.array(g, dtype=np.float64))
        else:
            self._grad._value += g
            self._grad._counter[0] += 1

    # ---- conversions ----

    def numpy(self):
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._value

    def item(self):
        return self._value.item()

    def tolist(self):
        return self._value.tolist()

    def astype(self, dtype):
        return self.clone() if np.issubdtype(dtype, np.floating) else self._value.astype(dtype)

    def __array__(self, dtype=None, copy=None):
        if _tracked(self):
            raise RuntimeError(_DROPPED_BY_ARRAY.format(shape=self.shape))
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self):
        if _tracked(self):
            if mode.in_user_code():
                raise RuntimeError(_DROPPED_IN_USER_CODE)
            # float(t) returns a number, as in torch; y[i] = t into an ndarray must not
            caller = sys._getframe(1)
            if caller.f_code.co_code[caller.f_lasti] == _STORE_SUBSCR:
                raise RuntimeError(_DROPPED_BY_STORE)
        return float(self._value.item())

    def __int__(self):
        return int(self._value.item())

    def __bool__(self):
        return bool(self._value)

    def __len__(self):
        return len(self._value)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        fractional = not np.all(self._value == np.trunc(self._value))
        body = np.array2string(  # as torch prints: 4 decimals for every element, or none
            self._value,
            precision=4,
            floatmode="fixed" if fractional else "maxprec",
            separator=", ",
            prefix="tensor(",
        )
        if self.grad_fn is not None:
            return f"tensor({body}, grad_fn={self.grad_fn!r})"
        return f"tensor({body}, requires_grad=True)" if self._requires_grad else f"tensor({body})"

    def __format__(self, spec):
        return format(self.item(), spec) if self.ndim == 0 else format(repr(self), spec)

    # ---- array attributes ----

    shape = property(lambda self: self._value.shape)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    dtype = property(lambda self: self._value.dtype)
    T = property(lambda self: transpose(self))

    def numel(self):
        return self._value.size

    def dim(self):
        return self._value.ndim

    # ---- operators (reflected ones swap the operands) ----

    __add__, __radd__ = _method("add"), _method("add", reflected=True)
    __sub__, __rsub__ = _method("sub"), _method("sub", reflected=True)
    __mul__, __rmul__ = _method("mul"), _method("mul", reflected=True)
    __truediv__, __rtruediv__ = _method("div"), _method("div", reflected=True)
    __pow__, __rpow__ = _method("pow"), _method("pow", reflected=True)
    __mod__, __rmod__ = _method("mod"), _method("mod", reflected=True)
    __neg__, __pos__, __abs__ = _method("neg"), _method("clone"), _method("abs")
    __iadd__, __isub__ = _augmented("add"), _augmented("sub")
    __imul__, __itruediv__ = _augmented("mul"), _augmented("div")
    __lt__, __le__ = _comparison(np.less), _comparison(np.less_equal)
    __gt__, __ge__ = _comparison(np.greater), _comparison(np.greater_equal)
    __eq__, __ne__ = _comparison(np.equal), _comparison(np.not_equal)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    # ---- indexing ----

    def __getitem__(self, index):
        out = _apply("getitem", self, index=index)
        if out.ndim and is_basic_index(index):
            out._view_of = (self, index)
        return out

    def __setitem__(self, index, value):
        self._inplace("index_put", value, index=index)

    # ---- in-place operations ----

    add_, sub_, mul_, div_ = _in_place("add"), _in_place("sub"), _in_place("mul"), _in_place("div")

    def zero_(self):
        return self._inplace("mul", 0.0)

    def _inplace(self, name, *others, **params):
        """Store op(self, *others) into self, recording it as self's new grad_fn."""
        _check_inplace(self)
        # the graph saved this storage, or it is the caller's array: write to a copy instead
        if self._shared and mode.in_user_code():
            self._value, self._counter, self._shared = self._value.copy(), [0], False
        if self._view_of is not None:  # read the base again: it may have changed since
            base, index = self._view_of
            self._become(base[index])
        old = _new(self._value if OPS[name].linear else self._value.copy())
        if old._value is self._value:
            old._counter = self._counter
        old.grad_fn, old._requires_grad = self.grad_fn, self._requires_grad
        self._become(_apply(name, old, *others, **params))
        if self._view_of is not None:
            base[index] = self
        return self

    def _become(self, result):
        """Take result's value (written into this tensor's storage) and its place in the graph."""
        if result._value is not self._value:
            self._value[...] = result._value
        self._counter[0] += 1
        if result.grad_fn is not None:
            self.grad_fn, self._requires_grad = result.grad_fn, True

    # ---- methods (NumPy's and torch's spellings) ----

    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return _apply("sum", self, axis=_axis(axis, dim), keepdims=keepdims or keepdim)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
        return _apply("mean", self, axis=_axis(axis, dim), keepdims=keepdims or keepdim)

    def max(self, axis=None, keepdims=False):
        return _apply("max", self, axis=_axis(axis, None), keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _apply("min", self, axis=_axis(axis, None), keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return _apply("prod", self, axis=_axis(axis, None), keepdims=keepdims)

    def cumsum(self, axis=None):
        return _apply("cumsum", self, axis=axis)

    def reshape(self, *shape):
        return _apply("reshape", self, shape=shape[0] if len(shape) == 1 else shape)

    view = reshape

    def flatten(self):
        return _apply("reshape", self, shape=-1)

    ravel = flatten

    def transpose(self, *axes):
        return transpose(self, axes[0] if len(axes) == 1 else axes or None)

    def dot(self, other):
        return dot(self, other)

    def clone(self):
        return _apply("clone", self)

    copy = clone

    def clip(self, lo=None, hi=None):
        return clip(self, lo, hi)

    def clamp(self, min=None, max=None):
        return clip(self, min, max)

    pow = _method("pow")
    exp, log, sqrt, abs = _method("exp"), _method("log"), _method("sqrt"), _method("abs")
    sin, cos, tan, tanh = _method("sin"), _method("cos"), _method("tan"), _method("tanh")

    def argmax(self, axis=None):
        return self._value.argmax(axis)

    def argmin(self, axis=None):
        return self._value.argmin(axis)

    # ---- NumPy protocols ----

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            handler = _UFUNCS.get(ufunc)
            if handler is not None:
                return handler(*inputs)
            if ufunc in _ZERO_GRADIENT_UFUNCS:
                return ufunc(*_plain(inputs))
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        return getattr(ufunc, method)(*_plain(inputs, name), **_plain(kwargs, name))

    def __array_function__(self, func, types, args, kwargs):
        handler = _FUNCTIONS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        name = None if func in _ZERO_GRADIENT_FUNCTIONS else f"{func.__module__}.{func.__name__}"
        return func(*_plain(args, name), **_plain(kwargs, name))


# ---- functions on tensors (what NumPy functions called on tensors dispatch to) ----


def tensor(data, requires_grad=False):
    """A new tensor holding a float64 copy of data (nested lists, arrays, numbers)."""
    return Tensor(data, requires_grad=requires_grad)


def as_tensor(data):
    """data as a tensor; a float64 array is wrapped without a copy (writes go to it)."""
    return data if isinstance(data, Tensor) else _new(np.asarray(data, dtype=np.float64))


def matmul(a, b):
    if max(np.ndim(_operand(a)), np.ndim(_operand(b))) > 2:
        raise NotImplementedError(
            "srcad.tape supports @, np.matmul and np.dot on 1-D and 2-D arrays only"
        )
    return _apply("matmul", a, b)


def dot(a, b):
    if np.ndim(_operand(a)) == 0 or np.ndim(_operand(b)) == 0:
        return _apply("mul", a, b)
    return matmul(a, b)


def transpose(x, axes=None):
    return _apply("transpose", x, axes=None if axes is None else tuple(axes))


def where(condition, x, y):
    return _apply("where", x, y, cond=np.asarray(_operand(condition), dtype=bool))


def clip(a, a_min=None, a_max=None, **bounds):
    """np.clip(a, a_min, a_max), also spelled with NumPy 2's min= and max= keywords."""
    lo, hi = bounds.pop("min", a_min), bounds.pop("max", a_max)
    if bounds:
        raise TypeError(f"srcad.tape: np.clip with {sorted(bounds)} is not supported")
    return _apply("clip", a, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.pop("newshape", shape)  # NumPy < 2.1 spelled it newshape
    if order != "C" or kwargs.get("copy") is False:
        raise NotImplementedError("srcad.tape supports np.reshape in C order only")
    return _apply("reshape", a, shape=shape)


def ravel(a, order="C"):
    return reshape(a, -1, order)


def erf(x):
    """math.erf on a tensor (run.py gives it to user code that calls math.erf)."""
    return _apply("erf", x)


def stack(tensors, axis=0):
    return _apply("stack", *tensors, axis=axis)


def concatenate(tensors, axis=0):
    return _apply("concatenate", *tensors, axis=axis)


def broadcast_to(x, shape):
    return _apply("broadcast_to", x, shape=shape)


def outer(a, b):
    return _apply("reshape", a, shape=(-1, 1)) * _apply("reshape", b, shape=(1, -1))


def norm(x, ord=None, axis=None, keepdims=False):
    if ord is not None:
        raise TypeError(f"srcad.tape has no derivative for numpy.linalg.norm with ord={ord!r}")
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def var(a, axis=None, ddof=0, keepdims=False):
    squares = np.mean((a - np.mean(a, axis=axis, keepdims=True)) ** 2, axis=axis, keepdims=keepdims)
    count = np.size(_operand(a)) / np.size(_operand(squares))
    return squares * (count / (count - ddof))


def std(a, axis=None, ddof=0, keepdims=False):
    return np.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def hstack(tensors):
    parts = [x if np.ndim(_operand(x)) else _apply("reshape", x, shape=(1,)) for x in tensors]
    return concatenate(parts, axis=0 if all(np.ndim(_operand(x)) == 1 for x in parts) else 1)


def vstack(tensors):
    rows = [_apply("reshape", x, shape=(1, -1)) if np.ndim(_operand(x)) < 2 else x for x in tensors]
    return concatenate(rows, axis=0)


def cross(a, b):
    if np.shape(_operand(a)) != (3,) or np.shape(_operand(b)) != (3,):
        raise NotImplementedError("srcad.tape supports np.cross of two 3-vectors only")
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _like(np_func):
    """np.zeros_like and friends: a constant tensor when the result is a float array."""

    def like(a, *args, **kwargs):
        result = np_func(_plain(a), *args, **kwargs)
        return as_tensor(result) if result.dtype.kind == "f" else result

    return like


def full_like(a, fill_value, dtype=None):
    if isinstance(fill_value, Tensor):
        return broadcast_to(fill_value, np.shape(_operand(a)))
    return _like(np.full_like)(a, fill_value, dtype=dtype)


_UFUNCS = {
    op.forward: functools.partial(_apply, name)
    for name, op in OPS.items()
    if isinstance(op.forward, np.ufunc)
}
_UFUNCS.update(
    {
        np.fabs: functools.partial(_apply, "abs"),
        np.positive: functools.partial(_apply, "clone"),
        np.matmul: matmul,
    }
)
_ZERO_GRADIENT_UFUNCS = {
    *(np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal),
    *(np.logical_and, np.logical_or, np.logical_not, np.logical_xor),
    *(np.isnan, np.isinf, np.isfinite, np.signbit, np.sign, np.floor, np.ceil, np.trunc, np.rint),
}
_FUNCTIONS = {
    np.sum: lambda a, axis=None, keepdims=False: _apply("sum", a, axis=axis, keepdims=keepdims),
    np.mean: lambda a, axis=None, keepdims=False: _apply("mean", a, axis=axis, keepdims=keepdims),
    np.max: lambda a, axis=None, keepdims=False: _apply("max", a, axis=axis, keepdims=keepdims),
    np.min: lambda a, axis=None, keepdims=False: _apply("min", a, axis=axis, keepdims=keepdims),
    np.prod: lambda a, axis=None, keepdims=False: _apply("prod", a, axis=axis, keepdims=keepdims),
    np.cumsum: lambda a, axis=None: _apply("cumsum", a, axis=axis),
    np.reshape: reshape,
    np.ravel: ravel,
    np.copy: lambda a, order="K", subok=False: _apply("clone", a),
    np.dot: dot,
    np.transpose: transpose,
    np.where: where,
    np.clip: clip,
    np.stack: stack,
    np.concatenate: concatenate,
    np.broadcast_to: broadcast_to,
    np.outer: outer,
    np.var: var,
    np.std: std,
    np.hstack: hstack,
    np.vstack: vstack,
    np.cross: cross,
    np.linalg.norm: norm,
    np.linalg.inv: functools.partial(_apply, "inv"),
    np.linalg.det: functools.partial(_apply, "det"),
    np.linalg.solve: functools.partial(_apply, "solve"),
    np.zeros_like: _like(np.zeros_like),
    np.ones_like: _like(np.ones_like),
    np.empty_like: _like(np.empty_like),
    np.full_like: full_like,
}
_FUNCTIONS.update({np.amax: _FUNCTIONS[np.max], np.amin: _FUNCTIONS[np.min]})
_ZERO_GRADIENT_FUNCTIONS = {
    *(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero),
    *(np.round, np.isclose, np.allclose, np.array_equal, np.count_nonzero),
}
