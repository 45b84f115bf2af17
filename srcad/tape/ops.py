"""The tape's op table: one entry per differentiable operation.

An entry is a name, a forward function on NumPy values, the grad_fn name PyTorch prints for it,
and the vector-Jacobian product of each input, `vjp(g, ans, *inputs, **params)`: `g` is the
gradient of the result, `ans` the result, `inputs` the input values and `params` the
non-differentiable keyword arguments (axis, index, condition). The engine sums each returned
gradient back to its input's shape, so an entry states only the math; a vjp may return an
IndexedGrad for a gradient that is zero but at an index.

A vjp is written with NumPy functions and operators only, and so runs on two kinds of values:
NumPy arrays (a plain backward(), fast) and tensors (backward(create_graph=True): NumPy hands
the calls to Tensor.__array_function__, and the vjp's own operations are recorded, which gives
higher derivatives). Use only NumPy functions that srcad/tape/numpy_api.py handles.

  defvjp(name, forward, torch, *vjps)          the vjps may read input values and `ans`
  deflinear(name, forward, torch, *vjps)       the vjps read only `g`, params and shapes: the
                                               node saves no values (and, as in torch, survives
                                               a second backward)
  deflinear_many(name, forward, torch, vjp)    linear, any number of inputs: vjp returns all
  defview(name, forward, torch, vjp)           linear, and its result may be a view of its one
                                               input: it shares the input's memory wherever
                                               NumPy's result does (tensor.py keeps it current)

`torch` is the grad_fn name ("MulBackward0"), or a function of the input shapes and the params
for ops PyTorch names by how they are called (x.sum() is SumBackward0, x.sum(0) SumBackward1).

To add an op: one entry here and one row in tests/tape/test_ops.py.
"""

import functools
import math

import numpy as np


class Op:
    __slots__ = ("forward", "linear", "name", "torch", "view", "vjp_all", "vjps")

    def __init__(self, name, forward, vjps=(), vjp_all=None, linear=False, torch=None, view=False):
        """torch defaults to the name in CamelCase: custom_vjp's softplus is SoftplusBackward."""
        self.name, self.forward, self.vjps, self.vjp_all = name, forward, vjps, vjp_all
        self.linear, self.view = linear or view, view
        self.torch = torch or "".join(part.capitalize() for part in name.split("_")) + "Backward"

    def label(self, shapes, params):
        return self.torch if isinstance(self.torch, str) else self.torch(shapes, **params)


OPS = {}


def _register(op):
    if op.name in OPS:
        raise KeyError(f"tape op {op.name!r} is defined twice")
    OPS[op.name] = op


def defvjp(name, forward, torch, *vjps):
    _register(Op(name, forward, vjps, torch=torch))


def deflinear(name, forward, torch, *vjps):
    _register(Op(name, forward, vjps, linear=True, torch=torch))


def defvjp_all(name, forward, torch, vjp_all):
    _register(Op(name, forward, vjp_all=vjp_all, torch=torch))


def deflinear_many(name, forward, torch, vjp_all):
    _register(Op(name, forward, vjp_all=vjp_all, linear=True, torch=torch))


def defview(name, forward, torch, vjp):
    _register(Op(name, forward, (vjp,), view=True, torch=torch))


def is_basic_index(index):
    """True for an index made of ints, slices, None and Ellipsis (NumPy returns a view)."""
    if type(index) is int:  # the common x[i], first
        return True
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None
        or item is Ellipsis
        or isinstance(item, slice)
        or (isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)))
        for item in items
    )


class IndexedGrad:
    """The gradient of x[index]: zero except at index, where it is g. The engine adds it into
    an accumulated gradient at index only, so reading n elements one by one costs O(n), not
    O(n**2)."""

    __slots__ = ("g", "index", "shape")

    def __init__(self, g, shape, index):
        self.g, self.shape, self.index = g, shape, index

    def add_to(self, out):
        if is_basic_index(self.index):  # names each element once: plain += is enough
            out[self.index] += self.g
        else:
            np.add.at(out, self.index, self.g)
        return out

    def dense(self):
        return self.add_to(np.zeros(self.shape, dtype=np.result_type(self.g)))


# ---- PyTorch's names for ops it names by how they are called ----


def _by_axis(without, with_axis):
    return lambda shapes, axis=None, **params: without if axis is None else with_axis


