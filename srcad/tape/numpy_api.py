"""What NumPy functions do when called on tensors: np.sin(t), np.sum(t, axis=0), np.dot(a, b).

NumPy hands a call with a tensor argument to Tensor.__array_ufunc__ / __array_function__, which
look the function up in the tables this module fills (tensor.HANDLED_UFUNCS, HANDLED_FUNCTIONS):
each entry records ops of ops.OPS. Zero-gradient ufuncs and ZERO_GRADIENT_FUNCTIONS run on the
plain arrays (comparisons, floor, argmax, shape queries). Every keyword argument NumPy takes is
honoured (out=, where=, dtype=, initial=, ddof=, order=, axis tuples) or refused with an error
that names it. Any other NumPy function raises on a tensor that requires grad rather than drop
its gradient. A function that returns a view in NumPy (np.squeeze, np.flip, np.split's pieces,
np.swapaxes, np.diagonal, np.atleast_2d, np.real of a real array, ...) returns one here: a view
op of ops.py, or the tensor itself where NumPy returns its argument, so that writes through
either are seen by the other, with their gradient. The vjps in ops.py rely on these entries when they run on tensors
(backward(create_graph=True)).
"""

import functools

import numpy as np

from srcad.tape import mode
from srcad.tape.ops import OPS
from srcad.tape.tensor import (
    HANDLED_FUNCTIONS,
    HANDLED_UFUNCS,
    WRITING_FUNCTIONS,
    ZERO_GRADIENT_FUNCTIONS,
    Tensor,
    apply,
    as_tensor,
    numpy_index,
    operand,
    plain,
    write_out,
)


def matmul(a, b):
    return apply("matmul", a, b)


def dot(a, b, out=None):
    scalar = np.ndim(operand(a)) == 0 or np.ndim(operand(b)) == 0
    result = apply("mul", a, b) if scalar else matmul(a, b)
    return result if out is None else write_out(out, result)


def transpose(x, axes=None):
    return apply("permute", x, axes=None if axes is None else tuple(axes))


def where(condition, *values):
    """np.where(condition, x, y); np.where(condition) alone is np.nonzero's indices."""
    if not values:
        return np.nonzero(np.asarray(operand(condition)))
    if len(values) != 2:
        raise ValueError("either both or neither of x and y should be given")
    return apply("where", *values, cond=np.asarray(operand(condition), dtype=bool))


