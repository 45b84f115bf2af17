"""Axes as rows: the one reshaping every axis-aware kernel is written against.

`to_rows(x, axis)` moves the axes named by `axis` (None, an int or a tuple of ints) last and
flattens, giving a C-contiguous 2-D array with one row per element of the reduction's result;
`from_rows(r, x, axis)` puts an array of that 2-D shape back into the shape of `x`;
`shape_reduced(v, x, axis, keepdims)` gives a vector of per-row results the shape NumPy's
reduction returns. Kernels written on rows work for any rank and any axes, in plain Python
(NumPy transposes) and in Numba nopython code (the overloads below, where the rank is a
typing-time constant).

The per-row primitives at the end are NumPy broadcasting in Python and loops under Numba:
Numba compiles a loop in a tenth of the time it takes for a broadcast expression or a slice
assignment, and runs it as fast.
"""


import numpy as np
from numba import literal_unroll
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype, from_dtype
from numba.np.unsafe.ndarray import to_fixed_tuple

UNKNOWN = object()


# ---- typing and registration helpers (used by every kernel module) -----------------------

def constant(t):
    """The Python value of an argument type known at typing time (omitted, literal, None), or
    UNKNOWN."""
    if isinstance(t, types.Omitted):
        return t.value
    if t is None or isinstance(t, types.NoneType):
        return None
    if isinstance(t, types.Literal):
        return t.literal_value
    if isinstance(t, (bool, int, float, str)):
        return t
    return UNKNOWN


def is_none(t):
    return constant(t) is None


def is_array(t):
    return isinstance(t, types.Array)


def require_array(t, name):
    if not is_array(t):
        raise TypingError(f"srcad: {name} must be an array, got {t}")


def result_dtype(*args):
    """The Numba dtype NumPy's arithmetic on arrays or scalars of these types gives."""
    dtypes = [as_dtype(a.dtype if is_array(a) else a) for a in args]
    return from_dtype(np.result_type(*dtypes))


def numba_form(python):
    """Decorator: the decorated function is how Numba compiles calls to `python`."""
    def register(compiled):
        overload(python, strict=False)(lambda *args: compiled)
        return compiled
    return register


def naxes(axis, ndim):
    """How many axes `axis` names, from its type."""
    if is_none(axis):
        return ndim
    if isinstance(axis, types.BaseTuple):
        return len(axis)
    if isinstance(axis, types.Integer):
        return 1
    raise TypingError(f"srcad: axis must be None, an int or a tuple of ints, got {axis}")


# ---- axes ---------------------------------------------------------------------------------