def _matmul_label(shapes):
    ranks = tuple(len(shape) for shape in shapes)
    return {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (1, 2): "SqueezeBackward4"}.get(
        ranks, "MmBackward0"
    )


def _index_kind(index):
    """Select, Slice, Unsqueeze or Index: what PyTorch calls the last step of x[index]."""
    if not is_basic_index(index):
        return "Index"
    steps = [item for item in (index if isinstance(index, tuple) else (index,))]
    steps = [item for item in steps if item is not Ellipsis and item != slice(None)]
    if not steps:
        return "Slice"
    last = steps[-1]
    return "Unsqueeze" if last is None else "Slice" if isinstance(last, slice) else "Select"


# ---- helpers for the entries ----


def _unreduce(g, shape, axis, keepdims):
    """Broadcast the gradient of a reduction over `axis` back to the input's shape."""
    if axis is not None and not keepdims and shape:  # (NumPy lets a 0-d array's axis be 0)
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def _to_extremes(g, ans, x, axis, keepdims):
    """Gradient of max/min: shared equally by the elements that attain it (torch's amax)."""
    hits = x == _unreduce(ans, x.shape, axis, keepdims)
    return hits * _unreduce(g, x.shape, axis, keepdims) / hits.sum(axis=axis, keepdims=True)


def _take_at(x, indices, axis, keepdims, label):
    """The elements at `indices` along `axis` (torch's values of x.max(dim), of x.sort())."""
    taken = np.take_along_axis(x, indices, axis)
    return taken if keepdims else np.squeeze(taken, axis)


def _take_at_dx(g, ans, x, indices, axis, keepdims, label):
    """g at the positions taken (x.max(dim) gives the gradient to the index it returns)."""
    if not keepdims:
        g = np.expand_dims(g, axis)
    if isinstance(g, np.ndarray):  # (the positions along the axis are distinct)
        dx = np.zeros(x.shape, dtype=g.dtype)
        np.put_along_axis(dx, indices, g, axis)
        return dx
    shape = [1] * len(x.shape)
    shape[axis] = x.shape[axis]
    positions = np.arange(x.shape[axis]).reshape(shape)
    total = 0.0
    for k in range(indices.shape[axis]):  # (a tensor g: with operations the tape records)
        at_k = (slice(None),) * axis + (slice(k, k + 1),)
        total = total + (positions == indices[at_k]) * g[at_k]
    return total


def _call(function, x, **params):
    return function(x, **params)


def _outer(a, b):
    return np.reshape(a, (-1, 1)) * np.reshape(b, (1, -1))


def _log_base(x):
    return np.log(np.where(x == 0, 1.0, x))  # d(0**y)/dy is 0, not nan


def _others_product(x, axis):
    """Each element's product of the other elements along axis, exact where x has zeros
    (where ans / x is not): from prefix and suffix products on arrays; on tensors as the
    product of copies of x with one element set to 1, which the tape can differentiate."""
    if x.size == 0:
        return np.zeros(x.shape)
    if axis is None or x.ndim == 0:
        return np.reshape(_others_product(np.reshape(x, -1), 0), x.shape)
    axes = tuple(np.atleast_1d(axis) % x.ndim)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    moved = np.transpose(x, kept + axes)
    flat = np.reshape(moved, moved.shape[: len(kept)] + (-1,))
    if isinstance(x, np.ndarray):
        ones = np.ones(flat.shape[:-1] + (1,))
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = left * right
    else:
        others = np.where(np.eye(flat.shape[-1], dtype=bool), 1.0, flat[..., None, :]).prod(-1)
    return np.transpose(np.reshape(others, moved.shape), np.argsort(kept + axes))


def _prod_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims) * _others_product(x, axis)


def _centered(x, axis):
    return x - np.mean(x, axis=axis, keepdims=True)


def _degrees_of_freedom(shape, axis, ddof):
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % len(shape)
    return max(math.prod(shape[i] for i in axes) - ddof, 0)  # (NumPy's: nan where none are left)


def _var(x, axis, ddof, keepdims):
    squares = np.sum(_centered(x, axis) ** 2, axis=axis, keepdims=keepdims)
    return squares / _degrees_of_freedom(x.shape, axis, ddof)


def _var_dx(g, ans, x, axis, ddof, keepdims):
    g = _unreduce(g, x.shape, axis, keepdims) / _degrees_of_freedom(x.shape, axis, ddof)
    return g * 2 * _centered(x, axis)