def clip(a, a_min=None, a_max=None, **bounds):
    """np.clip(a, a_min, a_max), also spelled with NumPy 2's min= and max= keywords."""
    if {"min", "max"} & set(bounds) and (a_min is not None or a_max is not None):
        raise ValueError("srcad.tape: np.clip: NumPy raises for min= or max= beside a_min or "
                         "a_max")
    lo, hi = bounds.pop("min", a_min), bounds.pop("max", a_max)
    if bounds:
        raise TypeError(f"srcad.tape: np.clip with {sorted(bounds)} is not supported")
    return apply("clip", a, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.pop("newshape", shape)  # NumPy < 2.1 spelled it newshape
    if kwargs.get("copy") is not None:
        raise TypeError(mode.located("srcad.tape: np.reshape with copy= is not supported"))
    if _memory_order(a, order) == "F":  # the C-order reshape of the reversed axes, reversed
        reversed_shape = tuple(reversed(np.atleast_1d(shape).tolist()))
        return transpose(apply("view", transpose(a), shape=reversed_shape))
    return apply("view", a, shape=shape)


def ravel(a, order="C"):
    """A view only of an array contiguous in `order`, as NumPy's (reshape(-1) also views a
    reversed array)."""
    flags = np.asarray(operand(a)).flags
    if not (flags.c_contiguous if _memory_order(a, order) == "C" else flags.f_contiguous):
        a = apply("clone", a)
    return reshape(a, -1, order)


def _memory_order(a, order):
    """NumPy's order= of reshape and ravel as "C" or "F" ("A" and "K" follow a's layout)."""
    if order in ("C", "F"):
        return order
    flags = np.asarray(operand(a)).flags
    if order in ("A", "K") and (flags.c_contiguous or flags.f_contiguous):
        return "F" if flags.f_contiguous and not flags.c_contiguous else "C"
    raise NotImplementedError(mode.located(f"srcad.tape: order={order!r} on a strided view"))


def expand_dims(a, axis):
    return apply("unsqueeze", a, axis=axis)


# ---- functions that return views: the result shares the tensor's memory, as NumPy's does ----


def squeeze(a, axis=None):
    axis = _axes(axis)
    np.squeeze(np.empty(np.shape(operand(a)), dtype=bool), axis)  # NumPy's checks of axis
    return apply("squeeze", a, axis=axis)


def swapaxes(a, axis1, axis2):
    return apply("transpose", a, dim0=axis1, dim1=axis2)


def _permuting(np_func):
    """np.moveaxis and other functions that permute the axes: the permutation NumPy's own
    function makes of an array whose strides number its axes, as a permute view."""

    def permute(a, *args, **kwargs):
        ndim = np.ndim(operand(a))
        numbered = np.lib.stride_tricks.as_strided(
            np.zeros(1, dtype=np.int8), (1,) * ndim, tuple(range(1, ndim + 1))
        )
        axes = tuple(stride - 1 for stride in np_func(numbered, *args, **kwargs).strides)
        return apply("permute", a, axes=axes)

    return permute


def flip(m, axis=None):
    return apply("flip", m, axis=_axes(axis))


def _flipping(np_func, axis):
    """np.flipud and np.fliplr."""

    def flip_along(m):
        np_func(np.empty(np.shape(operand(m)), dtype=bool))  # NumPy's check of the rank
        return apply("flip", m, axis=axis)

    return flip_along


def rot90(m, k=1, axes=(0, 1)):
    """As NumPy computes it: flips and a transpose, each a view."""
    axes = tuple(axes)
    np.rot90(np.empty(np.shape(operand(m)), dtype=bool), k, axes)  # NumPy's checks
    k %= 4
    if k == 0:
        return m[:]
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    order = list(range(np.ndim(operand(m))))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), order)
    return flip(transpose(m, order), axes[1])


def diagonal(a, offset=0, axis1=0, axis2=1):
    np.diagonal(np.empty(np.shape(operand(a)), dtype=bool), offset, axis1, axis2)  # checks
    return apply("diagonal", a, offset=offset, axis1=axis1, axis2=axis2)


def linalg_diagonal(x, /, *, offset=0):
    return diagonal(x, offset, -2, -1)


def diag(v, k=0):
    """np.diag of a matrix is its diagonal, a view; of a vector, a new matrix (the rule's)."""
    if np.ndim(operand(v)) == 2:
        return diagonal(v, k)
    return _rule(np.diag)(v, k)


def _splitting(np_func, default_axis):
    """np.split and its kind: the pieces are slices along an axis, views as in NumPy."""

    def split(ary, indices_or_sections, axis=None):
        shape = np.shape(operand(ary))
        if axis is None:
            axis = default_axis(len(shape))
            np_func(np.empty(shape, dtype=bool), indices_or_sections)  # (its checks)
        else:
            np_func(np.empty(shape, dtype=bool), indices_or_sections, axis)
        axis %= len(shape)
        # the positions each piece covers (indices may go backwards: x[3:1] is empty)
        positions = (np.array_split if np_func is np.array_split else np.split)(
            np.arange(shape[axis]), indices_or_sections)
        return [ary[(slice(None),) * axis + (slice(p[0], p[-1] + 1) if p.size else
                                             slice(0, 0),)] for p in positions]

    return split


def unstack(x, /, *, axis=0):
    shape = np.shape(operand(x))
    np.unstack(np.empty(shape, dtype=bool), axis=axis)  # NumPy's checks
    axis %= len(shape)
    return tuple(x[(slice(None),) * axis + (i,)] for i in range(shape[axis]))


