"""Sorting, quantiles, interpolation and array rearrangements: adjoints, and the forward forms
Numba lacks (an `axis` for sort, median, quantile, diff, roll, flip, repeat; tile), for plain
Python and Numba nopython code.

Rearrangements (sort, tile, repeat, take, and quantiles' picks) are gathers: every entry of the
result is an entry of `x`. Their adjoint scatters `g` back, adding where an entry was picked
more than once (np.add.at). `positions(x)` (the flat index of each entry) pushed through the
same forward function says where each entry of the result came from.

Conventions: sorting is stable, so tied entries keep their order and the gradient follows that
permutation; quantiles use linear interpolation (NumPy's default) and send g (1 - t) and g t
to the two entries they interpolate; a NaN makes the quantile NaN, as in NumPy.
"""

import numpy as np
from numba import literal_unroll, literally
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype
from numba.np.unsafe.ndarray import to_fixed_tuple

from .rows import (
    constant,
    float_rows,
    from_rows,
    int_array,
    is_array,
    is_none,
    naxes,
    numba_form,
    reduced_shape,
    repeat_rows,
    require_array,
    result_dtype,
    row_sum,
    rows_to,
    rows_vector,
    scale_rows,
    shape_reduced,
    shaped_like,
    to_rows,
    unmoved,
)

# ---- gathers and scatters -----------------------------------------------------------------


@register_jitable
def positions(x):
    """The flat (C order) index of each entry of `x`, in the shape of `x`."""
    return np.arange(x.size).reshape(x.shape)


def scatter_add(g, index, x):
    """An array shaped like `x`, holding the sum of the entries of `g` sent to each flat
    position by `index` (of g's size): the adjoint of a gather, as np.add.at."""
    total = np.bincount(np.ravel(index), weights=np.ravel(g), minlength=np.size(x))
    return total.astype(np.result_type(g, np.float32)).reshape(np.shape(x))


@numba_form(scatter_add)
def _scatter_add(g, index, x):
    flat_g = np.ascontiguousarray(g).reshape(g.size)
    flat_index = np.ascontiguousarray(index).reshape(index.size)
    out = np.zeros(x.size, flat_g.dtype)
    for k in range(flat_index.size):
        out[flat_index[k]] += flat_g[k]
    return out.reshape(x.shape)


def row_argsort(x2):
    """The stable argsort of each row."""
    return np.argsort(x2, axis=1, kind="stable")


@numba_form(row_argsort)
def _row_argsort(x2):
    out = np.empty(x2.shape, np.intp)
    for i in range(x2.shape[0]):
        order = np.argsort(x2[i], kind="mergesort")
        for j in range(x2.shape[1]):  # (a row assignment would compile its error message)
            out[i, j] = order[j]
    return out


def gather_rows(x2, index2):
    """Row i of the result is x2[i, index2[i]]."""
    return np.take_along_axis(x2, index2, axis=1)


@numba_form(gather_rows)
def _gather_rows(x2, index2):
    out = np.empty(index2.shape, x2.dtype)
    for i in range(index2.shape[0]):
        for j in range(index2.shape[1]):
            out[i, j] = x2[i, index2[i, j]]
    return out


def take_along(x, indices, axis=None):
    """`np.take(x, indices, axis)` (Numba's np.take fails for indices of rank 2 and more)."""
    return np.take(x, indices, axis)


@overload(take_along)
def _take_along(x, indices, axis=None):
    require_array(x, "the argument of take")
    if is_none(axis):
        return lambda x, indices, axis=None: np.take(x, indices)
    index_rank = indices.ndim if is_array(indices) else 0
    rank = x.ndim - 1 + index_rank

    def impl(x, indices, axis=None):
        x2 = to_rows(x, axis)
        picks = int_array(indices)
        n = x2.shape[1]
        out = np.empty((x2.shape[0], picks.size), x2.dtype)
        for j in range(picks.size):
            if picks[j] < -n or picks[j] >= n:
                raise IndexError("index out of bounds")
            column = picks[j] % n
            for i in range(x2.shape[0]):
                out[i, j] = x2[i, column]
        # result axes: x's before `axis`, the indices', x's after; `out` has them as
        # (before, after, indices)
        a = axis % x.ndim
        shape = np.empty(rank, np.intp)
        perm = np.empty(rank, np.intp)
        for i in range(a):
            shape[i] = x.shape[i]
            perm[i] = i
        for i in range(index_rank):
            shape[a + i] = np.shape(indices)[i]
            perm[rank - index_rank + i] = a + i
        for i in range(a + 1, x.ndim):
            shape[i - 1 + index_rank] = x.shape[i]
            perm[i - 1] = i - 1 + index_rank
        return unmoved(out, to_fixed_tuple(shape, rank), perm)
    return impl


@register_jitable
def take_adjoint(g, x, indices, axis=None):
    """x̄ = g added into zeros at the entries np.take(x, indices, axis) picked: np.add.at,
    the adjoint of a gather (x[indices] is np.take(x, indices, axis=0))."""
    picked = take_along(positions(x), indices, axis)  # (a number index picks a number)
    return scatter_add(np.asarray(g).ravel(), np.asarray(picked).ravel(), x)


def take_along_axis(x, indices, axis=-1):
    """`np.take_along_axis(x, indices, axis)`, its indices checked (Numba's are not)."""
    return np.take_along_axis(x, indices, axis)


@overload(take_along_axis)
def _take_along_axis(x, indices, axis=-1):
    require_array(x, "the array of take_along_axis")
    if not is_array(indices) or not isinstance(indices.dtype, types.Integer):
        raise TypingError("srcad: np.take_along_axis takes an array of integer indices")
    if is_none(axis):
        if indices.ndim != 1:
            raise TypingError("srcad: np.take_along_axis with axis=None takes 1-D indices")
        return lambda x, indices, axis=-1: _gathered(
            np.ascontiguousarray(x).reshape(1, x.size),
            np.ascontiguousarray(indices).reshape(1, indices.size)
        ).reshape(indices.size)
    if indices.ndim != x.ndim:
        raise TypingError("srcad: np.take_along_axis takes indices of the array's rank")
    rank = x.ndim

    def impl(x, indices, axis=-1):
        if axis < -rank or axis >= rank:
            raise ValueError("axis is out of bounds for the array's dimension")
        a = axis + rank if axis < 0 else axis
        x_shape = np.empty(rank, np.intp)  # both broadcast along every axis but `a`
        index_shape = np.empty(rank, np.intp)
        for d in range(rank):
            n, m = x.shape[d], indices.shape[d]
            if d != a and n != m and n != 1 and m != 1:
                raise IndexError("shape mismatch: the array and the indices cannot be broadcast")
            x_shape[d] = n if d == a or m == 1 else m
            index_shape[d] = m if d == a or n == 1 else n
        picks = np.broadcast_to(indices, to_fixed_tuple(index_shape, rank))
        out = _gathered(to_rows(np.broadcast_to(x, to_fixed_tuple(x_shape, rank)), a),
                        to_rows(picks, a))
        return from_rows(out, picks, a)
    return impl