def _std_dx(g, ans, x, axis, ddof, keepdims):
    """0 where the std is 0 (a subgradient, torch's choice; the formula divides 0 by 0)."""
    return _var_dx(g / (2 * np.where(ans == 0, np.inf, ans)), ans, x, axis, ddof, keepdims)


def _norm(x, axis, keepdims):
    if axis is None or isinstance(axis, int):  # (NumPy's own value: a dot product for a vector)
        return np.linalg.norm(x, axis=axis, keepdims=keepdims)
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _norm_dx(g, ans, x, axis, keepdims):
    return _pnorm_dx(g, ans, x, 2.0, axis, keepdims)


def _pnorm(x, p, axis, keepdims):
    return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _pnorm_dx(g, ans, x, p, axis, keepdims):
    """g sign(x) (|x| / norm)^(p-1); 0 at x = 0, where for p < 1 the formula is inf times 0
    (torch's choice, a subgradient), and so for a slice of zeros. For p > 0, of the entries
    scaled by the largest: a norm of tiny or huge entries under- or overflows (NumPy's is 0 or
    inf where the derivative is not)."""
    size, norm = np.abs(x), ans
    if p > 0:
        top = np.max(size, axis=axis, keepdims=True)
        size = size / np.where(top == 0, 1.0, top)
        norm = _pnorm(size, p, axis, keepdims)
    scale = _unreduce(g / np.where(norm == 0, 1.0, norm) ** (p - 1), x.shape, axis, keepdims)
    return _where_true(size != 0, scale * np.sign(x) * np.where(size != 0, size, 1.0) ** (p - 1))


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))  # no overflow for large |x|


# gradients of maximum and minimum: a tie goes to the first argument, as in srcad.rules
def _where_true(mask, g):
    """g where mask holds, else 0, also where g is inf or nan (g * mask would give nan): the
    derivative of relu(x) at x < 0 is 0 even when what follows has an infinite one."""
    return np.where(mask, g, 0.0)


def _if_greater(g, ans, x, y):
    """maximum's share of g for x (minimum's for y): all where x > y, half at a tie (as in
    torch and JAX, so that maximum(x, c) + minimum(x, c) = x + c has derivative 1)."""
    return _where_true(x > y, g) + _where_true(x == y, 0.5 * g)


def _if_less(g, ans, x, y):
    return _where_true(x < y, g) + _where_true(x == y, 0.5 * g)


def _pow(x, exponent):
    return np.power(x, exponent)


def _pow_dx_scalar(g, ans, x, exponent):
    return g * exponent * x ** (exponent - 1) if exponent != 0 else g * 0.0


def _pow_dx(g, ans, x, y):
    # y x^(y-1), 0 at x = y = 0; not x ** where(y == 0, 1, y - 1), whose derivative along y
    # at y = 0 is x instead of 1/x (a wrong mixed second derivative, torch's too)
    return g * y * np.where((x == 0) & (y == 0), 1.0, x) ** (y - 1)


def _pow_dy(g, ans, x, y):
    return g * ans * _log_base(x)


def _rpow(x, base):
    return np.power(base, x)


def _rpow_dx(g, ans, x, base):
    return g * ans * (math.log(base) if base > 0 else 0.0 if base == 0 else math.nan)


def _rsub(x, other):
    return other - x


def _clip_dx(g, ans, x, lo, hi):
    return _where_true((lo <= x) & (x <= hi), g)


def _clip_dlo(g, ans, x, lo, hi):
    return _where_true((x < lo) & (lo <= hi), g)  # (hi wins where lo > hi, as in NumPy)


def _clip_dhi(g, ans, x, lo, hi):
    return _where_true(np.maximum(x, lo) > hi, g)


def _clamp(x, lo, hi):
    return np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def _clamp_dx(g, ans, x, lo, hi):
    return _clip_dx(g, ans, x, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def _where(x, y, cond):
    return np.where(cond, x, y)


def _where_dx(g, ans, x, y, cond):
    return np.where(cond, g, 0.0)


def _where_dy(g, ans, x, y, cond):
    return np.where(cond, 0.0, g)


def _div_dy(g, ans, x, y):
    return -g * ans / y


def _mod_dy(g, ans, x, y):
    return -g * np.floor(x / y)


def _over_hypot(x, ans):
    """x / hypot(x, y), and 0 where x is 0 (at the origin too, as srcad.rules has it)."""
    return np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, ans))