def _at_least(np_func):
    """np.atleast_1d, _2d, _3d: each tensor itself, or a reshaped view of it."""

    def at_least(*arys):
        results = []
        for ary in arys:
            if not isinstance(ary, Tensor):
                results.append(np_func(ary))
                continue
            shape = np_func(np.empty(ary.shape, dtype=bool)).shape
            results.append(ary if shape == ary.shape else apply("view", ary, shape=shape))
        if len(results) == 1:
            return results[0]
        return type(np_func(*[np.empty(0)] * len(results)))(results)  # tuple (NumPy 2) or list

    return at_least


def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*[np.shape(operand(a)) for a in args])
    if all(np.shape(operand(a)) == shape for a in args):
        return tuple(args)  # NumPy returns the arrays themselves
    return tuple(broadcast_to(a, shape) if isinstance(a, Tensor) else
                 np.broadcast_to(a, shape) for a in args)


def real(val):
    return val.real if isinstance(val, Tensor) else np.real(val)


def imag(val):
    return val.imag if isinstance(val, Tensor) else np.imag(val)


def real_if_close(a, tol=100):
    if isinstance(a, Tensor) and a._value.dtype.kind != "c":
        return a  # NumPy returns a real array as it is
    return np.real_if_close(plain(a, "numpy.real_if_close"), tol)


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n == 0 and prepend is np._NoValue and append is np._NoValue:
        return a  # NumPy returns a itself
    if prepend is not np._NoValue or append is not np._NoValue:  # (NumPy's: joined first)
        shape = list(np.shape(a))
        shape[axis] = 1  # (a number is spread to one slice along the axis)
        before, after = ([v if np.ndim(v) else np.broadcast_to(v, shape)]
                         if v is not np._NoValue else [] for v in (prepend, append))
        a = np.concatenate(before + [a] + after, axis=axis)
    return _rule(np.diff)(a, n, axis)


def _rule(np_func):
    from srcad.tape import rule_ops  # (imports srcad.rules, which imports this module's users)

    return rule_ops.handler(np_func)


def power(x, y):
    if not isinstance(y, Tensor) and np.ndim(y) == 0:
        return apply("pow", x, exponent=y)
    if not isinstance(x, Tensor) and np.ndim(x) == 0:
        return apply("rpow", y, base=x)
    return apply("pow_tensors", x, y)


def erf(x):
    """math.erf on a tensor (run.py gives it to user code that calls math.erf)."""
    return apply("erf", x)


def stack(tensors, axis=0, out=None, *, dtype=None):
    result = apply("stack", *[_astype(x, dtype) for x in tensors], axis=axis)
    return result if out is None else write_out(out, result)


def concatenate(tensors, axis=0, out=None, *, dtype=None):
    if axis is None:  # NumPy flattens the arrays first
        tensors, axis = [reshape(x, -1) for x in tensors], 0
    result = apply("concatenate", *[_astype(x, dtype) for x in tensors], axis=axis)
    return result if out is None else write_out(out, result)


def append(arr, values, axis=None):
    return concatenate([arr, values], axis)  # (flattened first when axis is None)


def broadcast_to(x, shape):
    return apply("expand", x, shape=tuple(shape) if np.ndim(shape) else (shape,))


def inner(a, b):
    """np.inner: the sum over the last axes of a and b (of 1-D and 2-D operands)."""
    ndims = (np.ndim(operand(a)), np.ndim(operand(b)))
    if 0 in ndims:
        return apply("mul", a, b)
    if max(ndims) > 2:
        raise TypeError(mode.located("srcad.tape: np.inner of arrays of more than 2 dimensions"))
    if ndims == (1, 2):
        return matmul(b, a)
    return matmul(a, b if ndims[1] == 1 else transpose(b))


def heaviside(x1, x2):
    """0 below zero, 1 above, x2 at zero (where x2 has its derivative)."""
    x = operand(x1)
    return apply("where", x2, np.heaviside(x, 0.0), cond=np.asarray(x == 0))


def outer(a, b):
    return apply("view", a, shape=(-1, 1)) * apply("view", b, shape=(1, -1))


def norm(x, ord=None, axis=None, keepdims=False):
    if ord is not None:  # (the rule's kernels know every order)
        from srcad.tape import rule_ops

        return rule_ops.handler(np.linalg.norm)(x, ord, axis, keepdims)
    return apply("norm", x, axis=axis, keepdims=keepdims)