def reduced_axes(axis, ndim):
    """The sorted tuple of axes that `axis` names (NumPy's errors for bad or repeated axes)."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(np.lib.array_utils.normalize_axis_tuple(axis, ndim)))


@register_jitable
def _flag(flags, a, ndim):
    if a < -ndim or a >= ndim:
        raise ValueError("axis is out of bounds for the array's dimension")
    a = a + ndim if a < 0 else a
    if flags[a]:
        raise ValueError("repeated axis")
    flags[a] = True


def axis_flags(axis, ndim):
    """A boolean per dimension: is it one of the axes `axis` names."""
    flags = np.zeros(ndim, np.bool_)
    flags[list(reduced_axes(axis, ndim))] = True
    return flags


@overload(axis_flags)
def _axis_flags(axis, ndim):
    if is_none(axis):
        return lambda axis, ndim: np.ones(ndim, np.bool_)
    if isinstance(axis, types.BaseTuple):
        def several(axis, ndim):
            flags = np.zeros(ndim, np.bool_)
            for a in literal_unroll(axis):  # (a constant tuple may be a tuple of literals)
                _flag(flags, a, ndim)
            return flags
        return several

    def one(axis, ndim):
        flags = np.zeros(ndim, np.bool_)
        _flag(flags, axis, ndim)
        return flags
    return one


@register_jitable
def permutation(flags):
    """The kept axes in order, then the flagged axes in order."""
    perm = np.empty(flags.size, np.intp)
    j = 0
    for i in range(flags.size):
        if not flags[i]:
            perm[j] = i
            j += 1
    for i in range(flags.size):
        if flags[i]:
            perm[j] = i
            j += 1
    return perm


@register_jitable
def _rows_shape(shape, flags):
    n_keep, n_red = 1, 1
    for i in range(flags.size):
        if flags[i]:
            n_red *= shape[i]
        else:
            n_keep *= shape[i]
    return n_keep, n_red


# ---- moving axes --------------------------------------------------------------------------

@register_jitable
def permuted(flat, shape, perm):
    """The entries `flat` of a C-ordered array of `shape`, in C order of its transpose by
    `perm` (Numba's transpose by a runtime tuple compiles slowly; this walk compiles fast)."""
    ndim = perm.size
    stride = np.empty(ndim, np.intp)
    step = 1
    for i in range(ndim - 1, -1, -1):
        stride[i] = step
        step *= shape[i]
    extent = np.empty(ndim, np.intp)
    jump = np.empty(ndim, np.intp)
    for i in range(ndim):
        extent[i] = shape[perm[i]]
        jump[i] = stride[perm[i]]
    if ndim == 0:
        return flat.copy()
    out = np.empty(flat.size, flat.dtype)
    index = np.zeros(ndim, np.intp)
    source = 0
    k = 0
    while k < flat.size:
        at = source
        for _ in range(extent[ndim - 1]):  # (the last axis: one strided run)
            out[k] = flat[at]
            at += jump[ndim - 1]
            k += 1
        d = ndim - 2  # (an odometer over the other axes)
        while d >= 0:
            index[d] += 1
            source += jump[d]
            if index[d] < extent[d]:
                break
            source -= jump[d] * extent[d]
            index[d] = 0
            d -= 1
    return out


@register_jitable
def _is_identity(perm):
    for i in range(perm.size):
        if perm[i] != i:
            return False
    return True


def moved(x, perm):
    """The entries of `np.transpose(x, perm)` in C order, as a 1-D array."""
    return np.ascontiguousarray(np.transpose(x, perm)).reshape(-1)


@overload(moved)
def _moved(x, perm):
    def impl(x, perm):
        flat = np.ascontiguousarray(x).reshape(x.size)
        return flat if _is_identity(perm) else permuted(flat, np.array(x.shape), perm)
    return impl


def unmoved(flat, shape, perm):
    """The inverse of `moved`: the entries, in C order, of the transpose by `perm` of an array
    of `shape`, as that array."""
    transposed = np.reshape(flat, tuple(shape[i] for i in perm))
    return np.ascontiguousarray(np.transpose(transposed, np.argsort(perm)))


@overload(unmoved)
def _unmoved(flat, shape, perm):
    def impl(flat, shape, perm):
        flat = np.ascontiguousarray(flat).reshape(flat.size)
        if _is_identity(perm):
            return flat.reshape(shape)
        moved_shape = np.empty(perm.size, np.intp)
        inverse = np.empty(perm.size, np.intp)
        for i in range(perm.size):
            moved_shape[i] = shape[perm[i]]
            inverse[perm[i]] = i
        return permuted(flat, moved_shape, inverse).reshape(shape)
    return impl


# ---- rows ---------------------------------------------------------------------------------

def float_rows(x, axis):
    """`to_rows` of x's values as float64 where they are integers or bools: NumPy's mean, var,
    quantiles and logsumexp compute in float64 (in x's own dtype, truncated: found by a
    helper's attack, helper-144)."""
    return to_rows(np.asarray(x, np.float64) if np.asarray(x).dtype.kind in "biu" else x, axis)


@overload(float_rows)
def _float_rows(x, axis):
    if isinstance(x, types.Array) and isinstance(x.dtype, (types.Integer, types.Boolean)):
        return lambda x, axis: to_rows(x.astype(np.float64), axis)
    return lambda x, axis: to_rows(x, axis)


def shared_among(hits, g):
    """g (a column) shared among the hits of each row, 0 off them (not hits * g: an inf g would
    give 0 * inf = NaN there); NaN where a row has none (a NaN extremum)."""
    ties = np.sum(hits, axis=1, keepdims=True)
    share = np.where(ties > 0, g / np.maximum(ties, 1), np.nan)
    return np.where(hits | (ties == 0), share, 0.0)


def summed_rows(x, axis):
    """`to_rows` of x's values in the integer type NumPy sums and multiplies them in: bools
    and integers narrower than 64 bits as int64 (unsigned: uint64); in their own type they
    wrapped, a bool sum was an `or` (found by a helper's attack, helper-145)."""
    return to_rows(x, axis)


@overload(summed_rows)
def _summed_rows(x, axis):
    dtype = getattr(x, "dtype", None)
    if isinstance(dtype, types.Boolean) or isinstance(dtype, types.Integer) and \
            dtype.bitwidth < 64:
        if isinstance(dtype, types.Integer) and not dtype.signed:
            return lambda x, axis: to_rows(x.astype(np.uint64), axis)
        return lambda x, axis: to_rows(x.astype(np.int64), axis)
    return lambda x, axis: to_rows(x, axis)


def to_rows(x, axis):
    """`x` as a 2-D array: one row per kept index, the reduced axes flattened along each row."""
    flags = axis_flags(axis, np.ndim(x))
    return np.reshape(moved(x, permutation(flags)), _rows_shape(np.shape(x), flags))


@register_jitable
def around(shape, axis):
    """(product of the lengths before `axis`, its length, product of those after)."""
    ndim = len(shape)
    if axis < -ndim or axis >= ndim:
        raise ValueError("axis is out of bounds for the array's dimension")
    axis = axis + ndim if axis < 0 else axis
    before, after = 1, 1
    for d in range(ndim):
        if d < axis:
            before *= shape[d]
        elif d > axis:
            after *= shape[d]
    return before, shape[axis], after


@register_jitable
def _rows_around(x, axis):
    """to_rows for one axis: x as (before, n, after), row i * after + j is x3[i, :, j] (a
    loop: it compiles in a fraction of the time of the general transpose)."""
    before, n, after = around(x.shape, axis)
    x3 = np.ascontiguousarray(x).reshape((before, n, after))
    rows = np.empty((before * after, n), x.dtype)
    for i in range(before):
        for k in range(n):
            for j in range(after):
                rows[i * after + j, k] = x3[i, k, j]
    return rows


@register_jitable
def _rows_of_matrix(x, axis):
    """`_rows_around` of a matrix, read in place (a copy to C order of a strided view
    compiles slower than this loop)."""
    if axis < -2 or axis >= 2:
        raise ValueError("axis is out of bounds for the array's dimension")
    if axis == 1 or axis == -1:
        rows = np.empty(x.shape, x.dtype)
        for i in range(x.shape[0]):
            for k in range(x.shape[1]):
                rows[i, k] = x[i, k]
        return rows
    rows = np.empty((x.shape[1], x.shape[0]), x.dtype)
    for k in range(x.shape[0]):
        for j in range(x.shape[1]):
            rows[j, k] = x[k, j]
    return rows


@register_jitable
def _around_rows(r, shape, axis):
    """The inverse of `_rows_around`."""
    before, n, after = around(shape, axis)
    out = np.empty((before, n, after), r.dtype)
    for i in range(before):
        for k in range(n):
            for j in range(after):
                out[i, k, j] = r[i * after + j, k]
    return out.reshape(shape)


@overload(to_rows)
def _to_rows(x, axis):
    require_array(x, "the array")
    if is_none(axis):
        return lambda x, axis: np.ascontiguousarray(x).reshape((1, x.size))
    if isinstance(axis, types.Integer):
        if x.ndim == 2:
            return lambda x, axis: _rows_of_matrix(x, axis)
        return lambda x, axis: _rows_around(x, axis)

    def impl(x, axis):
        flags = axis_flags(axis, x.ndim)
        return moved(x, permutation(flags)).reshape(_rows_shape(x.shape, flags))
    return impl


def rows_to(r, shape, axis):
    """The inverse of `to_rows`: `r` (one row per kept index) as an array of `shape`."""
    return unmoved(r, shape, permutation(axis_flags(axis, len(shape))))


@overload(rows_to)
def _rows_to(r, shape, axis):
    if is_none(axis) or len(shape) == 1:  # (the rows are the array in C order: no transpose)
        return lambda r, shape, axis: np.ascontiguousarray(r).reshape(shape)
    if isinstance(axis, types.Integer):
        return lambda r, shape, axis: _around_rows(r, shape, axis)
    return lambda r, shape, axis: unmoved(r, shape, permutation(axis_flags(axis, len(shape))))


@register_jitable
def from_rows(r, x, axis):
    """The inverse of `to_rows`: `r` in the shape of `x`."""
    return rows_to(r, x.shape, axis)


def rows_vector(g, n):
    """A reduction's result (or its adjoint) `g` as a vector of `n` per-row values (a scalar `g`
    is repeated)."""
    if np.ndim(g) == 0:
        return np.full(n, g)
    return np.reshape(g, n)


@overload(rows_vector)
def _rows_vector(g, n):
    if not is_array(g):
        return lambda g, n: np.full(n, g)
    return lambda g, n: np.ascontiguousarray(g).reshape(n)


def shape_reduced(v, x, axis, keepdims):
    """The vector `v` of per-row results in the shape NumPy's reduction of `x` returns."""
    shape = reduced_shape(x, axis, keepdims)
    return np.reshape(v, shape) if shape else v[0]


def reduced_shape(x, axis, keepdims):
    """The shape of NumPy's reduction of `x` over `axis` (an array under Numba)."""
    reduced = reduced_axes(axis, np.ndim(x))
    return tuple(1 if i in reduced else n for i, n in enumerate(np.shape(x))
                 if keepdims or i not in reduced)


@overload(reduced_shape, prefer_literal=True)
def _reduced_shape(x, axis, keepdims):
    keep = _constant_keepdims(keepdims)
    rank = x.ndim if keep else x.ndim - naxes(axis, x.ndim)

    def impl(x, axis, keepdims):
        flags = axis_flags(axis, x.ndim)
        shape = np.empty(rank, np.intp)
        j = 0
        for i in range(x.ndim):
            if not flags[i] or keep:
                shape[j] = 1 if flags[i] else x.shape[i]
                j += 1
        return shape
    return impl


def _constant_keepdims(keepdims):
    keep = constant(keepdims)
    if not isinstance(keep, bool):
        raise TypingError(f"srcad: keepdims must be a constant True or False, got {keepdims}")
    return keep


@overload(shape_reduced, prefer_literal=True)
def _shape_reduced(v, x, axis, keepdims):
    keep = _constant_keepdims(keepdims)
    rank = x.ndim if keep else x.ndim - naxes(axis, x.ndim)
    if rank == 0:
        return lambda v, x, axis, keepdims: v[0]
    return lambda v, x, axis, keepdims: \
        v.reshape(to_fixed_tuple(reduced_shape(x, axis, keepdims), rank))


def shaped_like(flat, x):
    """The 1-D `flat` in the shape of `x` (a scalar when `x` is one)."""
    return np.reshape(flat, np.shape(x))[()]


@overload(shaped_like)
def _shaped_like(flat, x):
    if not is_array(x):
        return lambda flat, x: flat[0]
    return lambda flat, x: np.ascontiguousarray(flat).reshape(x.shape)


def shape_of(x):
    """The shape of an array, or a shape itself (a tuple)."""
    return x if isinstance(x, tuple) else np.shape(x)


@overload(shape_of)
def _shape_of(x):
    if isinstance(x, types.BaseTuple):
        return lambda x: x
    return lambda x: x.shape


def int_array(values):
    """An int, a tuple of ints or an integer array, as a 1-D intp array."""
    return np.atleast_1d(np.asarray(values, dtype=np.intp))


@overload(int_array)
def _int_array(values):
    if isinstance(values, types.Integer):
        return lambda values: np.full(1, values, np.intp)
    if is_array(values):
        return lambda values: np.ascontiguousarray(values).ravel().astype(np.intp)

    def from_tuple(values):
        out = np.empty(len(values), np.intp)
        i = 0
        for v in literal_unroll(values):  # (a constant tuple may hold literal ints)
            out[i] = v
            i += 1  # noqa: SIM113 (literal_unroll has no enumerate)
        return out
    return from_tuple


# ---- per-row primitives -------------------------------------------------------------------

def rowwise(reduce):
    """A function applying the 1-D reduction `reduce` to each row of a 2-D array."""
    def python(x2):
        return reduce(x2, axis=1)

    @numba_form(python)
    def each_row(x2):
        out = np.empty(x2.shape[0], x2.dtype)
        for i in range(x2.shape[0]):
            out[i] = reduce(x2[i])
        return out
    python.__name__ = python.__qualname__ = "row_" + reduce.__name__
    return python


row_sum = rowwise(np.sum)  # (Numba's own np.sum(x, axis=1) compiles for seconds)
row_max = rowwise(np.max)
row_min = rowwise(np.min)
row_prod = rowwise(np.prod)


def scale_rows(x2, v):
    """Row i of `x2` times `v[i]`."""
    return x2 * v[:, None]


@overload(scale_rows)
def _scale_rows(x2, v):
    dtype = result_dtype(x2, v)

    def impl(x2, v):
        out = np.empty(x2.shape, dtype)
        for i in range(x2.shape[0]):
            for j in range(x2.shape[1]):
                out[i, j] = x2[i, j] * v[i]
        return out
    return impl


def repeat_rows(v, n):
    """A 2-D array whose row i is `n` copies of `v[i]`."""
    return np.repeat(np.asarray(v)[:, None], n, axis=1)


@numba_form(repeat_rows)
def _repeat_rows(v, n):
    out = np.empty((v.size, n), v.dtype)
    for i in range(v.size):
        for j in range(n):
            out[i, j] = v[i]
    return out