def _hypot_dx(g, ans, x, y):
    return g * _over_hypot(x, ans)


def _hypot_dy(g, ans, x, y):
    return g * _over_hypot(y, ans)


_TWO_BY_ROOT_PI = 2 / math.sqrt(math.pi)


def _arctan2_dy(g, ans, y, x):  # np.arctan2(y, x)
    return g * x / (x * x + y * y)


def _arctan2_dx(g, ans, y, x):
    return -g * y / (x * x + y * y)


def _logaddexp_dx(g, ans, x, y):
    return g * np.exp(x - ans)


def _logaddexp_dy(g, ans, x, y):
    return g * np.exp(y - ans)


def _sum_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims)


def _mean_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims) * (ans.size / x.size if x.size else 0.0)


def _flip(g, axis):
    return g[(slice(None),) * (axis % g.ndim) + (slice(None, None, -1),)]


def _cumsum_dx(g, ans, x, axis):
    return np.reshape(_flip(np.cumsum(_flip(g, axis or 0), axis), axis or 0), x.shape)


def _matmul(x, y):
    if max(np.ndim(x), np.ndim(y)) > 2:
        raise NotImplementedError("srcad.tape supports @, matmul and dot on 1-D and 2-D arrays")
    return np.matmul(x, y)


def _matmul_dx(g, ans, x, y):
    if y.ndim == 1:
        return _outer(g, y) if x.ndim == 2 else g * y
    return g @ y.T if x.ndim == 2 else y @ g


def _matmul_dy(g, ans, x, y):
    if x.ndim == 1:
        return _outer(x, g) if y.ndim == 2 else g * x
    return x.T @ g


def _mT(x):  # NumPy's name: the transpose of each matrix of a stack
    return np.swapaxes(x, -1, -2)


def _solve_da(g, ans, a, b):
    _check_stack(a, b)
    gb = np.linalg.solve(_mT(a), g)
    return -(_outer(gb, ans) if ans.ndim == 1 else gb @ _mT(ans))


def _solve_db(g, ans, a, b):
    _check_stack(a, b)
    return np.linalg.solve(_mT(a), g)


def _check_stack(a, b):
    if a.ndim > 2 and (b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2]):
        raise NotImplementedError("srcad.tape differentiates np.linalg.solve of a stack of "
                                  "matrices with a stack of right-hand sides of the same shape")


def _to(x, dtype, source):
    return x.astype(dtype)


def _to_dx(g, ans, x, dtype, source):
    return g.astype(source)


def _convert(x, convert, source):
    return convert(x)  # a copy, in the dtype and memory order np.array(x, ...) gives


def _convert_dx(g, ans, x, convert, source):
    return np.reshape(g, x.shape).astype(source)


def _permute_dx(g, ans, x, axes):
    return np.transpose(g, None if axes is None else np.argsort(np.mod(axes, g.ndim)))


def _swapaxes(x, dim0, dim1):
    return np.swapaxes(x, dim0, dim1)


def _swapaxes_dx(g, ans, x, dim0, dim1):
    return np.transpose(g, _swapped(g.ndim, dim0, dim1))