def _spread(name):
    """np.var and np.std."""

    def spread(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **options):
        if options:
            raise TypeError(mode.located(_NOT_SUPPORTED.format(f"np.{name}", ", ".join(options))))
        a = _astype(a, dtype)
        result = apply(name, a, axis=_axes(axis), ddof=ddof, keepdims=keepdims)
        return result if out is None else write_out(out, result)

    return spread


def hstack(tensors):
    parts = [x if np.ndim(operand(x)) else apply("view", x, shape=(1,)) for x in tensors]
    return concatenate(parts, axis=0 if all(np.ndim(operand(x)) == 1 for x in parts) else 1)


def vstack(tensors):
    rows = [apply("view", x, shape=(1, -1)) if np.ndim(operand(x)) < 2 else x for x in tensors]
    return concatenate(rows, axis=0)


def column_stack(tup):
    """Each piece as columns: a 1-D piece of n entries as (n, 1), a 2-D one as it is."""
    return concatenate([x if np.ndim(operand(x)) == 2 else
                        apply("view", x, shape=(-1, 1)) for x in tup], axis=1)


def dstack(tup):
    return concatenate([np.atleast_3d(x) for x in tup], axis=2)


def _nan_extremum(extremum, fill):
    """np.nanmax, np.nanmin: the extremum of a with its NaNs as `fill`, NaN where a slice has
    no other value."""

    def ignoring_nans(a, axis=None, out=None, keepdims=False, **options):
        if options:
            raise TypeError(mode.located(_NOT_SUPPORTED.format(
                f"np.nan{extremum.__name__}", ", ".join(options))))
        missing = np.isnan(operand(a))
        found = extremum(where(missing, fill, a), axis=axis, keepdims=keepdims)
        present = np.sum(~missing, axis=axis, keepdims=keepdims) > 0
        result = where(present, found, np.nan)
        return result if out is None else write_out(out, result)

    return ignoring_nans


def vdot(a, b):
    """Of real arrays: the dot product of the flattened arrays."""
    return dot(ravel(a), ravel(b))


def multi_dot(arrays, *, out=None):
    result = functools.reduce(matmul, arrays)
    return result if out is None else write_out(out, result)


def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as the source transform writes them: x NumPy's (with the
    derivatives of pinv(a) @ b), the sums of (b - a @ x) ** 2 over b's columns where a has full
    column rank and more rows than columns, matrix_rank(a) and a's singular values."""
    if rcond is not None:
        raise TypeError("srcad.tape: np.linalg.lstsq with an rcond other than None (NumPy's "
                        "default)")
    from srcad.kernels import linalg  # (imports Numba: when first used)
    from srcad.tape import rule_ops

    x = rule_ops.handler(linalg.lstsq_solution)(a, b)
    rank = np.linalg.matrix_rank(operand(a))
    sums = np.atleast_1d(np.sum((b - matmul(a, x)) ** 2, axis=0))
    count = linalg.lstsq_residual_count(operand(a), operand(b), rank)
    return x, sums[:count], rank, np.linalg.svd(a, compute_uv=False)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Each xi flattened along its axis of the grid (the first two swapped for 'xy') and,
    unless sparse, broadcast to the grid's shape; copies unless copy=False."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    grids = [ravel(x) for x in xi]
    axes = list(range(len(grids)))
    if indexing == "xy" and len(grids) > 1:
        axes[0], axes[1] = 1, 0
    shape = tuple(np.shape(operand(grids[axes.index(j)]))[0] for j in range(len(grids)))
    out = []
    for grid, axis in zip(grids, axes, strict=True):
        piece = reshape(grid, tuple(-1 if j == axis else 1 for j in range(len(grids))))
        if not sparse:
            piece = broadcast_to(piece, shape)
        out.append(apply("clone", piece) if copy else piece)
    return tuple(out)