@register_jitable
def _gathered(x2, index2):
    """out[i, j] = x2[i, index2[i, j]], an index from -n counting from the row's end."""
    n = x2.shape[1]
    out = np.empty(index2.shape, x2.dtype)
    for i in range(index2.shape[0]):
        for j in range(index2.shape[1]):
            k = index2[i, j]
            if k < -n or k >= n:
                raise IndexError("index out of bounds in np.take_along_axis")
            out[i, j] = x2[i, k + n if k < 0 else k]
    return out


@register_jitable
def take_along_axis_adjoint(g, x, indices, axis=-1):
    """x̄ = g added into zeros at the entries np.take_along_axis(x, indices, axis) picked."""
    picked = take_along_axis(positions(x), indices, axis)
    return scatter_add(np.asarray(g).ravel(), picked.ravel(), x)


@register_jitable
def add_at_adjoint_values(g, indices):
    """The adjoint of the values b in np.add.at(a, indices, b) (integer indices along axis 0):
    ḡ gathered, g[indices]; the adjoint of a itself is g."""
    return np.take(g, indices, 0)


# ---- sort ---------------------------------------------------------------------------------

def sort_along(x, axis=-1):
    """`np.sort(x, axis)` (flattened when axis is None)."""
    return np.sort(x, axis=axis)


@register_jitable
def _sorted_rows(x2):
    return gather_rows(x2, row_argsort(x2))


def _along_rows(row_kernel, what):
    """The overload of a function of x and an axis computed by `row_kernel` on each row of
    to_rows(x, axis) (x flattened for axis=None)."""
    def typer(x, axis=-1):
        require_array(x, what)
        if is_none(axis):
            return lambda x, axis=-1: row_kernel(to_rows(x, None)).reshape(x.size)
        return lambda x, axis=-1: from_rows(row_kernel(to_rows(x, axis)), x, axis)
    return typer


overload(sort_along)(_along_rows(_sorted_rows, "the argument of sort"))


def argsort_along(x, axis=-1):
    """`np.argsort(x, axis, kind="stable")`; compiled for any rank (Numba's takes vectors), and
    stable whatever the kind asked for (a stable order is also one of quicksort's)."""
    return np.argsort(x, axis=axis, kind="stable")


overload(argsort_along)(_along_rows(row_argsort, "the argument of argsort"))


@register_jitable
def sort_adjoint(g, x, axis=-1):
    """x̄[order] = g, with order the stable argsort of x along the axis (flattened for None)."""
    origin = gather_rows(to_rows(positions(x), axis), row_argsort(to_rows(x, axis)))
    return scatter_add(to_rows(g, axis), origin, x)


@register_jitable
def sort_tangent(t, x, ans, axis=-1):
    """The tangent of `ans = np.sort(x, axis)`: t in the stable order of x."""
    return from_rows(gather_rows(to_rows(t, axis), row_argsort(to_rows(x, axis))), ans, axis)


# ---- median, quantile, percentile ---------------------------------------------------------

def quantile_points(q, n):
    """For each quantile q (a number or 1-D): the sorted positions lo, hi it interpolates and
    the weight t of hi, NumPy's linear method (position q (n - 1)); q outside [0, 1] raises."""
    q = np.ravel(q)
    if np.any(q < 0) or np.any(q > 1):
        raise ValueError("Quantiles must be in the range [0, 1]")
    where = q * (n - 1)
    lo = np.floor(where).astype(np.intp)
    return lo, np.minimum(lo + 1, n - 1), where - lo


@overload(quantile_points)
def _quantile_points(q, n):
    if not is_array(q):
        return lambda q, n: _points(np.full(1, q, np.float64), n)
    return lambda q, n: _points(np.ascontiguousarray(q).ravel(), n)


@register_jitable
def _points(q, n):
    lo = np.empty(q.size, np.intp)
    hi = np.empty(q.size, np.intp)
    t = np.empty(q.size)
    for j in range(q.size):
        if not 0 <= q[j] <= 1:
            raise ValueError("Quantiles must be in the range [0, 1]")
        where = q[j] * (n - 1)
        lo[j] = int(np.floor(where))
        hi[j] = min(lo[j] + 1, n - 1)
        t[j] = where - lo[j]
    return lo, hi, t


@register_jitable
def _quantile_rows(x2, q):
    """The quantiles q of each row: an array (number of q, number of rows)."""
    if x2.shape[1] == 0:  # (NumPy's error: it reads the last entry for NaNs)
        raise IndexError("index -1 is out of bounds for axis 0 with size 0")
    lo, hi, t = quantile_points(q, x2.shape[1])
    ordered = _sorted_rows(x2)
    out = np.empty((lo.size, x2.shape[0]), x2.dtype)
    for j in range(lo.size):
        for i in range(x2.shape[0]):
            below, above = ordered[i, lo[j]], ordered[i, hi[j]]
            step = above - below
            # NumPy's lerp: from the nearer end, so t = 0 and t = 1 give the entries exactly
            value = above - step * (1 - t[j]) if t[j] >= 0.5 else below + step * t[j]
            out[j, i] = np.nan if np.isnan(ordered[i, -1]) else value  # (NaN sorts last)
    return out


def quantile_along(x, q, axis=None, keepdims=False):
    """`np.quantile(x, q, axis, keepdims=keepdims)` (linear interpolation; q a number or 1-D)."""
    return np.quantile(x, q, axis=axis, keepdims=keepdims)


def percentile_along(x, q, axis=None, keepdims=False):
    """`np.percentile(x, q, axis, keepdims=keepdims)`."""
    return np.percentile(x, q, axis=axis, keepdims=keepdims)


def _quantiles_shaped(x, q, axis, keepdims):
    """(typing time) The compiled function giving `values`, an array (number of q, number of
    rows), the shape of the quantiles q (a number or an array) of x: q's shape followed by the
    reduction's."""
    if not isinstance(constant(keepdims), bool):
        return None
    if not is_array(q):
        return register_jitable(lambda values, x, q, axis, keepdims:
                                shape_reduced(values[0], x, axis, keepdims))
    q_rank = q.ndim
    rank = q_rank + (x.ndim if constant(keepdims) else x.ndim - naxes(axis, x.ndim))

    def several(values, x, q, axis, keepdims):
        shape = np.empty(rank, np.intp)
        shape[:q_rank] = np.asarray(q.shape)
        shape[q_rank:] = reduced_shape(x, axis, keepdims)
        return values.reshape(to_fixed_tuple(shape, rank))
    return register_jitable(several)