def _swapped(ndim, dim0, dim1):
    axes = list(range(ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return tuple(axes)


def _clone(x):
    """torch's clone: a copy in the same memory order, or row-major for an overlapping one
    (expand's, whose strides are 0)."""
    overlapping = any(step == 0 and n > 1 for step, n in zip(x.strides, x.shape, strict=True))
    return np.array(x, order="C" if overlapping else "K")


def _reshape(x, shape):
    return np.reshape(x, shape)


def _squeeze(x, axis):
    """torch's squeeze(dim) leaves a dim whose size is not 1 (numpy_api checks NumPy's)."""
    if axis is None or isinstance(axis, tuple):
        return np.squeeze(x, axis)
    return np.squeeze(x, axis) if x.shape[axis] == 1 else x


def _diagonal(x, offset, axis1, axis2):
    return np.diagonal(x, offset, axis1, axis2)  # a read-only view, as NumPy's


def _diagonal_dx(g, ans, x, offset, axis1, axis2):
    """g put back on the diagonal, zero elsewhere (with operations the tape handles, so that
    it also runs on tensors)."""
    axis1, axis2 = axis1 % x.ndim, axis2 % x.ndim
    rows, cols = x.shape[axis1], x.shape[axis2]
    along = rows if offset >= 0 else cols  # the diagonal's k-th element is in row k (or col k)
    padded = np.concatenate([g, np.zeros(g.shape[:-1] + (along - g.shape[-1],))], axis=-1)
    spread = padded[..., :, None] if offset >= 0 else padded[..., None, :]
    full = np.where(np.eye(rows, cols, offset, dtype=bool), spread, 0.0)
    return np.moveaxis(full, (-2, -1), (axis1, axis2))


def _as_input(g, ans, x, **params):
    return np.reshape(g, x.shape)


def _getitem(x, index):
    return x[index]


def _getitem_dx(g, ans, x, index):
    return IndexedGrad(g, x.shape, index)


def _scatter(g, shape, index):
    return IndexedGrad(g, shape, index).dense()


def _put(x, v, index):
    x[index] = v  # index_put is only used for y[i] = v: it writes into y's storage
    return x


def _put_dx(g, ans, x, v, index):
    written = np.zeros(x.shape, dtype=bool)
    written[index] = True
    return np.where(written, 0.0, g)


def _put_dv(g, ans, x, v, index):
    if is_basic_index(index):
        return g[index]
    return np.where(_kept_writes(x.shape, index), g[index], 0.0)


def _kept_writes(shape, index):
    """Which elements of v survive x[index] = v: NumPy keeps the last write to a repeated
    index, found by writing each element's number through the same index."""
    selected = np.empty(shape)[index].shape
    numbers = np.arange(math.prod(selected)).reshape(selected)
    owner = np.full(shape, -1)
    owner[index] = numbers
    return owner[index] == numbers


def _put_view(x, v, view, params):
    OPS[view].forward(x, **params)[...] = v  # x[index] = v, x.T[...] = v, ...: into x's storage
    return x


def _put_view_dx(g, ans, x, v, view, params):
    covered = np.zeros(x.shape, dtype=bool)
    OPS[view].forward(covered, **params)[...] = True
    return np.where(covered, 0.0, g)


def _put_view_dv(g, ans, x, v, view, params):
    return OPS[view].forward(g, **params)


def _along(axis, where):
    return (slice(None),) * axis + (where,)


def _stack(*xs, axis):
    return np.stack(xs, axis)


def _unstack(g, ans, *xs, axis):
    axis %= g.ndim
    return [g[_along(axis, i)] for i in range(len(xs))]


def _concatenate(*xs, axis):
    return np.concatenate(xs, axis)


def _split(g, ans, *xs, axis):
    axis %= g.ndim
    ends = np.cumsum([x.shape[axis] for x in xs])
    starts = ends - [x.shape[axis] for x in xs]
    return [g[_along(axis, slice(a, b))] for a, b in zip(starts, ends, strict=True)]


# ---- arithmetic ----

deflinear("add", np.add, "AddBackward0", lambda g, ans, x, y: g, lambda g, ans, x, y: g)
deflinear("sub", np.subtract, "SubBackward0", lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
deflinear("rsub", _rsub, "RsubBackward1", lambda g, ans, x, other: -g)  # number - tensor
deflinear("neg", np.negative, "NegBackward0", lambda g, ans, x: -g)
defvjp("mul", np.multiply, "MulBackward0", lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defvjp("div", np.true_divide, "DivBackward0", lambda g, ans, x, y: g / y, _div_dy)
defvjp("pow", _pow, "PowBackward0", _pow_dx_scalar)  # tensor ** number
defvjp("rpow", _rpow, "PowBackward2", _rpow_dx)  # number ** tensor
defvjp("pow_tensors", np.power, "PowBackward1", _pow_dx, _pow_dy)
defvjp("mod", np.mod, "RemainderBackward0", lambda g, ans, x, y: g, _mod_dy)
defvjp("square", np.square, "PowBackward0", lambda g, ans, x: g * 2 * x)
defvjp("reciprocal", np.reciprocal, "ReciprocalBackward0", lambda g, ans, x: -g * ans * ans)
defvjp("abs", np.absolute, "AbsBackward0", lambda g, ans, x: g * np.sign(x))
defvjp("maximum", np.maximum, "MaximumBackward0", _if_greater, _if_less)
defvjp("minimum", np.minimum, "MinimumBackward0", _if_less, _if_greater)
defvjp("clip", np.clip, "ClampBackward0", _clip_dx, _clip_dlo, _clip_dhi)
defvjp("clamp", _clamp, "ClampBackward1", _clamp_dx)  # number bounds
deflinear("where", _where, "WhereBackward0", _where_dx, _where_dy)

# ---- elementary functions ----

defvjp("exp", np.exp, "ExpBackward0", lambda g, ans, x: g * ans)
defvjp("exp2", np.exp2, "Exp2Backward0", lambda g, ans, x: g * ans * math.log(2))
defvjp("expm1", np.expm1, "Expm1Backward0", lambda g, ans, x: g * (ans + 1))
defvjp("log", np.log, "LogBackward0", lambda g, ans, x: g / x)
defvjp("log2", np.log2, "Log2Backward0", lambda g, ans, x: g / (x * math.log(2)))
defvjp("log10", np.log10, "Log10Backward0", lambda g, ans, x: g / (x * math.log(10)))
defvjp("log1p", np.log1p, "Log1PBackward0", lambda g, ans, x: g / (1 + x))
defvjp("logaddexp", np.logaddexp, "LogaddexpBackward0", _logaddexp_dx, _logaddexp_dy)
defvjp("sqrt", np.sqrt, "SqrtBackward0", lambda g, ans, x: g * 0.5 / ans)
defvjp("cbrt", np.cbrt, "CbrtBackward0", lambda g, ans, x: g / (3 * ans * ans))
defvjp("sin", np.sin, "SinBackward0", lambda g, ans, x: g * np.cos(x))
defvjp("cos", np.cos, "CosBackward0", lambda g, ans, x: -g * np.sin(x))
defvjp("tan", np.tan, "TanBackward0", lambda g, ans, x: g * (1 + ans * ans))
defvjp("arcsin", np.arcsin, "AsinBackward0", lambda g, ans, x: g / np.sqrt(1 - x**2))
defvjp("arccos", np.arccos, "AcosBackward0", lambda g, ans, x: -g / np.sqrt(1 - x**2))
defvjp("arctan", np.arctan, "AtanBackward0", lambda g, ans, x: g / (1 + x**2))
defvjp("arctan2", np.arctan2, "Atan2Backward0", _arctan2_dy, _arctan2_dx)
defvjp("hypot", np.hypot, "HypotBackward0", _hypot_dx, _hypot_dy)
defvjp("sinh", np.sinh, "SinhBackward0", lambda g, ans, x: g * np.cosh(x))
defvjp("cosh", np.cosh, "CoshBackward0", lambda g, ans, x: g * np.sinh(x))
defvjp("tanh", np.tanh, "TanhBackward0", lambda g, ans, x: g * (1 - ans**2))
defvjp("arcsinh", np.arcsinh, "AsinhBackward0", lambda g, ans, x: g / np.sqrt(x**2 + 1))
defvjp("arccosh", np.arccosh, "AcoshBackward0", lambda g, ans, x: g / np.sqrt(x**2 - 1))
defvjp("arctanh", np.arctanh, "AtanhBackward0", lambda g, ans, x: g / (1 - x**2))
defvjp("erf", _erf, "ErfBackward0", lambda g, ans, x: g * _TWO_BY_ROOT_PI * np.exp(-x * x))
defvjp("sigmoid", _sigmoid, "SigmoidBackward0", lambda g, ans, x: g * ans * (1 - ans))
defvjp("relu", lambda x: np.maximum(x, 0.0), "ReluBackward0",
       lambda g, ans, x: _where_true(ans > 0, g))

# ---- reductions (max and min share g equally among ties, as srcad.runtime does) ----

deflinear("sum", np.sum, _by_axis("SumBackward0", "SumBackward1"), _sum_dx)
deflinear("mean", np.mean, _by_axis("MeanBackward0", "MeanBackward1"), _mean_dx)
defvjp("prod", np.prod, _by_axis("ProdBackward0", "ProdBackward1"), _prod_dx)
defvjp("max", np.max, _by_axis("MaxBackward1", "MaxBackward0"), _to_extremes)
defvjp("min", np.min, _by_axis("MinBackward1", "MinBackward0"), _to_extremes)
deflinear("cumsum", np.cumsum, "CumsumBackward0", _cumsum_dx)
for _step, _torch in (("floor", "FloorBackward0"), ("ceil", "CeilBackward0"),
                      ("round", lambda shapes, decimals=0: f"RoundBackward{int(decimals != 0)}"),
                      ("trunc", "TruncBackward0"),
                      ("sign", "SignBackward0")):  # piecewise constant: a zero derivative
    # (not the ufunc itself: np.floor(x) of a tensor is NumPy's, without a gradient)
    deflinear(_step, functools.partial(_call, getattr(np, _step)), _torch,
              lambda g, ans, x, **params: _where_true(False, g))
deflinear("frac", lambda x: x - np.trunc(x), "FracBackward0", lambda g, ans, x: g)
deflinear_many("zero_derivative", lambda g, *tracked: g, "ZeroDerivativeBackward",
               lambda g, ans, value, *tracked: [g] + [np.zeros(t.shape) for t in tracked])
deflinear("take_at", _take_at, lambda shapes, label, **params: label, _take_at_dx)
defvjp("var", _var, "VarBackward0", _var_dx)
defvjp("std", lambda x, **params: np.sqrt(_var(x, **params)), "StdBackward0", _std_dx)
defvjp("norm", _norm, "LinalgVectorNormBackward0", _norm_dx)
defvjp("pnorm", _pnorm, "LinalgVectorNormBackward0", _pnorm_dx)

# ---- linear algebra (1-D and 2-D operands; np.dot and @ share matmul) ----

def _det_dx(g, ans, x):
    """g det(x) x^-T for each matrix; where one is singular or nearly, g times its cofactors
    from the SVD, as the source transform's adjoint (srcad.kernels.linalg.det_adjoint)."""
    if not all(isinstance(v, (np.ndarray, np.generic, float)) for v in (g, ans, x)):
        return np.multiply(g, ans)[..., None, None] * _mT(np.linalg.inv(x))  # (create_graph)
    from srcad.kernels import linalg  # (imports SciPy: when first used)

    dets = np.asarray(ans)
    gs = np.broadcast_to(g, dets.shape)
    out = np.empty(x.shape, np.result_type(x, g))
    for idx in np.ndindex(dets.shape):
        out[idx] = linalg.det_adjoint(gs[idx], x[idx], dets[idx])
    return out


defvjp("matmul", _matmul, _matmul_label, _matmul_dx, _matmul_dy)
defvjp("inv", np.linalg.inv, "LinalgInvExBackward0",
       lambda g, ans, x: -_mT(ans) @ g @ _mT(ans))
defvjp("det", np.linalg.det, "LinalgDetBackward0", _det_dx)
defvjp("solve", np.linalg.solve, "LinalgSolveExBackward0", _solve_da, _solve_db)

# ---- shape, indexing, copies and conversions ----

defview("permute", np.transpose, "PermuteBackward0", _permute_dx)  # x.T, np.transpose
defview("t", np.transpose, "TBackward0", lambda g, ans, x: np.transpose(g))
defview("transpose", _swapaxes, "TransposeBackward0", _swapaxes_dx)
defview("view", _reshape, "ViewBackward0", _as_input)  # reshape, view, flatten, ravel
defview("unsqueeze", np.expand_dims, "UnsqueezeBackward0", _as_input)
defview("squeeze", _squeeze, _by_axis("SqueezeBackward0", "SqueezeBackward1"), _as_input)
defview("expand", np.broadcast_to, "ExpandBackward0", lambda g, ans, x, shape: g)
defview("flip", np.flip, "FlipBackward0", lambda g, ans, x, axis: np.flip(g, axis))
defview("diagonal", _diagonal, "DiagonalBackward0", _diagonal_dx)
deflinear("clone", _clone, "CloneBackward0", lambda g, ans, x: g)
deflinear("to", _to, "ToCopyBackward0", _to_dx)
deflinear("convert", _convert, "ToCopyBackward0", _convert_dx)  # np.array(x, dtype, order)
deflinear("grad_copy", np.copy, "CopyBackwards", lambda g, ans, x: g)  # a first .grad, recorded
defview("getitem", _getitem, lambda shapes, index: _index_kind(index) + "Backward0", _getitem_dx)
deflinear("index_put", _put, "CopySlices", _put_dx, _put_dv)
deflinear("view_put", _put_view, "CopySlices", _put_view_dx, _put_view_dv)  # a write via a view
deflinear_many("stack", _stack, "StackBackward0", _unstack)
deflinear_many("concatenate", _concatenate, "CatBackward0", _split)
# the gradient of x[index] as an op, for backward(create_graph=True) (engine.py)
deflinear(
    "scatter",
    _scatter,
    lambda shapes, shape, index: _index_kind(index) + "BackwardBackward0",
    lambda g, ans, x, shape, index: g[index],
)