def select(condlist, choicelist, default=0):
    """Nested np.where: the first true condition's choice."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    chosen = default
    for condition, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        chosen = where(np.asarray(operand(condition)), choice, chosen)
    return chosen


def correlate(a, v, mode="valid"):
    """np.convolve(a, v[::-1], mode), with mode 'same' centred as NumPy's correlate centres
    it (as srcad.compiler.compositions.correlate)."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be one of 'valid', 'same' or 'full' (got {mode!r})")
    reversed_v = v[::-1] if isinstance(v, Tensor) else np.asarray(v)[::-1]
    full = np.convolve(a, reversed_v, "full" if mode == "same" else mode)
    if mode != "same":
        return full
    m, k = len(operand(a)), len(operand(v))
    start = (k - 1) // 2 if m >= k else m // 2
    return full[start:start + max(m, k)]


def corrcoef(x, y=None, rowvar=True):
    """The covariance c over np.outer(d, d), d the square roots of its diagonal, clipped to
    [-1, 1] (as srcad.compiler.compositions.corrcoef)."""
    if y is not None:
        raise TypeError(mode.located("srcad.tape: np.corrcoef of two arrays (stack the "
                                     "variables of y into x)"))
    c = np.cov(x, rowvar=rowvar)
    d = np.sqrt(np.diagonal(c))
    return np.clip(c / np.outer(d, d), -1.0, 1.0)


def _flat(piece):
    """np.ravel of a tensor, a number or a list or tuple of them."""
    if isinstance(piece, Tensor):
        return ravel(piece)
    if isinstance(piece, (list, tuple)) and any(isinstance(e, Tensor) for e in piece):
        return concatenate([_flat(e) for e in piece])
    return np.ravel(piece)


def ediff1d(ary, to_end=None, to_begin=None):
    begin, end = ([] if piece is None else [_flat(piece)] for piece in (to_begin, to_end))
    differences = diff(ravel(ary))
    return concatenate(begin + [differences] + end) if begin or end else differences


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    if axis is None and np.ndim(operand(x)) > 1:
        raise ValueError("axis must be specified for multi-dimensional arrays")
    result = cumsum(x, 0 if axis is None else axis, dtype)
    if include_initial:
        axis = 0 if axis is None else axis % np.ndim(operand(x))
        shape = list(np.shape(operand(result)))
        shape[axis] = 1
        result = concatenate([np.zeros(shape, np.result_type(operand(result))), result], axis)
    return result if out is None else write_out(out, result)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """start + (stop - start) * fraction, as NumPy computes it (the last sample is stop)."""
    if axis != 0 or (dtype is not None and np.dtype(dtype).kind != "f"):
        raise TypeError(
            mode.located(f"srcad.tape: np.linspace with axis={axis!r}, dtype={dtype!r}")
        )
    ndim = np.broadcast(operand(start), operand(stop)).ndim
    fractions = np.reshape(np.linspace(0.0, 1.0, num, endpoint), (-1,) + (1,) * ndim)
    samples = start + (stop - start) * fractions
    if endpoint and num > 1:
        samples = concatenate([samples[:-1], expand_dims(stop + 0.0 * start, 0)])
    step = (stop - start) / (num - 1 if endpoint else num) if num > int(endpoint) else np.nan
    return (samples, step) if retstep else samples


def _like(np_func):
    """np.zeros_like and friends: a constant tensor when the result is a float array."""

    def like(a, *args, **kwargs):
        result = np_func(plain(a), *args, **kwargs)
        return as_tensor(result) if result.dtype.kind == "f" else result

    return like


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, Tensor):
        return broadcast_to(fill_value, np.shape(operand(a)) if shape is None else shape)
    return _like(np.full_like)(a, fill_value, dtype, order, subok, shape)


_NOT_SUPPORTED = "srcad.tape: {} with {}= is not supported"
_IDENTITY = {"sum": 0.0, "prod": 1.0, "max": None, "min": None}
_WITH_INITIAL = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