def _quantile_overload(python, scale):
    """Numba's form of `python` (quantiles of q / scale)."""
    @overload(python, prefer_literal=True)
    def _compiled(x, q, axis=None, keepdims=False):
        require_array(x, "the argument of quantile")
        if isinstance(q, types.BaseTuple):  # (the q of a list written in the call)
            return lambda x, q, axis=None, keepdims=False: python(x, np.array(q), axis, keepdims)
        shaped = _quantiles_shaped(x, q, axis, keepdims)
        if shaped is None:
            return lambda x, q, axis=None, keepdims=False: literally(keepdims)
        return lambda x, q, axis=None, keepdims=False: \
            shaped(_quantile_rows(float_rows(x, axis), q / scale), x, q, axis, keepdims)


_quantile_overload(quantile_along, 1.0)
_quantile_overload(percentile_along, 100.0)


@register_jitable
def _quantile_tangent_rows(t2, x2, q):
    """The tangents of the quantiles q of each row of x2 along t2: (1 - w) t at sorted position
    lo plus w t at hi (the order is fixed near x; ties take the stable sort's)."""
    lo, hi, w = quantile_points(q, x2.shape[1])
    order = row_argsort(x2)
    out = np.empty((lo.size, x2.shape[0]), t2.dtype)
    for j in range(lo.size):
        for i in range(x2.shape[0]):
            out[j, i] = t2[i, order[i, lo[j]]] * (1 - w[j]) + t2[i, order[i, hi[j]]] * w[j]
    return out


def quantile_tangent(t, x, q, axis=None, keepdims=False):
    """The tangent of `np.quantile(x, q, axis, keepdims=keepdims)` along t."""
    values = _quantile_tangent_rows(to_rows(t, axis), to_rows(x, axis), q)
    return values.reshape(np.shape(np.quantile(x, q, axis=axis, keepdims=keepdims)))


def percentile_tangent(t, x, q, axis=None, keepdims=False):
    """The tangent of `np.percentile(x, q, axis, keepdims=keepdims)` along t."""
    return quantile_tangent(t, x, np.asarray(q) / 100.0, axis, keepdims)


def _quantile_tangent_overload(python, scale):
    @overload(python, prefer_literal=True)
    def _compiled(t, x, q, axis=None, keepdims=False):
        if isinstance(q, types.BaseTuple):
            return lambda t, x, q, axis=None, keepdims=False: \
                python(t, x, np.array(q), axis, keepdims)
        shaped = _quantiles_shaped(x, q, axis, keepdims)
        if shaped is None:
            return lambda t, x, q, axis=None, keepdims=False: literally(keepdims)
        return lambda t, x, q, axis=None, keepdims=False: shaped(
            _quantile_tangent_rows(to_rows(t, axis), to_rows(x, axis), q / scale), x, q, axis,
            keepdims)


_quantile_tangent_overload(quantile_tangent, 1.0)
_quantile_tangent_overload(percentile_tangent, 100.0)


def median_along(x, axis=None, keepdims=False):
    """`np.median(x, axis, keepdims=keepdims)`."""
    return np.median(x, axis=axis, keepdims=keepdims)


