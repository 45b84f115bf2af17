"""TensorMethods: the operators and methods of Tensor, in PyTorch's spelling and NumPy's.

Each method records one op of ops.OPS through `self._apply(name, *inputs, **params)`, with the
operands in the order PyTorch records them (2 * x is mul(x, 2)), so grad_fn and next_functions
read as PyTorch's. Where the two libraries disagree on a method's meaning, PyTorch's wins, except
inside a NumPy function run on the tape by run.py (mode.in_user_code()), where NumPy's does:
x.std() divides by n - 1 in torch and by n in NumPy; x.max(0) is (values, indices) in torch.
"""

import collections
import itertools
import numbers

import numpy as np

from srcad.tape import dtypes, mode

def _return_type(name):
    """(values, indices), printed as torch prints its torch.return_types."""
    base = collections.namedtuple(name, ["values", "indices"])
    return type(name, (base,), {"__slots__": (), "__repr__": lambda self: (
        f"srcad.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})")})


RETURN_TYPES = {name: _return_type(name) for name in ("max", "min", "sort", "topk")}
_NOT_GIVEN = object()


def _op(name):
    return lambda self, *others, **params: self._apply(name, self, *others, **params)


def _in_place(name):
    return lambda self, other: self._inplace(name, other)


def _unary_in_place(name):
    return lambda self: self._inplace(name)


def _augmented(name):
    """x += y and friends. In user code a 0-d tensor stands for a NumPy scalar, which `+=`
    rebinds rather than changes, so there the result is a new tensor; unless it is a 0-d array
    the function was given, which `+=` changes in place (every name for it sees the change)."""

    def augmented(self, other):
        if self.ndim == 0 and mode.in_user_code() and not self._array:
            return self._apply(name, self, other)
        return self._inplace(name, other)

    return augmented


def _unrecorded(function):
    """A method whose result carries no gradient (logic, floor, x // y): a new tensor."""

    def unrecorded(self, *others):
        out = self._wrap(np.asarray(function(self._value, *map(_value, others))))
        out._python = out.ndim == 0 and _all_python(self, *others)
        return out

    return unrecorded


def _step(name):
    """floor, ceil, round, trunc, sign: in torch recorded with a zero derivative; in NumPy user
    code an integer-valued result that carries no gradient (so int(np.floor(x)) works)."""
    recorded, plain = _op(name), _unrecorded(getattr(np, name))

    def step(self, *args, **kwargs):
        if mode.in_user_code() or not self.requires_grad:
            return plain(self, *args, *kwargs.values())  # (round's decimals)
        if args:  # (x.round(2): torch's decimals)
            kwargs["decimals"] = args[0]
        return recorded(self, **kwargs)

    return step


def _comparison(function):
    """A comparison: a bool tensor, or in user code, of numbers standing for Python's, a bool
    (so that True + True == 2 and ~True == -2, as in Python)."""

    def compare(self, other):
        if _all_python(self, other):
            return bool(function(self._value, _value(other)))
        return self._wrap(np.asarray(function(self._value, _value(other))))

    return compare


def _all_python(*operands):
    return all(
        x._python if isinstance(x, TensorMethods) else type(x) in (float, int, bool)
        for x in operands
    )


def _to(dtype):
    return lambda self: self.to(dtype)


def _value(x):
    return x._value if hasattr(x, "_value") else x


def _same_dtype(target, dtype):
    """view(target) keeps the dtype: no target, an ndarray type, or the same dtype."""
    if target is None or (isinstance(target, type) and issubclass(target, np.ndarray)):
        return True
    try:
        return dtypes.as_numpy(target) == dtype
    except (TypeError, KeyError, ValueError):
        return False


def _is_number(x):
    return isinstance(x, numbers.Number)


def _dims(dims):
    """x.reshape(2, 3) and x.reshape((2, 3)) alike."""
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims


def _axis(dim, axis, ndim):
    if axis is None and ndim == 0 and dim is not None and not mode.in_user_code() and \
            all(d in (0, -1) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))):
        return None  # (torch takes dim 0 of a 0-d tensor as its one element; NumPy refuses)
    axis = dim if axis is None else axis  # torch spells it dim
    return tuple(axis) if isinstance(axis, list) else axis


def _ddof(correction, unbiased, ddof):
    if ddof is not None:
        return ddof
    if correction is not None:
        return correction
    if unbiased is not None:
        return int(unbiased)
    return 0 if mode.in_user_code() else 1


class TensorMethods:
    __slots__ = ()

    # ---- operators (2 * x records mul(x, 2), as torch; a - b of arrays keeps their order) ----

    __add__ = __radd__ = _op("add")
    __sub__ = _op("sub")

    def add(self, other, *, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, *, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    subtract = sub
    __mul__ = __rmul__ = mul = multiply = _op("mul")
    __truediv__ = div = divide = _op("div")
    __mod__ = _op("mod")
    __neg__ = neg = negative = _op("neg")
    __pos__ = _op("clone")
    __abs__ = abs = absolute = _op("abs")
    __matmul__ = matmul = dot = mm = mv = _op("matmul")

    def __rsub__(self, other):
        if _is_number(other):
            return self._apply("rsub", self, other=other)
        return self._apply("sub", other, self)

    def __rtruediv__(self, other):
        if _is_number(other):
            return self.reciprocal() * other
        return self._apply("div", other, self)

    def __pow__(self, exponent):
        if _is_number(exponent):
            return self._apply("pow", self, exponent=exponent)
        return self._apply("pow_tensors", self, exponent)

    pow = __pow__

    def __rpow__(self, base):
        if _is_number(base):
            return self._apply("rpow", self, base=base)
        return self._apply("pow_tensors", base, self)

    def __rmod__(self, other):
        return self._apply("mod", other, self)

    def __rmatmul__(self, other):
        return self._apply("matmul", other, self)

    __iadd__, __isub__ = _augmented("add"), _augmented("sub")
    __imul__, __itruediv__ = _augmented("mul"), _augmented("div")
    __imod__ = _augmented("mod")

    # x // y is piecewise constant: no gradient
    __floordiv__ = floor_divide = _unrecorded(np.floor_divide)
    __rfloordiv__ = _unrecorded(lambda x, other: np.floor_divide(other, x))

    def __ifloordiv__(self, other):
        if self.ndim == 0 and mode.in_user_code() and not self._array:
            return self // other
        return self._inplace("index_put", self // other, index=Ellipsis)

    def __divmod__(self, other):
        return self // other, self % other

    def __rdivmod__(self, other):
        return other // self, other % self

    # ---- comparisons and logic: bool tensors, not recorded ----

    __lt__ = lt = less = _comparison(np.less)
    __le__ = le = less_equal = _comparison(np.less_equal)
    __gt__ = gt = greater = _comparison(np.greater)
    __ge__ = ge = greater_equal = _comparison(np.greater_equal)
    __eq__ = eq = _comparison(np.equal)
    __ne__ = ne = _comparison(np.not_equal)
    __and__ = __rand__ = logical_and = _unrecorded(np.logical_and)
    __or__ = __ror__ = logical_or = _unrecorded(np.logical_or)
    __xor__ = __rxor__ = logical_xor = _unrecorded(np.logical_xor)
    __invert__ = logical_not = _unrecorded(np.logical_not)
    sign, floor, ceil = _step("sign"), _step("floor"), _step("ceil")
    round, trunc, fix = _step("round"), _step("trunc"), _step("trunc")
    frac = _op("frac")
    isnan, isinf, isfinite = map(_unrecorded, (np.isnan, np.isinf, np.isfinite))

    def equal(self, other):
        return bool(np.array_equal(self._value, _value(other)))

    # ---- in-place operations ----

    mul_, div_ = _in_place("mul"), _in_place("div")

    def add_(self, other, *, alpha=1):
        return self._inplace("add", other * alpha if alpha != 1 else other)

    def sub_(self, other, *, alpha=1):
        return self._inplace("sub", other * alpha if alpha != 1 else other)

    def masked_fill_(self, mask, value):
        return self._inplace("where", value, cond=~np.asarray(_value(mask), dtype=bool))
    exp_, log_, sqrt_, abs_ = _unary_in_place("exp"), _unary_in_place("log"), \
        _unary_in_place("sqrt"), _unary_in_place("abs")
    sin_, cos_, tanh_, neg_ = _unary_in_place("sin"), _unary_in_place("cos"), \
        _unary_in_place("tanh"), _unary_in_place("neg")
    sigmoid_, relu_ = _unary_in_place("sigmoid"), _unary_in_place("relu")
    square_, reciprocal_ = _unary_in_place("square"), _unary_in_place("reciprocal")
    sign_ = _unary_in_place("sign")

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return self.add_(value * tensor1 * tensor2)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return self.add_(value * tensor1 / tensor2)

    def lerp_(self, end, weight):
        return self.add_(weight * (end - self))

    def clamp_min_(self, min):
        return self.clamp_(min=min)

    def clamp_max_(self, max):
        return self.clamp_(max=max)

    def pow_(self, exponent):
        return self._inplace("pow", exponent=exponent)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp", lo=min, hi=max)

    clip_ = clamp_

    def copy_(self, src):
        """src's values (broadcast to this tensor's shape) written into it; src gets the
        gradient, as in torch."""
        return self._inplace("index_put", src, index=Ellipsis)

    def uniform_(self, a=0.0, b=1.0):
        from srcad.tape import factories
        return self.copy_(factories.rand(*self.shape) * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0):
        from srcad.tape import factories
        return self.copy_(factories.randn(*self.shape) * std + mean)

    def zero_(self):
        return self.fill_(0)  # (not times 0: that leaves -0. where the entry was negative)

    def fill_(self, value):
        return self._inplace("where", value, cond=np.zeros(self.shape, dtype=bool))

    def fill(self, value):
        """NumPy's: fills in place and returns None."""
        self.fill_(value)

    # ---- elementary functions ----

    exp, log, sqrt, square = _op("exp"), _op("log"), _op("sqrt"), _op("square")
    log1p, expm1, log2, log10 = _op("log1p"), _op("expm1"), _op("log2"), _op("log10")
    sin, cos, tan, tanh = _op("sin"), _op("cos"), _op("tan"), _op("tanh")
    sinh, cosh, erf, reciprocal = _op("sinh"), _op("cosh"), _op("erf"), _op("reciprocal")
    arcsin, arccos, arctan = asin, acos, atan = _op("arcsin"), _op("arccos"), _op("arctan")
    sigmoid, relu = _op("sigmoid"), _op("relu")
    arctan2 = atan2 = _op("arctan2")

    def maximum(self, other):
        return self._apply("maximum", self, other)

    def minimum(self, other):
        return self._apply("minimum", self, other)

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def clamp(self, min=None, max=None):
        if isinstance(min, TensorMethods) or isinstance(max, TensorMethods):
            lo, hi = -np.inf if min is None else min, np.inf if max is None else max
            return self._apply("clip", self, lo, hi)
        return self._apply("clamp", self, lo=min, hi=max)

    clip = clamp

    def softmax(self, dim):
        if self.ndim == 0:  # (torch's: a 0-d tensor's softmax is 1)
            return self * 0.0 + 1.0
        e = (self - self.detach().max(dim, keepdim=True).values).exp()
        return e / e.sum(dim, keepdim=True)

    def log_softmax(self, dim):
        if self.ndim == 0:
            return self * 0.0
        shifted = self - self.detach().max(dim, keepdim=True).values
        return shifted - shifted.exp().sum(dim, keepdim=True).log()

    # ---- reductions (dim and keepdim, or NumPy's axis and keepdims) ----

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=False, **numpy_options):
        return self._reduce("sum", _axis(dim, axis, self.ndim), keepdim or keepdims, numpy_options)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=False, **numpy_options):
        if self._value.dtype.kind not in "fc" and not mode.in_user_code() and not numpy_options:
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either "
                               "a floating point or complex dtype. Got: "
                               f"{dtypes.torch_name(self._value.dtype)}")
        return self._reduce("mean", _axis(dim, axis, self.ndim), keepdim or keepdims, numpy_options)

    def prod(self, dim=None, keepdim=False, *, axis=None, keepdims=False, **numpy_options):
        return self._reduce("prod", _axis(dim, axis, self.ndim), keepdim or keepdims, numpy_options)

    def logsumexp(self, dim, keepdim=False):
        from srcad.tape.factories import logsumexp
        return logsumexp(self, dim, keepdim)

    def flip(self, dims):
        """torch's flip: the entries reversed along dims (a copy)."""
        return np.flip(self, tuple(dims) if isinstance(dims, (list, tuple)) else dims).clone()

    def cumsum(self, dim=None, *, axis=None, **numpy_options):
        return np.cumsum(self, _axis(dim, axis, self.ndim), **numpy_options)

    def cumprod(self, dim=None, *, axis=None, **numpy_options):
        return np.cumprod(self, _axis(dim, axis, self.ndim), **numpy_options)

    def take(self, indices, axis=None, out=None, mode="raise"):
        """NumPy's take (torch's take(index) is np.take of the flattened tensor, the same)."""
        return np.take(self, indices, axis=axis, out=out, mode=mode)

    def _reduce(self, name, axis, keepdims, numpy_options):
        """NumPy's dtype=, out=, initial= and where= are handled by np.sum and the like."""
        if numpy_options:
            return getattr(np, name)(self, axis=axis, keepdims=keepdims, **numpy_options)
        return self._apply(name, self, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False, **numpy_options):
        return self._extreme("max", np.argmax, dim, keepdim, axis, keepdims, numpy_options)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False, **numpy_options):
        return self._extreme("min", np.argmin, dim, keepdim, axis, keepdims, numpy_options)

    def _extreme(self, name, arg, dim, keepdim, axis, keepdims, numpy_options):
        """x.max(): the largest element; x.max(y): elementwise; x.max(dim): (values, indices)
        as torch's; x.max(axis=0) (and x.max(0) in NumPy user code): NumPy's values."""
        if isinstance(dim, TensorMethods):
            return self._apply("maximum" if name == "max" else "minimum", self, dim)
        if dim is None or mode.in_user_code():
            return self._reduce(name, _axis(dim, axis, self.ndim), keepdim or keepdims,
                                numpy_options)
        if self.ndim == 0 and dim in (0, -1):  # (torch: its one element, at index 0)
            return self.reshape(1)._extreme(name, arg, 0, False, None, False, numpy_options)
        dim = dim + self.ndim if dim < 0 else dim
        indices = arg(self._value, axis=dim, keepdims=True)
        values = self._apply("take_at", self, indices=indices, axis=dim, keepdims=keepdim,
                             label="MaxBackward0" if name == "max" else "MinBackward0")
        if not keepdim:
            indices = np.squeeze(indices, dim)
        return RETURN_TYPES[name](values, self._wrap(np.asarray(indices)))

    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return self._wrap(np.asarray(np.argmax(self._value, _axis(dim, axis, self.ndim),
                                               keepdims=keepdim)))

    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return self._wrap(np.asarray(np.argmin(self._value, _axis(dim, axis, self.ndim),
                                               keepdims=keepdim)))

    def var(self, dim=None, *, correction=None, unbiased=None, keepdim=False, **numpy_style):
        return self._spread("var", dim, correction, unbiased, keepdim, **numpy_style)

    def std(self, dim=None, *, correction=None, unbiased=None, keepdim=False, **numpy_style):
        return self._spread("std", dim, correction, unbiased, keepdim, **numpy_style)

    def _spread(self, name, dim, correction, unbiased, keepdim, axis=None, ddof=None, keepdims=0):
        if isinstance(dim, bool):  # x.std(False): torch's positional unbiased
            dim, unbiased = None, dim
        if self._value.dtype.kind not in "fc" and not mode.in_user_code():
            raise RuntimeError(f"{name}(): std and var only support floating point and complex "
                               f"dtypes, not {dtypes.torch_name(self._value.dtype)}")
        keepdims = keepdim or keepdims
        ddof = _ddof(correction, unbiased, ddof)
        return self._apply(name, self, axis=_axis(dim, axis, self.ndim), ddof=ddof,
                           keepdims=keepdims)

    def norm(self, p=2, dim=None, keepdim=False):
        axis = _axis(dim, None, self.ndim)
        if p in (2, "fro"):
            return self._apply("norm", self, axis=axis, keepdims=keepdim)
        if p == np.inf:
            return self.abs().amax(axis, keepdim)
        if p == -np.inf:
            return self.abs().amin(axis, keepdim)
        if p == 1:
            return self.abs().sum(axis, keepdim)
        if isinstance(p, numbers.Real) and p > 0:
            return self._apply("pnorm", self, p=p, axis=axis, keepdims=keepdim)
        raise ValueError(f"srcad.tape: norm with p={p!r}: p is a positive number, inf or -inf")

    def amax(self, dim=None, keepdim=False):
        """The largest entries along dim; the gradient is shared by ties (torch's amax)."""
        return self._reduce("max", _axis(dim, None, self.ndim), keepdim, {})

    def amin(self, dim=None, keepdim=False):
        return self._reduce("min", _axis(dim, None, self.ndim), keepdim, {})

    # ---- shapes ----

    def reshape(self, *shape, order="C"):
        return np.reshape(self, _dims(shape), order=order)

    def view(self, *shape, dtype=None, type=None):
        """torch's view(shape), a reshape that shares memory; in user code NumPy's view(),
        the same array as a new view (view(dtype) of another dtype, which reinterprets the
        bytes, raises)."""
        if not mode.in_user_code():
            view = self._apply("view", self, shape=_dims(shape))
            if view._value.size and not np.may_share_memory(view._value, self._value):
                raise RuntimeError("view size is not compatible with input tensor's size and "
                                   "stride (at least one dimension spans across two contiguous "
                                   "subspaces). Use .reshape(...) instead.")
            return view
        target = shape[0] if len(shape) == 1 and dtype is None else dtype
        if len(shape) > 1 or not _same_dtype(target, self._value.dtype) or \
                not _same_dtype(type, self._value.dtype):
            what = ", ".join(map(repr, shape)) or f"dtype={dtype!r}, type={type!r}"
            raise TypeError(
                mode.located(
                    f"srcad.tape: ndarray.view({what}) is not supported on the tape (it "
                    "reinterprets the array's bytes); NumPy's view() and view(its own dtype) are"
                )
            )
        return self._apply("view", self, shape=tuple(self.shape))

    def sort(self, dim=-1, descending=False, *, axis=None, kind=None, order=None, stable=None):
        """NumPy's sort (in user code) sorts in place and returns None; torch's returns
        (values, indices)."""
        axis = dim if axis is None else axis
        if order is not None:
            raise TypeError(mode.located("srcad.tape: sort with order= is not supported"))
        if mode.in_user_code():
            self[...] = np.sort(self, axis)
            return None
        axis = axis + self.ndim if axis < 0 else axis
        indices = np.argsort(-self._value if descending else self._value, axis, kind="stable")
        values = self._apply("take_at", self, indices=indices, axis=axis, keepdims=True,
                             label="SortBackward0")
        return RETURN_TYPES["sort"](values, self._wrap(indices))

    def argsort(self, dim=-1, descending=False, *, axis=_NOT_GIVEN, kind=None, order=None,
                stable=None):
        axis = dim if axis is _NOT_GIVEN else axis  # (NumPy's axis=None: flattened)
        value = -self._value if descending else self._value
        return self._wrap(np.argsort(value, axis, kind=kind, stable=stable))

    def all(self, *args, **kwargs):
        return self._wrap(np.asarray(np.all(self._value, *args, **kwargs)))

    def any(self, *args, **kwargs):
        return self._wrap(np.asarray(np.any(self._value, *args, **kwargs)))

    def nonzero(self):
        return np.nonzero(self._value)

    def flatten(self, start_dim=0, end_dim=-1, *, order="C"):
        """torch's flatten(start_dim, end_dim), a view where it can be; NumPy's flatten(order)
        in user code (start_dim is then the order, as in x.flatten("F")), always a copy."""
        if mode.in_user_code():
            return np.reshape(self, -1, order=start_dim if start_dim != 0 else order).copy()
        shape = self.shape
        start, end = start_dim % max(len(shape), 1), end_dim % max(len(shape), 1)
        merged = int(np.prod(shape[start : end + 1]))
        return self._apply("view", self, shape=(*shape[:start], merged, *shape[end + 1 :]))

    def ravel(self, order="C"):
        return np.ravel(self, order=order)

    def unsqueeze(self, dim):
        return self._apply("unsqueeze", self, axis=dim)

    def squeeze(self, dim=None, *, axis=None):
        """torch's squeeze(dim) leaves a dim whose size is not 1; NumPy's (in user code)
        raises. Both return a view."""
        if mode.in_user_code() or axis is not None:
            return np.squeeze(self, dim if axis is None else axis)
        return self._apply("squeeze", self, axis=dim)

    def swapaxes(self, axis0, axis1):
        return np.swapaxes(self, axis0, axis1)

    def diagonal(self, offset=0, dim1=0, dim2=1, *, axis1=None, axis2=None):
        """A read-only view, as NumPy's (torch's dim1/dim2 are NumPy's axis1/axis2)."""
        return np.diagonal(self, offset, dim1 if axis1 is None else axis1,
                           dim2 if axis2 is None else axis2)

    mT = property(lambda self: np.matrix_transpose(self))

    @property
    def real(self):
        """A real array's real part is the array itself, as in NumPy."""
        self._refuse_complex("real")
        return self

    @property
    def imag(self):
        """A real array's imaginary part: read-only zeros, as in NumPy."""
        self._refuse_complex("imag")
        zeros = np.zeros(self.shape, dtype=self._value.dtype)
        zeros.flags.writeable = False
        return self._wrap(zeros)

    def conj(self):
        self._refuse_complex("conj")
        return self

    conjugate = conj

    def _refuse_complex(self, name):
        if self._value.dtype.kind == "c":
            raise NotImplementedError(
                mode.located(f"srcad.tape: .{name} of a complex tensor is not supported")
            )

    def t(self):
        return self._apply("t", self)

    def transpose(self, *dims):
        """torch's x.transpose(dim0, dim1) swaps two axes; NumPy's x.transpose() reverses them
        and x.transpose(axes) permutes them (for 2-D arrays the two agree)."""
        if len(dims) == 2 and all(isinstance(d, int) for d in dims):
            return self._apply("transpose", self, dim0=dims[0], dim1=dims[1])
        return self.permute(*dims) if dims else self._apply("permute", self, axes=None)

    def permute(self, *dims):
        return self._apply("permute", self, axes=_dims(dims))

    T = property(lambda self: self._apply("permute", self, axes=None))

    def expand(self, *sizes):
        sizes = _dims(sizes)
        own = (1,) * (len(sizes) - self.ndim) + tuple(self.shape)
        shape = tuple(n if s == -1 else s for s, n in zip(sizes, own, strict=True))
        return self._apply("expand", self, shape=shape)

    def expand_as(self, other):
        return self._apply("expand", self, shape=tuple(other.shape))

    def contiguous(self):
        """torch's: the tensor itself if its memory is in row-major order, else a copy that is
        (a transpose's contiguous() shares nothing with it)."""
        if self._value.flags.c_contiguous:
            return self
        return self._apply("convert", self, convert=np.ascontiguousarray,
                           source=self._value.dtype)

    def clone(self):
        return self._apply("clone", self)

    copy = clone

    # ---- dtypes ----

    def to(self, *args, dtype=None, **kwargs):
        """x.to(srcad.float32), x.to("cpu"), x.to(other): a copy in that dtype, or x itself."""
        for arg in (*args, kwargs.get("device")):
            if isinstance(arg, TensorMethods):
                dtype = arg._value.dtype
            elif isinstance(arg, str) and arg.partition(":")[0] != "cpu":
                raise RuntimeError(f"srcad.tape runs on the CPU: there is no device {arg!r}")
            elif arg is not None and not isinstance(arg, str):
                dtype = arg
        if dtype is None or dtypes.as_numpy(dtype) == self._value.dtype:
            return self.clone() if kwargs.get("copy") else self
        dtype = dtypes.as_numpy(dtype)
        if dtype.kind not in "fc":  # integers and bools carry no gradient, as in torch
            return self._wrap(self._value.astype(dtype))
        return self._apply("to", self, dtype=dtype, source=self._value.dtype)

    float, double, half = _to(dtypes.float32), _to(dtypes.float64), _to(dtypes.float16)
    long, int, bool = _to(dtypes.int64), _to(dtypes.int32), _to(dtypes.bool_)

    def type_as(self, other):
        return self.to(other)

    def type(self, dtype=None):
        """x.type(): its type's name as torch gives it ('srcad.DoubleTensor'); x.type(dtype): x
        in that dtype."""
        if dtype is None:
            return f"srcad.{dtypes.torch_name(self._value.dtype)}Tensor"
        return self.to(dtype)

    def element_size(self):
        return self._value.itemsize

    def new_tensor(self, data, dtype=None, requires_grad=False):
        from srcad.tape.tensor import Tensor
        return Tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        return self.new_tensor(np.full(_dims((size,)), fill_value), dtype, requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return self.new_full(_dims(size), 0, dtype, requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return self.new_full(_dims(size), 1, dtype, requires_grad)

    new_empty = new_zeros

    def outer(self, vec2):
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    # torch's, written with NumPy's functions on tensors (ndarrays have no such methods)
    def tril(self, diagonal=0):
        return np.tril(self, diagonal)

    def triu(self, diagonal=0):
        return np.triu(self, diagonal)

    def diag(self, diagonal=0):
        return np.diag(self, diagonal)

    def roll(self, shifts, dims=None):
        if dims is None and isinstance(shifts, (tuple, list)) and len(shifts) > 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                               "dims:0")  # (torch's; np.roll would roll the flat array)
        return np.roll(self, shifts, dims)

    def take_along_dim(self, indices, dim=None):
        indices = np.asarray(_value(indices))
        if dim is None:
            return np.take_along_axis(self.reshape(-1), indices.reshape(-1), axis=0)
        return np.take_along_axis(self, indices, axis=dim)

    def kron(self, other):
        return np.kron(self, other)

    def cross(self, other, dim=None):  # (no dim: the first of size 3, as torch.cross)
        dim = dim if dim is not None else list(np.broadcast_shapes(
            self.shape, np.shape(_value(other)))).index(3)
        return np.moveaxis(np.cross(np.moveaxis(self, dim, -1), np.moveaxis(other, dim, -1)),
                           -1, dim)

    def hypot(self, other):
        return np.hypot(self, other)

    def fmod(self, other):
        return np.fmod(self, other)

    def sinc(self):
        return np.sinc(self)

    def logit(self, eps=None):
        x = self if eps is None else self.clamp(eps, 1.0 - eps)
        return (x / (1.0 - x)).log()

    def lerp(self, end, weight):
        return self + weight * (end - self)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return self + value * tensor1 * tensor2

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return self + value * tensor1 / tensor2

    def dist(self, other, p=2):
        return (self - other).norm(p)

    ger = outer

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return self._wrap(np.isclose(self._value, _value(other), rtol, atol, equal_nan))

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return bool(np.allclose(self._value, _value(other), rtol, atol, equal_nan))

    def view_as(self, other):
        return self.view(*other.shape)

    def cpu(self):
        return self

    def nelement(self):
        return self._value.size

    def unbind(self, dim=0):
        at = (slice(None),) * (dim % self.ndim)
        return tuple(self[(*at, k)] for k in range(self.shape[dim]))

    def narrow(self, dim, start, length):
        at = (slice(None),) * (dim % self.ndim)
        return self[(*at, slice(start, start + length))]

    def index_select(self, dim, index):
        at = (slice(None),) * (dim % self.ndim)
        return self[(*at, np.asarray(_value(index)))]

    def gather(self, dim, index):
        """out[i][j] = self[index[i][j]][j] along dim 0 (and so on): torch's gather."""
        dim = dim % self.ndim
        index = np.asarray(_value(index))
        grids = list(np.indices(index.shape, sparse=True))
        grids[dim] = index
        return self[tuple(grids)]

    def rsqrt(self):
        return self.sqrt().reciprocal()

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        if dtype is not None or out is not None:
            return np.trace(self, offset, axis1, axis2, dtype, out)
        return self.diagonal(offset, axis1, axis2).sum()

    def masked_fill(self, mask, value):
        return self._apply("where", value, self, cond=np.asarray(_value(mask), dtype=bool))

    def repeat(self, *sizes, axis=None):
        """torch's repeat: the tensor tiled `sizes` times along each dimension (NumPy's tile);
        in a NumPy function run on the tape (or given `axis`), NumPy's: each element repeated."""
        if mode.in_user_code() or axis is not None:
            return np.repeat(self, *sizes, **({} if axis is None else {"axis": axis}))
        from srcad.tape.factories import cat
        sizes = _dims(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                               "number of dimensions of tensor")
        out = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        for dim, times in enumerate(sizes):
            if times != 1:
                out = cat([out] * times, dim=dim)
        return out.clone() if all(times == 1 for times in sizes) else out  # (new memory)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along dim: of split_size each (the last smaller), or of the sizes listed."""
        n = self.shape[dim]
        if isinstance(split_size_or_sections, numbers.Integral):
            sizes = [split_size_or_sections] * (n // split_size_or_sections)
            sizes += [n % split_size_or_sections] if n % split_size_or_sections else []
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                                   f"(input tensor's size at dimension {dim}), but got "
                                   f"split_sizes={sizes}")
        starts = np.cumsum([0, *sizes])
        at = (slice(None),) * (dim % self.ndim)
        return tuple(self[(*at, slice(a, b))] for a, b in itertools.pairwise(starts))

    def chunk(self, chunks, dim=0):
        n = self.shape[dim]
        return self.split(max(-(-n // chunks), 1), dim)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        dim = dim + self.ndim if dim < 0 else dim
        order = np.argsort(-self._value if largest else self._value, axis=dim, kind="stable")
        indices = np.take(order, np.arange(k), axis=dim)
        values = self._apply("take_at", self, indices=indices, axis=dim, keepdims=True,
                             label="TopkBackward0")
        return RETURN_TYPES["topk"](values, self._wrap(indices))

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """NumPy's: a copy unless copy=False and the dtype is already dtype (a name, "f4",
        too: a string given to `to` is a device)."""
        converted = self.to(dtype=np.dtype(dtype) if isinstance(dtype, str) else dtype)
        return converted.clone() if converted is self and copy else converted