def _reduction(name):
    """np.sum, np.prod, np.max, np.min with all of NumPy's arguments."""

    def reduce(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
        a = _astype(a, dtype)
        if where is not True:
            if _IDENTITY[name] is None and initial is None:
                raise ValueError(
                    f"reduction operation '{name}' does not have an identity, so to use a where "
                    "mask one has to specify 'initial'"
                )
            fill = _IDENTITY[name] if _IDENTITY[name] is not None else initial
            a = apply("where", a, fill, cond=_mask(where, a))
        result = apply(name, a, axis=_axes(axis), keepdims=keepdims)
        if initial is not None:
            result = _WITH_INITIAL[name](result, initial)
        return result if out is None else write_out(out, result)

    return reduce


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    a, axis = _astype(a, dtype), _axes(axis)
    if where is True:
        result = apply("mean", a, axis=axis, keepdims=keepdims)
    else:
        mask = _mask(where, a)
        total = apply("sum", apply("where", a, 0.0, cond=mask), axis=axis, keepdims=keepdims)
        result = total / np.sum(mask, axis=axis, keepdims=keepdims)  # nan where none is counted
    return result if out is None else write_out(out, result)


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """np.average: a mean, or sum(a * w) / sum(w) over the axes (1-D weights lie along
    `axis`, as NumPy reads them)."""
    if weights is None:
        result = mean(a, axis=axis, keepdims=keepdims)
        count = np.size(operand(a)) // max(np.size(operand(result)), 1)
        return (result, np.full(np.shape(operand(result)), float(count))) if returned \
            else result
    a_shape, w_shape = np.shape(operand(a)), np.shape(operand(weights))
    if w_shape != a_shape:  # (weights along the axes, in their order: moved into place)
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = tuple(int(k) % len(a_shape) for k in np.atleast_1d(axis))
        if w_shape != tuple(a_shape[k] for k in axes):
            raise ValueError("Shape of weights must be consistent with shape of a along "
                             "specified axis.")
        weights = np.reshape(np.transpose(weights, np.argsort(axes)),
                             tuple(n if k in axes else 1 for k, n in enumerate(a_shape)))
    weights = np.broadcast_to(weights, a_shape)
    total = np.sum(weights, axis=axis, keepdims=keepdims)
    if np.any(operand(total) == 0.0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    result = np.sum(a * weights, axis=axis, keepdims=keepdims) / total
    return (result, total) if returned else result


def ptp(a, axis=None, out=None, keepdims=False):
    result = np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)
    return result if out is None else write_out(out, result)


def polyval(p, x):
    """Horner's rule, as NumPy's np.polyval (p's highest power first)."""
    y = x * 0.0 if isinstance(x, Tensor) or np.ndim(operand(x)) else 0.0
    for k in range(len(p)):
        y = y * x + p[k]
    return y


def take_along_axis(arr, indices, axis=-1):
    indices = np.asarray(operand(indices))
    if axis is None:
        return np.reshape(arr, -1)[indices]
    shape = np.shape(operand(arr))
    ndim = len(shape)
    axis %= ndim
    # the other axes of arr and indices broadcast against each other
    try:
        lengths = np.broadcast_shapes(shape[:axis] + (1,) + shape[axis + 1:],
                                      indices.shape[:axis] + (1,) + indices.shape[axis + 1:])
    except ValueError as exc:  # (NumPy's, from its fancy index)
        raise IndexError(str(exc)) from None
    index = [(np.arange(n) if shape[k] == n else np.zeros(n, np.intp)).reshape(
        (1,) * k + (n,) + (1,) * (ndim - k - 1)) for k, n in enumerate(lengths)]
    index[axis] = indices
    return arr[tuple(index)]


def take(a, indices, axis=None, out=None, mode="raise"):
    if mode != "raise":
        raise TypeError(f"srcad.tape: np.take(mode={mode!r}) is not supported on the tape")
    indices = np.asarray(operand(indices))
    if axis is None:
        result = np.reshape(a, -1)[indices]
    else:
        result = a[(slice(None),) * (axis % np.ndim(operand(a))) + (indices,)]
    return result if out is None else write_out(out, result)


def cumsum(a, axis=None, dtype=None, out=None):
    result = apply("cumsum", _astype(a, dtype), axis=axis)
    return result if out is None else write_out(out, result)


def _axes(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _mask(where, a):
    return np.broadcast_to(np.asarray(operand(where), dtype=bool), np.shape(operand(a)))


def _astype(x, dtype):
    """x in dtype (NumPy's dtype= computes in it): a tensor, or a plain array."""
    if dtype is None:
        return x
    return x.astype(dtype) if isinstance(x, Tensor) else np.asarray(x).astype(dtype)


def _accumulate_at(ufunc):
    """np.add.at(a, indices, b) and np.subtract.at: unbuffered, so repeated indices add up."""

    def at(a, indices, b):
        indices = numpy_index(indices)
        if not isinstance(a, Tensor):
            return ufunc.at(a, indices, plain(b, f"numpy.{ufunc.__name__}.at into an array"))
        selected = np.empty(a.shape)[indices].shape
        spread = apply("scatter", broadcast_to(b, selected), shape=a.shape, index=indices)
        a._inplace("add" if ufunc is np.add else "sub", spread)

    return at


def copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, Tensor):
        np.copyto(dst, plain(src, "numpy.copyto into an array"), casting, plain(where))
    elif where is True:
        dst[...] = src
    else:
        dst[...] = apply("where", src, dst, cond=_mask(where, dst))


def fill_diagonal(a, val, wrap=False):
    if wrap and a.ndim == 2 and a.shape[0] > a.shape[1] + 1:
        raise NotImplementedError(mode.located("srcad.tape: np.fill_diagonal with wrap=True"))
    diagonal = np.arange(min(a.shape))
    a[(diagonal,) * a.ndim] = val


def _divmod(x, y, **options):
    """np.divmod: two results, which _ufunc's out= does not take."""
    if options:
        raise TypeError(mode.located(_NOT_SUPPORTED.format("numpy.divmod", ", ".join(options))))
    return np.floor_divide(x, y), np.remainder(x, y)


def _ufunc(ufunc, handler):
    """A ufunc called on tensors, with NumPy's out=, where= and dtype=."""
    name = f"numpy.{ufunc.__name__}"

    def call(*inputs, out=None, where=True, dtype=None, **options):
        if options:
            raise TypeError(mode.located(_NOT_SUPPORTED.format(name, ", ".join(options))))
        result = handler(*[_astype(x, dtype) for x in inputs])
        if where is not True:
            if out is None:
                raise TypeError(
                    mode.located(
                        f"srcad.tape: {name} with where= and no out= (its result is "
                        "uninitialised where the mask is False)"
                    )
                )
            target = out[0] if isinstance(out, tuple) else out
            result = apply("where", result, target, cond=_mask(where, result))
        return result if out is None else write_out(out, result)

    return call


_UFUNCS = {
    op.forward: functools.partial(apply, name)
    for name, op in OPS.items()
    if isinstance(op.forward, np.ufunc)
}
_UFUNCS.update(
    {
        np.power: power,
        np.fabs: functools.partial(apply, "abs"),
        np.positive: functools.partial(apply, "clone"),
        np.matmul: matmul,
        np.heaviside: heaviside,
    }
)
_ZERO_GRADIENT_UFUNCS = (
    *(np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal),
    *(np.logical_and, np.logical_or, np.logical_not, np.logical_xor),
    *(np.isnan, np.isinf, np.isfinite, np.signbit, np.sign),
    *(np.floor, np.ceil, np.trunc, np.rint, np.floor_divide),
)
for _zero in _ZERO_GRADIENT_UFUNCS:
    _UFUNCS[_zero] = functools.partial(lambda ufunc, *xs: ufunc(*plain(xs)), _zero)
HANDLED_UFUNCS.update({ufunc: _ufunc(ufunc, handler) for ufunc, handler in _UFUNCS.items()})
HANDLED_UFUNCS[np.divmod] = _divmod
HANDLED_UFUNCS.update({(ufunc, "at"): _accumulate_at(ufunc) for ufunc in (np.add, np.subtract)})
WRITING_FUNCTIONS.update({np.put, np.place, np.putmask, np.put_along_axis})
HANDLED_FUNCTIONS.update(
    {
        np.squeeze: squeeze,
        np.swapaxes: swapaxes,
        np.moveaxis: _permuting(np.moveaxis),
        np.rollaxis: _permuting(np.rollaxis),
        np.permute_dims: _permuting(np.permute_dims),
        np.matrix_transpose: _permuting(np.matrix_transpose),
        np.linalg.matrix_transpose: _permuting(np.linalg.matrix_transpose),
        np.flip: flip,
        np.flipud: _flipping(np.flipud, 0),
        np.fliplr: _flipping(np.fliplr, 1),
        np.rot90: rot90,
        np.diagonal: diagonal,
        np.linalg.diagonal: linalg_diagonal,
        np.diag: diag,
        np.diff: diff,
        np.split: _splitting(np.split, lambda ndim: 0),
        np.array_split: _splitting(np.array_split, lambda ndim: 0),
        np.hsplit: _splitting(np.hsplit, lambda ndim: 1 if ndim > 1 else 0),
        np.vsplit: _splitting(np.vsplit, lambda ndim: 0),
        np.dsplit: _splitting(np.dsplit, lambda ndim: 2),
        np.unstack: unstack,
        np.atleast_1d: _at_least(np.atleast_1d),
        np.atleast_2d: _at_least(np.atleast_2d),
        np.atleast_3d: _at_least(np.atleast_3d),
        np.broadcast_arrays: broadcast_arrays,
        np.real: real,
        np.imag: imag,
        np.real_if_close: real_if_close,
        np.sum: _reduction("sum"),
        np.mean: mean,
        np.average: average,
        np.ptp: ptp,
        np.polyval: polyval,
        np.take_along_axis: take_along_axis,
        np.take: take,
        np.max: _reduction("max"),
        np.min: _reduction("min"),
        np.amax: _reduction("max"),
        np.amin: _reduction("min"),
        np.prod: _reduction("prod"),
        np.cumsum: cumsum,
        np.reshape: reshape,
        np.ravel: ravel,
        np.expand_dims: expand_dims,
        np.copy: lambda a, order="K", subok=False: apply("clone", a),
        np.dot: dot,
        np.transpose: transpose,
        np.where: where,
        np.clip: clip,
        np.stack: stack,
        np.concatenate: concatenate,
        np.append: append,
        np.broadcast_to: broadcast_to,
        np.outer: outer,
        np.inner: inner,
        np.linspace: linspace,
        np.copyto: copyto,
        np.fill_diagonal: fill_diagonal,
        np.var: _spread("var"),
        np.std: _spread("std"),
        np.hstack: hstack,
        np.vstack: vstack,
        np.column_stack: column_stack,
        np.dstack: dstack,
        np.vdot: vdot,
        np.nanmax: _nan_extremum(np.max, -np.inf),
        np.nanmin: _nan_extremum(np.min, np.inf),
        np.linalg.multi_dot: multi_dot,
        np.linalg.lstsq: lstsq,
        np.meshgrid: meshgrid,
        np.select: select,
        np.correlate: correlate,
        np.corrcoef: corrcoef,
        np.ediff1d: ediff1d,
        np.linalg.norm: norm,
        np.linalg.inv: functools.partial(apply, "inv"),
        np.linalg.det: functools.partial(apply, "det"),
        np.linalg.solve: functools.partial(apply, "solve"),
        np.zeros_like: _like(np.zeros_like),
        np.ones_like: _like(np.ones_like),
        np.empty_like: _like(np.empty_like),
        np.full_like: full_like,
    }
)
if hasattr(np, "cumulative_sum"):  # (NumPy 2.1)
    HANDLED_FUNCTIONS[np.cumulative_sum] = cumulative_sum
ZERO_GRADIENT_FUNCTIONS.update(
    {
        *(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero),
        *(np.round, np.isclose, np.allclose, np.array_equal, np.count_nonzero),
        *(np.all, np.any, np.searchsorted, np.argpartition, np.iscomplexobj, np.isrealobj),
        *(np.iscomplex, np.isreal, np.triu_indices_from, np.tril_indices_from,
          np.diag_indices_from),
    }
)