@register_jitable
def _median_rows(x2):
    n = x2.shape[1]
    ordered = _sorted_rows(x2)
    out = np.full(x2.shape[0], np.nan, x2.dtype)  # (the median of no entries: NaN)
    for i in range(x2.shape[0] if n else 0):
        if n % 2 == 1:
            out[i] = ordered[i, n // 2]
        else:  # (NumPy averages the middle pair: (a + b) / 2)
            out[i] = (ordered[i, n // 2 - 1] + ordered[i, n // 2]) / 2.0
        if np.isnan(ordered[i, -1]):
            out[i] = np.nan
    return out


@overload(median_along, prefer_literal=True)
def _median_along(x, axis=None, keepdims=False):
    require_array(x, "the argument of median")
    if not isinstance(constant(keepdims), bool):
        return lambda x, axis=None, keepdims=False: literally(keepdims)
    return lambda x, axis=None, keepdims=False: \
        shape_reduced(_median_rows(float_rows(x, axis)), x, axis, keepdims)


@register_jitable
def quantile_adjoint(g, x, q, axis=None):
    """x̄ = g (1 - t) at the entry of sorted position lo and g t at hi, for each quantile q
    at sorted position q (n - 1) = lo + t (the stable sort's permutation)."""
    x2 = to_rows(x, axis)
    lo, hi, t = quantile_points(q, x2.shape[1])
    order = row_argsort(x2)
    g2 = np.ascontiguousarray(np.asarray(g)).reshape((lo.size, x2.shape[0]))
    weights = np.zeros(x2.shape, g2.dtype)
    rows = x2.shape[0] if x2.shape[1] else 0  # (the quantile of no entries is NaN: no adjoint)
    for j in range(lo.size):
        for i in range(rows):
            weights[i, order[i, lo[j]]] += g2[j, i] * (1 - t[j])
            weights[i, order[i, hi[j]]] += g2[j, i] * t[j]
    return from_rows(weights, x, axis)


@register_jitable
def percentile_adjoint(g, x, q, axis=None):
    """x̄ of np.percentile: `quantile_adjoint` at q / 100."""
    return quantile_adjoint(g, x, np.asarray(q) / 100.0, axis)


@register_jitable
def median_adjoint(g, x, axis=None):
    """x̄ = g at the middle entry, g / 2 at each of the middle two (the 0.5 quantile's)."""
    return quantile_adjoint(g, x, 0.5, axis)


# ---- interp -------------------------------------------------------------------------------
# x lies in segment i = [xp[i], xp[i+1]) (a knot belongs to the segment on its right), at
# x = xp[i] + t (xp[i+1] - xp[i]); i = -1 left of xp[0], i = n - 1 from xp[-1] on.

def _segments(x, xp):
    i = np.searchsorted(xp, x, side="right") - 1
    inside = (i >= 0) & (i < xp.size - 1)
    lo = np.where(inside, i, 0)
    width = np.where(inside, xp[np.minimum(lo + 1, xp.size - 1)] - xp[lo], 1.0)
    return i, inside, lo, width


def interp_slopes(g, x, xp, fp):
    """g (fp[i+1] - fp[i]) / (xp[i+1] - xp[i]) for each x (1-D) in segment i, 0 outside."""
    _, inside, lo, width = _segments(x, xp)
    return np.where(inside, g * (fp[np.minimum(lo + 1, xp.size - 1)] - fp[lo]) / width, 0.0)


@numba_form(interp_slopes)
def _interp_slopes(g, x, xp, fp):
    out = np.zeros(x.size)
    for k in range(x.size):
        i = np.searchsorted(xp, x[k], side="right") - 1
        if 0 <= i < xp.size - 1:
            out[k] = g[k] * (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
    return out


def interp_weights(g, x, xp, to_first, to_last):
    """The sum over x (1-D) of g (1 - t) at fp[i] and g t at fp[i+1]; g at fp[0] left of xp[0]
    if `to_first`, at fp[-1] from xp[-1] on if `to_last`."""
    i, inside, lo, width = _segments(x, xp)
    t = (x - xp[lo]) / width
    n = xp.size
    weights = np.bincount(lo, np.where(inside, g * (1 - t), 0.0), n) + \
        np.bincount(np.minimum(lo + 1, n - 1), np.where(inside, g * t, 0.0), n)
    weights[0] += np.sum(g[i < 0]) if to_first else 0.0
    weights[-1] += np.sum(g[i >= n - 1]) if to_last else 0.0
    return weights


@numba_form(interp_weights)
def _interp_weights(g, x, xp, to_first, to_last):
    n = xp.size
    out = np.zeros(n)
    for k in range(x.size):
        i = np.searchsorted(xp, x[k], side="right") - 1
        if 0 <= i < n - 1:
            t = (x[k] - xp[i]) / (xp[i + 1] - xp[i])
            out[i] += g[k] * (1 - t)
            out[i + 1] += g[k] * t
        elif i < 0 and to_first:
            out[0] += g[k]
        elif i >= n - 1 and to_last:
            out[n - 1] += g[k]
    return out


def flat_like(values, like):
    """`values` (a number, or an array of the size of `like`) as a 1-D array of that size."""
    return np.ravel(values * np.ones(np.shape(like)))


@overload(flat_like)
def _flat_like(values, like):
    if is_array(values):
        return lambda values, like: np.ascontiguousarray(values).ravel()
    if is_array(like):
        return lambda values, like: np.full(like.size, values)
    return lambda values, like: np.full(1, values)


@register_jitable
def interp_adjoint_x(g, x, xp, fp, left=None, right=None):
    """x̄ = g (fp[i+1] - fp[i]) / (xp[i+1] - xp[i]) on segment i, 0 outside [xp[0], xp[-1])."""
    return shaped_like(interp_slopes(flat_like(g, x), flat_like(x, x), xp, fp), x)


@register_jitable
def interp_adjoint_fp(g, x, xp, fp, left=None, right=None):
    """f̄p[i] += g (1 - t), f̄p[i+1] += g t on segment i; outside, g goes to fp[0] (fp[-1])
    unless `left` (`right`) replaces it."""
    return interp_weights(flat_like(g, x), flat_like(x, x), xp, left is None, right is None)


# ---- neighbouring pairs: trapezoid and diff --------------------------------------------

def row_pairs(x2, a, b):
    """a x_j + b x_{j+1} for each neighbouring pair of each row (one column fewer)."""
    return a * x2[:, :-1] + b * x2[:, 1:]


@numba_form(row_pairs)
def _row_pairs(x2, a, b):
    out = np.empty((x2.shape[0], max(x2.shape[1] - 1, 0)), x2.dtype)
    for i in range(x2.shape[0]):
        for j in range(x2.shape[1] - 1):
            out[i, j] = a * x2[i, j] + b * x2[i, j + 1]
    return out


def row_pairs_adjoint(w2, a, b):
    """The transpose of `row_pairs`: a w_i + b w_{i-1}, the missing terms 0 (a column more)."""
    out = np.zeros((w2.shape[0], w2.shape[1] + 1), w2.dtype)
    out[:, :-1] += a * w2
    out[:, 1:] += b * w2
    return out


@numba_form(row_pairs_adjoint)
def _row_pairs_adjoint(w2, a, b):
    out = np.zeros((w2.shape[0], w2.shape[1] + 1), w2.dtype)
    for i in range(w2.shape[0]):
        for j in range(w2.shape[1]):
            out[i, j] += a * w2[i, j]
            out[i, j + 1] += b * w2[i, j]
    return out


@register_jitable
def _widths(x, dx, y2, axis):
    """x_{j+1} - x_j along the axis, one row per row of y2 (dx everywhere when x is None)."""
    if x is None:
        return np.full((y2.shape[0], max(y2.shape[1] - 1, 0)), dx * 1.0)
    if x.ndim == 1:
        return repeat_rows(np.ones(y2.shape[0]), 1) * row_pairs(x.reshape((1, x.size)), -1, 1)
    return row_pairs(to_rows(x, axis), -1, 1)


@register_jitable
def trapezoid_along(y, x=None, dx=1.0, axis=-1):
    """`np.trapezoid(y, x, dx, axis)`: sum over the intervals of width times mean height."""
    y2 = float_rows(y, axis)
    totals = row_sum(_widths(x, dx, y2, axis) * row_pairs(y2, 0.5, 0.5))
    return shape_reduced(totals, y, axis, False)


@register_jitable
def trapezoid_adjoint_y(g, y, x=None, dx=1.0, axis=-1):
    """ȳ_i = g (w_{i-1} + w_i) / 2 with w the interval widths (missing terms 0)."""
    y2 = to_rows(y, axis)
    # (the transpose has a column more than the widths, but none where y has none)
    weights = row_pairs_adjoint(_widths(x, dx, y2, axis), 0.5, 0.5)[:, :y2.shape[1]]
    return from_rows(scale_rows(weights, rows_vector(g, y2.shape[0])), y, axis)


@register_jitable
def trapezoid_adjoint_x(g, y, x, axis=-1):
    """x̄_i = g (h_{i-1} - h_i), h_i = (y_i + y_{i+1}) / 2 the mean heights (missing terms 0);
    summed over the rows when x is 1-D."""
    y2 = to_rows(y, axis)
    heights = row_pairs(y2, 0.5, 0.5)
    per_row = scale_rows(row_pairs_adjoint(heights, -1, 1)[:, :y2.shape[1]],
                         rows_vector(g, y2.shape[0]))
    if x.ndim == 1:
        return row_sum(_transpose(per_row))
    return from_rows(per_row, x, axis)


@register_jitable
def trapezoid_adjoint_dx(g, y, axis=-1):
    """d̄x = sum g trapezoid(y, dx=1) (the integral is linear in dx)."""
    return np.sum(np.asarray(g) * np.asarray(trapezoid_along(y, None, 1.0, axis)))


@register_jitable
def _transpose(a):
    return np.ascontiguousarray(a.T)


def diff_along(x, n=1, axis=-1):
    """`np.diff(x, n, axis)`."""
    return np.diff(x, n, axis)


@overload(diff_along)
def _diff_along(x, n=1, axis=-1):
    require_array(x, "the argument of diff")
    ndim = x.ndim

    def impl(x, n=1, axis=-1):
        x2 = to_rows(x, axis)
        for _ in range(min(n, x2.shape[1])):  # (past the length: empty, as NumPy's)
            x2 = row_pairs(x2, -1, 1)
        shape = np.array(x.shape)
        shape[axis] = x2.shape[1]
        return rows_to(x2, to_fixed_tuple(shape, ndim), axis)
    return impl


@register_jitable
def diff_adjoint(g, x, n=1, axis=-1):
    """x̄ = (D^T)^n g, with D the first difference along the axis: (D^T g)_j = g_{j-1} - g_j
    (n at most the axis's length: differences past it are empty)."""
    g2 = to_rows(g, axis)
    for _ in range(min(n, x.shape[axis % x.ndim])):
        g2 = row_pairs_adjoint(g2, -1, 1)
    return from_rows(g2, x, axis)


# ---- transpose with axes, diagonal ----------------------------------------------------------

def transpose_adjoint(g, axes=None):
    """x̄ of np.transpose(x, axes): g transposed by the inverse permutation."""
    return np.transpose(g) if axes is None else np.transpose(g, np.argsort(np.mod(axes, g.ndim)))


@overload(transpose_adjoint)
def _transpose_adjoint(g, axes=None):
    if is_none(axes):
        return lambda g, axes=None: np.transpose(g)
    if not isinstance(axes, types.UniTuple) or not isinstance(axes.dtype, types.Integer):
        raise TypingError("srcad: compiled np.transpose takes its axes as a tuple of ints")
    n = axes.count

    def impl(g, axes=None):
        inverse = np.empty(n, np.int64)
        for k in range(n):
            inverse[axes[k] % n] = k
        return np.transpose(g, to_fixed_tuple(inverse, n))
    return impl


def flat(x):
    """`np.ravel(x)`, of a number too (an array of one element): what np.append flattens its
    arguments to."""
    return np.ravel(x)


@overload(flat)
def _flat(x):
    if isinstance(x, types.Array):
        return lambda x: np.ravel(x)
    return lambda x: np.full(1, x)


def outer_operand(a, shape):
    """`a` given a trailing axis of length 1 per axis of `shape`: `ufunc.outer(a, b)` is
    `ufunc(outer_operand(a, np.shape(b)), b)`."""
    return np.reshape(a, np.shape(a) + (1,) * len(shape))


@overload(outer_operand)
def _outer_operand(a, shape):
    if not isinstance(shape, types.BaseTuple):
        raise TypingError("srcad: outer_operand takes the other operand's shape")
    if not isinstance(a, types.Array):
        return lambda a, shape: a  # (a number broadcasts against b as it is)
    ones = (1,) * len(shape)
    return lambda a, shape: np.ascontiguousarray(a).reshape(a.shape + ones)


# ---- np.gradient --------------------------------------------------------------------------
# np.gradient(f, h, axis=k, edge_order=e) of one spacing h: central differences inside, one-sided
# ones of order e at both ends, in NumPy's formulas; along the rows of f's to_rows form.

@register_jitable
def _gradient_rows(f2, h, edge_order):
    m, n = f2.shape
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at least "
                         "(edge_order + 1) elements are required.")
    out = np.empty((m, n))
    for i in range(m):
        for j in range(1, n - 1):
            out[i, j] = (f2[i, j + 1] - f2[i, j - 1]) / (2.0 * h)
        if edge_order == 1:
            out[i, 0] = (f2[i, 1] - f2[i, 0]) / h
            out[i, n - 1] = (f2[i, n - 1] - f2[i, n - 2]) / h
        else:
            out[i, 0] = -1.5 / h * f2[i, 0] + 2.0 / h * f2[i, 1] + -0.5 / h * f2[i, 2]
            out[i, n - 1] = 0.5 / h * f2[i, n - 3] + -2.0 / h * f2[i, n - 2] + \
                1.5 / h * f2[i, n - 1]
    return out


@register_jitable
def _gradient_rows_adjoint(g2, h, edge_order):
    """The transpose of _gradient_rows: each g element spread back to the values it read."""
    m, n = g2.shape
    out = np.zeros((m, n))
    for i in range(m):
        for j in range(1, n - 1):
            out[i, j + 1] += g2[i, j] / (2.0 * h)
            out[i, j - 1] -= g2[i, j] / (2.0 * h)
        first, last = g2[i, 0], g2[i, n - 1]
        if edge_order == 1:
            out[i, 1] += first / h
            out[i, 0] -= first / h
            out[i, n - 1] += last / h
            out[i, n - 2] -= last / h
        else:
            out[i, 0] += -1.5 / h * first
            out[i, 1] += 2.0 / h * first
            out[i, 2] += -0.5 / h * first
            out[i, n - 3] += 0.5 / h * last
            out[i, n - 2] += -2.0 / h * last
            out[i, n - 1] += 1.5 / h * last
    return out


def gradient(f, h=1.0, axis=None, edge_order=1):
    """np.gradient(f, h, axis=axis, edge_order=edge_order) of one spacing, along one axis (f a
    vector where axis is None)."""
    return np.gradient(f, h, axis=axis, edge_order=edge_order)


def gradient_adjoint(gy, h=1.0, axis=None, edge_order=1):
    """The adjoint of f in np.gradient(f, h, axis=axis, edge_order=edge_order), for its adjoint
    gy."""
    along = 0 if axis is None else axis
    rows = _gradient_rows_adjoint(to_rows(np.asarray(gy, np.float64), along), h, edge_order)
    return from_rows(rows, gy, along).astype(np.result_type(gy, 1.0))


def _gradient_along_rows(rows_kernel):
    """The compiled form of gradient or gradient_adjoint: `rows_kernel` on the rows of f along
    the axis, in float64 (float32 for float32 f). (typeinfer refuses coordinates for h, and a
    matrix without an axis, by name first.)"""
    def typed(f, h=1.0, axis=None, edge_order=1):
        require_array(f, "np.gradient")
        if is_none(axis) and f.ndim != 1:
            raise TypingError("srcad: np.gradient of an array of several axes takes axis=")
        out = np.float32 if f.dtype == types.float32 else np.float64

        def impl(f, h=1.0, axis=None, edge_order=1):
            along = 0 if axis is None else axis
            rows = rows_kernel(to_rows(np.asarray(f, np.float64), along), h, edge_order)
            return from_rows(rows, f, along).astype(out)
        return impl
    return typed


overload(gradient)(_gradient_along_rows(_gradient_rows))
overload(gradient_adjoint)(_gradient_along_rows(_gradient_rows_adjoint))


def diff_padding(v, x, axis):
    """What np.diff(x, axis=axis, prepend=v) puts before x (or append= after it): an array as
    it is; a number as an array of x's shape with one element along the axis."""
    if np.ndim(v):
        return v
    shape = list(np.shape(x))
    shape[axis] = 1
    return np.full(shape, v, np.result_type(x, v))


@overload(diff_padding)
def _diff_padding(v, x, axis):
    if isinstance(v, types.Array):
        return lambda v, x, axis: v
    rank, dtype = x.ndim, as_dtype(result_dtype(x, v))

    def spread(v, x, axis):
        shape = np.array(x.shape)
        shape[axis] = 1
        return np.full(to_fixed_tuple(shape, rank), v, dtype)
    return spread


def diagonal(x, offset=0):
    """`np.diagonal(x, offset)` of a matrix (compiled: a copy, which NumPy's read-only view
    cannot be told apart from)."""
    return np.diagonal(x, offset)


@overload(diagonal)
def _diagonal(x, offset=0):
    if not isinstance(x, types.Array) or x.ndim != 2:
        raise TypingError("srcad: compiled np.diagonal takes a matrix")
    return lambda x, offset=0: np.diag(x, offset)


# ---- roll, flip, tril, triu ---------------------------------------------------------------

def roll_along(x, shift, axis=None):
    """`np.roll(x, shift, axis)` (an int shift and axis None or an int, or a tuple of each)."""
    return np.roll(x, shift, axis)


def _int_tuples(shift, axis):
    return isinstance(shift, types.UniTuple) and isinstance(axis, types.UniTuple) and \
        isinstance(shift.dtype, types.Integer) and isinstance(axis.dtype, types.Integer)


@overload(roll_along)
def _roll_along(x, shift, axis=None):
    require_array(x, "the argument of roll")
    if _int_tuples(shift, axis):
        def each_axis(x, shift, axis=None):
            if len(shift) != len(axis):
                raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
            out = x
            for k in range(len(shift)):
                out = roll_along(out, shift[k], axis[k])
            return out
        return each_axis
    if not isinstance(shift, types.Integer) or not (is_none(axis) or
                                                    isinstance(axis, types.Integer)):
        raise TypingError("srcad: compiled roll takes an int shift and an int axis or None, "
                          "or tuples of them")

    def impl(x, shift, axis=None):
        x2 = to_rows(x, axis)
        n = x2.shape[1]
        out = np.empty_like(x2)
        for i in range(x2.shape[0]):
            for j in range(n):
                out[i, (j + shift) % n] = x2[i, j]
        return from_rows(out, x, axis)
    return impl


def roll_adjoint(g, shift, axis=None):
    """x̄ = np.roll(g, -shift, axis) (shift an int or, with axis a tuple, a tuple of ints)."""
    return np.roll(g, np.negative(shift), axis)


@overload(roll_adjoint)
def _roll_adjoint(g, shift, axis=None):
    if _int_tuples(shift, axis):
        def each_axis(g, shift, axis=None):
            out = g
            for k in range(len(shift)):
                out = roll_along(out, -shift[k], axis[k])
            return out
        return each_axis
    return lambda g, shift, axis=None: roll_along(g, -shift, axis)


def flip_along(x, axis=None):
    """`np.flip(x, axis)` (axis None, an int or a tuple of ints)."""
    return np.flip(x, axis)


@register_jitable
def _flip_one(x, axis):
    x2 = to_rows(x, axis)
    return from_rows(x2[:, ::-1], x, axis)


@overload(flip_along)
def _flip_along(x, axis=None):
    require_array(x, "the argument of flip")
    if is_none(axis):  # (reversing every axis of a C-ordered array reverses its entries)
        return lambda x, axis=None: np.ascontiguousarray(x).ravel()[::-1].copy().reshape(x.shape)
    if isinstance(axis, types.BaseTuple):
        def each(x, axis=None):
            out = np.ascontiguousarray(x)
            for a in literal_unroll(axis):
                out = _flip_one(out, a)
            return out
        return each
    return lambda x, axis=None: _flip_one(x, axis)


@register_jitable
def flip_adjoint(g, axis=None):
    """x̄ = np.flip(g, axis)."""
    return flip_along(g, axis)


@register_jitable
def tril_adjoint(g, k=0):
    """x̄ = np.tril(g, k)."""
    return np.tril(g, k)


@register_jitable
def triu_adjoint(g, k=0):
    """x̄ = np.triu(g, k)."""
    return np.triu(g, k)


# ---- tile and repeat ----------------------------------------------------------------------

def tile(x, reps):
    """`np.tile(x, reps)` (reps an int or a tuple of ints)."""
    return np.tile(x, reps)


@overload(tile)
def _tile(x, reps):
    require_array(x, "the argument of tile")
    count = 1 if isinstance(reps, types.Integer) else len(reps)
    rank = max(x.ndim, count)

    def impl(x, reps):
        x_shape = np.ones(rank, np.intp)  # (both padded with leading ones to the same rank)
        x_shape[rank - x.ndim:] = np.array(x.shape)
        out_shape = x_shape.copy()
        out_shape[rank - count:] *= int_array(reps)
        flat = np.ascontiguousarray(x).reshape(x.size)
        return flat[_tile_origins(x_shape, out_shape)].reshape(to_fixed_tuple(out_shape, rank))
    return impl


@register_jitable
def _tile_origins(x_shape, out_shape):
    """For each entry of the tiled array (C order), the flat index in x it copies."""
    rank = x_shape.size
    size = 1
    for d in range(rank):
        size *= out_shape[d]
    origins = np.empty(size, np.intp)
    index = np.zeros(rank, np.intp)
    for k in range(size):
        source = 0
        for d in range(rank):
            source = source * x_shape[d] + index[d] % x_shape[d]
        origins[k] = source
        d = rank - 1
        while d >= 0:
            index[d] += 1
            if index[d] < out_shape[d]:
                break
            index[d] = 0
            d -= 1
    return origins


@register_jitable
def tile_adjoint(g, x, reps):
    """x̄ = the sum of g over the tiles (each entry of x is copied once per tile)."""
    return scatter_add(g, tile(positions(x), reps), x)


# ---- pad ----------------------------------------------------------------------------------

_COPYING = {"edge": 0, "reflect": 1, "symmetric": 2, "wrap": 3}  # (modes whose border copies
# entries of x: each padded entry is one of x's, a linear map)


def pad_along(x, pad_width, mode="constant", constant_values=0):
    """`np.pad(x, pad_width, mode, constant_values)`: mode "constant" with one number, or a
    mode whose border copies x's entries (edge, reflect, symmetric, wrap)."""
    _require_pad_mode(mode, constant_values)
    if mode in _COPYING:
        return np.pad(x, pad_width, mode=mode)
    return np.pad(x, pad_width, constant_values=constant_values)


def _require_pad_mode(mode, constant_values):
    if mode not in _COPYING and (mode != "constant" or np.ndim(constant_values) != 0):
        raise ValueError("srcad differentiates np.pad in mode 'constant' with one number as "
                         "constant_values, or in mode 'edge', 'reflect', 'symmetric' or 'wrap' "
                         f"(got mode={mode!r}, constant_values={constant_values!r})")


@register_jitable
def _pad_shapes(x, pad_width):
    """(the widths before and after along each axis, x's shape, the padded shape): arrays."""
    widths = np.zeros((x.ndim, 2), np.intp) + np.asarray(pad_width)
    if np.any(widths < 0):
        raise ValueError("index can't contain negative values")
    shape = np.array(x.shape)
    return widths, shape, shape + widths[:, 0] + widths[:, 1]


@register_jitable
def pad_origins(x, pad_width):
    """The padded shape (an array) and, for each entry of x (C order), its flat index in
    the padded array."""
    rank = x.ndim
    widths, shape, out_shape = _pad_shapes(x, pad_width)
    origins = np.empty(x.size, np.intp)
    for k in range(x.size):
        rest, flat, stride = k, 0, 1
        for a in range(rank - 1, -1, -1):
            flat += (rest % shape[a] + widths[a, 0]) * stride
            rest //= shape[a]
            stride *= out_shape[a]
        origins[k] = flat
    return out_shape, origins


@register_jitable
def _copied_along(i, n, mode):
    """The index along an axis of length n that position i (counted from x's first entry)
    copies in a copying mode (_COPYING's numbers)."""
    if mode == 0:
        return min(max(i, 0), n - 1)
    if mode == 3:
        return i % n
    if mode == 1:
        if n == 1:
            return 0
        j = i % (2 * n - 2)
        return j if j < n else 2 * n - 2 - j
    j = i % (2 * n)
    return j if j < n else 2 * n - 1 - j


@register_jitable
def pad_sources(x, pad_width, mode):
    """The padded shape (an array) and, for each entry of the padded array (C order), the flat
    index of the entry of x it is, in a copying mode (_COPYING's numbers)."""
    rank = x.ndim
    widths, shape, out_shape = _pad_shapes(x, pad_width)
    for a in range(rank):
        if shape[a] == 0 and widths[a, 0] + widths[a, 1] > 0:
            raise ValueError("can't extend empty axis using modes other than 'constant' or "
                             "'empty'")
    sources = np.empty(np.prod(out_shape), np.intp)
    for k in range(sources.size):
        rest, flat, stride = k, 0, 1
        for a in range(rank - 1, -1, -1):
            position = rest % out_shape[a]
            rest //= out_shape[a]
            flat += _copied_along(position - widths[a, 0], shape[a], mode) * stride
            stride *= shape[a]
        sources[k] = flat
    return out_shape, sources


def _pad_mode(mode, name):
    """The copying mode's number, None for "constant" (a mode known when compiling: a literal
    string)."""
    value = constant(mode)
    if value != "constant" and value not in _COPYING:
        raise TypingError(f"srcad: compiled {name} takes mode 'constant', 'edge', 'reflect', "
                          f"'symmetric' or 'wrap' written in the call (got {mode})")
    return _COPYING.get(value)


@overload(pad_along, prefer_literal=True)
def _pad_along(x, pad_width, mode="constant", constant_values=0):
    require_array(x, "the argument of pad")
    if not isinstance(constant_values, (types.Number, types.Omitted, int, float)):
        raise TypingError("srcad: compiled pad takes one number as constant_values")
    if not isinstance(constant(mode), str):
        return lambda x, pad_width, mode="constant", constant_values=0: literally(mode)
    rank = x.ndim
    copying = _pad_mode(mode, "np.pad")

    def impl(x, pad_width, mode="constant", constant_values=0):
        if copying is not None:
            out_shape, sources = pad_sources(x, pad_width, copying)
            out = np.ascontiguousarray(x).reshape(x.size)[sources]
            return out.reshape(to_fixed_tuple(out_shape, rank))
        out_shape, origins = pad_origins(x, pad_width)
        out = np.full(to_fixed_tuple(out_shape, rank), constant_values, x.dtype)
        out.reshape(out.size)[origins] = np.ascontiguousarray(x).reshape(x.size)
        return out
    return impl


def pad_adjoint(g, x, pad_width, mode="constant", constant_values=0):
    """x̄ = the entries of g where x's entries went (the border is the constant's), or in a
    copying mode the sum of g over the entries that copy each of x's."""
    _require_pad_mode(mode, constant_values)  # (the tape's np.pad ran any mode)
    if mode in _COPYING:
        sources = pad_sources(x, pad_width, _COPYING[mode])[1]
        flat = np.ascontiguousarray(g).reshape(g.size)
        return np.bincount(sources, flat, x.size).astype(flat.dtype).reshape(x.shape)
    return np.ascontiguousarray(g).reshape(g.size)[pad_origins(x, pad_width)[1]].reshape(x.shape)


@overload(pad_adjoint, prefer_literal=True)
def _pad_adjoint(g, x, pad_width, mode="constant", constant_values=0):
    if not isinstance(constant(mode), str):
        return lambda g, x, pad_width, mode="constant", constant_values=0: literally(mode)
    copying = _pad_mode(mode, "np.pad's adjoint")

    def impl(g, x, pad_width, mode="constant", constant_values=0):
        flat = np.ascontiguousarray(g).reshape(g.size)
        if copying is not None:
            out = np.zeros(x.size, flat.dtype)
            sources = pad_sources(x, pad_width, copying)[1]
            for k in range(sources.size):
                out[sources[k]] += flat[k]
            return out.reshape(x.shape)
        return flat[pad_origins(x, pad_width)[1]].reshape(x.shape)
    return impl


def pad_border_sum(g, x, pad_width, mode="constant", constant_values=0):
    """The adjoint of constant_values: g summed over the border (0 in a copying mode)."""
    if mode in _COPYING:
        return 0.0
    return np.sum(g) - np.sum(pad_adjoint(g, x, pad_width, mode, constant_values))


@overload(pad_border_sum, prefer_literal=True)
def _pad_border_sum(g, x, pad_width, mode="constant", constant_values=0):
    if not isinstance(constant(mode), str):
        return lambda g, x, pad_width, mode="constant", constant_values=0: literally(mode)
    if _pad_mode(mode, "np.pad's adjoint") is not None:
        return lambda g, x, pad_width, mode="constant", constant_values=0: 0.0
    return lambda g, x, pad_width, mode="constant", constant_values=0: \
        np.sum(g) - np.sum(pad_adjoint(g, x, pad_width, mode, constant_values))


def repeat_along(x, repeats, axis=None):
    """`np.repeat(x, repeats, axis)` (repeats an int or a 1-D array of ints)."""
    return np.repeat(x, repeats, axis)


@register_jitable
def _repeat_rows(x2, repeats):
    counts = np.ones(x2.shape[1], np.intp) * np.asarray(repeats)
    if counts.size != x2.shape[1] or np.any(counts < 0):
        raise ValueError("repeats must be non-negative and match the axis length")
    out = np.empty((x2.shape[0], np.sum(counts)), x2.dtype)
    for i in range(x2.shape[0]):
        k = 0
        for j in range(x2.shape[1]):
            for _ in range(counts[j]):
                out[i, k] = x2[i, j]
                k += 1
    return out


@overload(repeat_along)
def _repeat_along(x, repeats, axis=None):
    require_array(x, "the argument of repeat")
    if is_none(axis):
        return lambda x, repeats, axis=None: _repeat_rows(to_rows(x, None), repeats).ravel()
    ndim = x.ndim

    def impl(x, repeats, axis=None):
        out = _repeat_rows(to_rows(x, axis), repeats)
        shape = np.array(x.shape)
        shape[axis] = out.shape[1]
        return rows_to(out, to_fixed_tuple(shape, ndim), axis)
    return impl


@register_jitable
def repeat_adjoint(g, x, repeats, axis=None):
    """x̄_j = the sum of g over the copies of x_j."""
    return scatter_add(g, repeat_along(positions(x), repeats, axis), x)


# ---- squeeze ------------------------------------------------------------------------------

def squeeze_axes(x, axis):
    """`np.squeeze(x, axis)` with `axis` an int or a tuple of ints (Numba has no squeeze)."""
    return np.squeeze(x, axis)


@overload(squeeze_axes, prefer_literal=True)
def _squeeze_axes(x, axis):
    require_array(x, "the argument of squeeze")
    axes = tuple(constant(t) for t in axis) if isinstance(axis, types.BaseTuple) else \
        (constant(axis),)
    if not all(isinstance(a, int) for a in axes):
        raise TypingError("srcad: compiled squeeze needs its axis as a constant int or tuple")
    axes = {a % x.ndim for a in axes}
    kept = ", ".join(f"x.shape[{k}]" for k in range(x.ndim) if k not in axes)
    checks = "".join(f"    if x.shape[{a}] != 1:\n        raise ValueError('cannot select an axis "
                     f"to squeeze out which has size not equal to one')\n" for a in sorted(axes))
    source = (f"def squeeze(x, axis):\n{checks}"
              f"    return np.ascontiguousarray(x).reshape(({kept}{',' if kept else ''}))\n")
    namespace = {"np": np}
    exec(source, namespace)  # noqa: S102 (a reshape written here, from the axes)
    return namespace["squeeze"]


# ---- weights of np.average ----------------------------------------------------------------

def weights_shape(w, a, axis):
    """The shape np.average gives weights `w` of `a` to multiply them: a's own, or for 1-D
    weights along `axis` their length there and 1 elsewhere; NumPy's errors for others."""
    w_shape, a_shape = np.shape(w), np.shape(a)
    if w_shape == a_shape:
        return a_shape
    if axis is None:
        raise TypeError(_AXIS_NEEDED)
    if w_shape != (a_shape[axis],):
        raise ValueError(_INCONSISTENT_WEIGHTS)
    return tuple(w_shape[0] if d == axis % len(a_shape) else 1 for d in range(len(a_shape)))


_AXIS_NEEDED = "Axis must be specified when shapes of a and weights differ."
_INCONSISTENT_WEIGHTS = "Shape of weights must be consistent with shape of a along specified axis."


@overload(weights_shape)
def _weights_shape(w, a, axis):
    require_array(a, "the array of average")
    require_array(w, "the weights of average")
    rank, along_one_axis = a.ndim, w.ndim == 1

    def of_a(w, a, axis):
        if w.shape != a.shape:
            raise TypeError(_AXIS_NEEDED)
        return a.shape
    if is_none(axis):
        return of_a

    def along(w, a, axis):
        if w.shape == a.shape:
            return a.shape
        if axis < -rank or axis >= rank:
            raise ValueError("axis is out of bounds for the array's dimension")
        axis = axis + rank if axis < 0 else axis
        if not along_one_axis or w.shape[0] != a.shape[axis]:
            raise ValueError(_INCONSISTENT_WEIGHTS)
        shape = np.ones(rank, np.intp)
        shape[axis] = w.shape[0]
        return to_fixed_tuple(shape, rank)
    return along


# ---- stores through integer-array indices -------------------------------------------------

@register_jitable
def last_writes(g, index):
    """g[index] with zeros where a later entry of `index` names the same element: the adjoint
    of the values stored by `y[index] = values` (NumPy keeps the last of repeated writes)."""
    picked = g[index]
    n = g.shape[0]
    last = np.full(n, -1)
    for k in range(index.shape[0]):
        last[index[k] % n] = k
    for k in range(index.shape[0]):
        if last[index[k] % n] != k:
            picked[k] = 0.0
    return picked


# ---- convolution ------------------------------------------------------------------------------

@register_jitable
def _convolution_window(m, n, mode):
    """(start, size) of np.convolve's result for `mode` within the full convolution of
    lengths m and n."""
    short, long = min(m, n), max(m, n)
    if mode == "full":
        return 0, m + n - 1
    if mode == "same":
        return (short - 1) // 2, long
    if mode == "valid":
        return short - 1, long - short + 1
    raise ValueError("mode must be one of 'valid', 'same', or 'full'")


_NOT_VECTORS = ("srcad: np.convolve of a number (or of a 0-d array): srcad takes 1-D arrays, "
                "write a number c as np.array([c])")


def _check_vectors(*operands):
    if any(np.ndim(x) == 0 for x in operands):
        raise ValueError(_NOT_VECTORS)


def _typed_vectors(*operands):
    if not all(isinstance(x, types.Array) and x.ndim == 1 for x in operands):
        raise TypingError(_NOT_VECTORS)


_NOT_3_VECTORS = ("srcad: np.cross of vectors of 3 components along the last axis (axes of "
                  "{} and {}); NumPy's 2-component form gives a number per pair: write it as "
                  "a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]")


def check_3_vectors(a, b):
    """Raise unless a and b are arrays of 3-vectors along their last axes."""
    if np.ndim(a) == 0 or np.ndim(b) == 0 or np.shape(a)[-1] != 3 or np.shape(b)[-1] != 3:
        raise ValueError(_NOT_3_VECTORS.format(np.shape(a)[-1:], np.shape(b)[-1:]))


def cross(a, b):
    """np.cross(a, b) of 3-vectors along the last axes, broadcast as NumPy does."""
    check_3_vectors(a, b)
    return np.cross(a, b)


@overload(cross)
def _cross(a, b):
    if not (is_array(a) and is_array(b) and a.ndim and b.ndim):
        raise TypingError(_NOT_3_VECTORS.format("a number", "another"))

    def impl(a, b):
        if a.shape[-1] != 3 or b.shape[-1] != 3:
            raise ValueError("srcad: np.cross of vectors of 3 components along the last axis")
        return np.cross(a, b)
    return impl


def convolve(a, v, mode="full"):
    """np.convolve(a, v, mode), compiled for every mode (Numba's takes 'full' only)."""
    _check_vectors(a, v)
    return np.convolve(a, v, mode)


@overload(convolve)
def _convolve(a, v, mode="full"):
    _typed_vectors(a, v)

    def impl(a, v, mode="full"):
        start, size = _convolution_window(a.shape[0], v.shape[0], mode)
        return np.convolve(a, v)[start:start + size].copy()
    return impl


def convolve_adjoint(g, x, other, mode="full"):
    """The adjoint of x in np.convolve(x, other, mode) or np.convolve(other, x, mode)
    (convolution commutes): g, put back in the full convolution, correlated with `other`."""
    _check_vectors(x, other)
    return _convolve_adjoint(g, x, other, mode)


@overload(convolve_adjoint)
def _convolve_adjoint_compiled(g, x, other, mode="full"):
    _typed_vectors(x, other)
    return lambda g, x, other, mode="full": _convolve_adjoint(g, x, other, mode)


@register_jitable
def _convolve_adjoint(g, x, other, mode):
    start, size = _convolution_window(x.shape[0], other.shape[0], mode)
    full = np.zeros(x.shape[0] + other.shape[0] - 1, g.dtype)
    full[start:start + size] = g
    return np.correlate(full, other)
