"""Reductions along axes, and their adjoints, for plain Python and Numba nopython code.

Numba's `np.sum` takes an int axis, its `max/min/mean/prod/var/std/cumprod` none, and none
takes a tuple of axes or `keepdims`. The forward helpers `<name>_along(x, axis, keepdims)`
are NumPy itself in Python and a rows kernel (see `rows.py`) under Numba, where `keepdims`
must be a constant (it decides the result's rank). The adjoints take the reduction's adjoint
`g` in either shape (with or without keepdims: only its size matters) and return an array of
the shape of `x`. Float arrays of any rank; `axis` None, an int or a tuple of ints.

Conventions: `max`/`min` share `g` equally among tied elements (as autograd and JAX do);
`prod` and `cumprod` adjoints are exact when `x` has zeros (products of the other factors,
no division); `std` uses 0 where the result is 0 (a subgradient).

The arithmetic lives in row kernels (one row per element of the result), each written twice:
NumPy broadcasting for Python, and loops for Numba (`numba_form`): for Numba, loops compile
in about an eighth of the time of the same broadcast expressions, to a fifth of the code.
"""

import operator

import numpy as np
from numba import literally
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable

from .rows import (
    around,
    constant,
    float_rows,
    from_rows,
    is_none,
    naxes,
    numba_form,
    repeat_rows,
    require_array,
    row_max,
    row_min,
    row_prod,
    row_sum,
    rows_vector,
    rowwise,
    scale_rows,
    shape_of,
    shape_reduced,
    shared_among,
    summed_rows,
    to_rows,
)

# ---- row kernels: statistics ---------------------------------------------------------------

def sum_blocked(x, axis=None):
    """`np.sum(x, axis)`; compiled (whole arrays), float32 elements are added in blocks of 128 in
    float32 and the blocks in float64: Numba's np.sum adds them one after another in float32,
    which stops growing at 2**24 (NumPy's pairwise sum does not)."""
    return np.sum(x, axis=axis)


@overload(sum_blocked)
def _sum_blocked(x, axis=None):
    if not isinstance(x, types.Array) or x.dtype != types.float32:
        return lambda x, axis=None: np.sum(x)

    def blocked(x, axis=None):
        total, block, k = 0.0, np.float32(0.0), 0
        for v in x.flat:
            block += v
            k += 1
            if k == 128:
                total += block
                block, k = np.float32(0.0), 0
        return np.float32(total + block)
    return blocked


def mean_blocked(x, axis=None):
    """`np.mean(x, axis)`, its sum as sum_blocked's."""
    return np.mean(x, axis=axis)


@overload(mean_blocked)
def _mean_blocked(x, axis=None):
    if not isinstance(x, types.Array) or x.dtype != types.float32:
        return lambda x, axis=None: np.mean(x)
    return lambda x, axis=None: np.float32(sum_blocked(x) / x.size)


row_sum_blocked = rowwise(sum_blocked)
row_mean = rowwise(mean_blocked)


def row_var(x2, ddof):
    return np.var(x2, axis=1, ddof=ddof)


@numba_form(row_var)
def _row_var(x2, ddof):
    out = np.empty(x2.shape[0], x2.dtype)
    for i in range(x2.shape[0]):
        mean = mean_blocked(x2[i])  # (float32: Numba's np.mean stops growing at 2**24)
        total = 0.0
        for j in range(x2.shape[1]):
            total += (x2[i, j] - mean) ** 2
        out[i] = total / max(x2.shape[1] - ddof, 0)  # (NumPy's: inf or nan where none left)
    return out


def row_std(x2, ddof):
    return np.std(x2, axis=1, ddof=ddof)


@numba_form(row_std)
def _row_std(x2, ddof):
    out = row_var(x2, ddof)
    for i in range(out.size):
        out[i] = np.sqrt(out[i])
    return out


def row_logsumexp(x2):
    if x2.shape[1] == 0:  # (the log of an empty sum: -inf, as SciPy)
        return np.full(x2.shape[0], -np.inf)
    shift = np.max(x2, axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)  # (all -inf rows give -inf, as SciPy)
    return np.log(np.sum(np.exp(x2 - shift), axis=1)) + shift[:, 0]


@numba_form(row_logsumexp)
def _row_logsumexp(x2):
    out = np.empty(x2.shape[0], x2.dtype)
    for i in range(x2.shape[0]):
        shift = np.max(x2[i]) if x2.shape[1] else 0.0
        shift = shift if np.isfinite(shift) else 0.0
        total = 0.0
        for j in range(x2.shape[1]):
            total += np.exp(x2[i, j] - shift)
        out[i] = np.log(total) + shift
    return out


def row_softmax(x2):
    shifted = np.exp(x2 - np.max(x2, axis=1, keepdims=True))  # (SciPy's: an inf gives NaN)
    return shifted / np.sum(shifted, axis=1, keepdims=True)


@numba_form(row_softmax)
def _row_softmax(x2):
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        shift = np.max(x2[i])
        total = 0.0
        for j in range(x2.shape[1]):
            out[i, j] = np.exp(x2[i, j] - shift)
            total += out[i, j]
        for j in range(x2.shape[1]):
            out[i, j] /= total
    return out


def row_log_softmax(x2):
    shift = np.max(x2, axis=1, keepdims=True)
    shifted = x2 - np.where(np.isfinite(shift), shift, 0.0)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


@numba_form(row_log_softmax)
def _row_log_softmax(x2):
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        shift = np.max(x2[i]) if x2.shape[1] else 0.0
        shift = shift if np.isfinite(shift) else 0.0
        total = 0.0
        for j in range(x2.shape[1]):
            out[i, j] = x2[i, j] - shift
            total += np.exp(out[i, j])
        for j in range(x2.shape[1]):
            out[i, j] -= np.log(total)
    return out


# ---- row kernels: scans and products --------------------------------------------------------

def _row_scan(numpy_scan, combine):
    """A function applying the cumulative `numpy_scan` (`combine` each entry with the result so
    far) along each row."""
    def python(x2):
        return numpy_scan(x2, axis=1)

    @numba_form(python)
    def each_row(x2):
        out = x2.copy()
        for i in range(x2.shape[0]):
            for j in range(1, x2.shape[1]):
                out[i, j] = combine(out[i, j - 1], out[i, j])
        return out
    python.__name__ = python.__qualname__ = "row_" + numpy_scan.__name__
    return python


row_cumsum = _row_scan(np.cumsum, operator.add)
row_cumprod = _row_scan(np.cumprod, operator.mul)


def products_of_others(x2):
    """Each entry's row product without that entry: (before * after), no division."""
    if x2.shape[1] == 0:
        return np.empty_like(x2)
    ones = np.ones((x2.shape[0], 1), x2.dtype)
    before = np.cumprod(np.concatenate((ones, x2[:, :-1]), axis=1), axis=1)
    after = np.cumprod(np.concatenate((ones, x2[:, :0:-1]), axis=1), axis=1)[:, ::-1]
    return before * after


@numba_form(products_of_others)
def _products_of_others(x2):
    out = np.empty_like(x2)
    n = x2.shape[1]
    for i in range(x2.shape[0]):
        left = 1.0
        for j in range(n):
            out[i, j] = left
            left *= x2[i, j]
        right = 1.0
        for j in range(n - 1, -1, -1):
            out[i, j] *= right
            right *= x2[i, j]
    return out


# ---- row kernels: adjoints (g1 holds one adjoint per row, g2 one per entry) --------------

def mean_rows_adjoint(g1, n):
    return np.repeat(g1[:, None] / n, n, axis=1)


@numba_form(mean_rows_adjoint)
def _mean_rows_adjoint(g1, n):
    out = np.empty((g1.size, n), g1.dtype)
    for i in range(g1.size):
        for j in range(n):
            out[i, j] = g1[i] / n
    return out


def extremum_rows_adjoint(g1, x2, ans1):
    return shared_among(x2 == ans1[:, None], g1[:, None])


@numba_form(extremum_rows_adjoint)
def _extremum_rows_adjoint(g1, x2, ans1):
    out = np.zeros_like(x2)
    for i in range(x2.shape[0]):
        ties = 0
        for j in range(x2.shape[1]):
            ties += x2[i, j] == ans1[i]
        for j in range(x2.shape[1]):
            if x2[i, j] == ans1[i] or ties == 0:  # (no ties: a NaN max, a NaN adjoint)
                out[i, j] = g1[i] / ties if ties else np.nan
    return out


def deviation_rows_adjoint(g1, x2, std1, ddof, std):
    """g (x - mean) 2 / (n - ddof) for var; g (x - mean) / ((n - ddof) std) for std (`std1`
    the std of each row), 0 where std is 0."""
    n = x2.dtype.type(max(x2.shape[1] - ddof, 0))  # (NumPy's inf, not an error, where ddof is n)
    if std:  # (the std is never negative: NaN where it is NaN)
        scale = np.where(std1 != 0, g1, 0.0) / (np.where(std1 != 0, std1, 1.0) * n)
    else:
        scale = g1 * (2.0 / n)
    return (x2 - np.mean(x2, axis=1, keepdims=True)) * scale[:, None]


@numba_form(deviation_rows_adjoint)
def _deviation_rows_adjoint(g1, x2, std1, ddof, std):
    out = np.empty_like(x2)
    n = max(x2.shape[1] - ddof, 0)
    for i in range(x2.shape[0]):
        if std:
            scale = g1[i] / (std1[i] * n) if std1[i] != 0 else 0.0
        else:
            scale = g1[i] * 2.0 / n
        mean = mean_blocked(x2[i])  # (float32: Numba's np.mean stops growing at 2**24)
        for j in range(x2.shape[1]):
            out[i, j] = (x2[i, j] - mean) * scale
    return out


def logsumexp_rows_adjoint(g1, x2, ans1):
    return np.exp(x2 - ans1[:, None]) * g1[:, None]


@numba_form(logsumexp_rows_adjoint)
def _logsumexp_rows_adjoint(g1, x2, ans1):
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        for j in range(x2.shape[1]):
            out[i, j] = np.exp(x2[i, j] - ans1[i]) * g1[i]
    return out


def softmax_rows_adjoint(g2, s2):
    return s2 * (g2 - np.sum(g2 * s2, axis=1, keepdims=True))


@numba_form(softmax_rows_adjoint)
def _softmax_rows_adjoint(g2, s2):
    out = np.empty_like(s2)
    for i in range(s2.shape[0]):
        total = 0.0
        for j in range(s2.shape[1]):
            total += g2[i, j] * s2[i, j]
        for j in range(s2.shape[1]):
            out[i, j] = s2[i, j] * (g2[i, j] - total)
    return out


def log_softmax_rows_adjoint(g2, ans2):
    return g2 - np.exp(ans2) * np.sum(g2, axis=1, keepdims=True)


@numba_form(log_softmax_rows_adjoint)
def _log_softmax_rows_adjoint(g2, ans2):
    out = np.empty_like(ans2)
    for i in range(ans2.shape[0]):
        total = sum_blocked(g2[i])
        for j in range(ans2.shape[1]):
            out[i, j] = g2[i, j] - np.exp(ans2[i, j]) * total
    return out


def suffix_sums(g2):
    """sum_{j >= i} g_j along each row."""
    return np.cumsum(g2[:, ::-1], axis=1)[:, ::-1]


@numba_form(suffix_sums)
def _suffix_sums(g2):
    out = np.empty_like(g2)
    for i in range(g2.shape[0]):
        total = 0.0
        for j in range(g2.shape[1] - 1, -1, -1):
            total += g2[i, j]
            out[i, j] = total
    return out


def cumprod_rows_adjoint(g2, x2):
    """Per row: x̄_i = (prod_{k < i} x_k) s_i, with s_i = g_i + x_{i+1} s_{i+1}."""
    s = g2.copy()
    for j in range(x2.shape[1] - 2, -1, -1):  # (vectorised over the rows)
        s[:, j] += x2[:, j + 1] * s[:, j + 1]
    ones = np.ones((x2.shape[0], 1), x2.dtype)
    return np.cumprod(np.concatenate((ones, x2[:, :-1]), axis=1), axis=1) * s


@numba_form(cumprod_rows_adjoint)
def _cumprod_rows_adjoint(g2, x2):
    out = np.empty_like(x2)
    n = x2.shape[1]
    for i in range(x2.shape[0]):
        s = 0.0
        for j in range(n - 1, -1, -1):
            s = g2[i, j] + (x2[i, j + 1] * s if j + 1 < n else 0.0)
            out[i, j] = s
        before = 1.0
        for j in range(n):
            out[i, j] *= before
            before *= x2[i, j]
    return out


# ---- forward reductions -------------------------------------------------------------------

def _reduction(name, numpy_reduce, row_reduce):
    """`name(x, axis=None, keepdims=False)`: NumPy's `numpy_reduce` in Python, `row_reduce` on
    rows under Numba."""
    def python(x, axis=None, keepdims=False):
        return numpy_reduce(x, axis=axis, keepdims=keepdims)

    @overload(python, prefer_literal=True)
    def _compiled(x, axis=None, keepdims=False):
        if isinstance(x, types.Float):  # (a 0-d array, given as a number: NumPy's value)
            return lambda x, axis=None, keepdims=False: row_reduce(np.full((1, 1), x))[0]
        require_array(x, f"the argument of {name}")
        if not isinstance(constant(keepdims), bool):
            return lambda x, axis=None, keepdims=False: literally(keepdims)
        if numpy_reduce in _MATRIX_KINDS and x.ndim == 2 and x.dtype == types.float64 and \
                isinstance(axis, types.Integer):
            return _matrix_along(_MATRIX_KINDS[numpy_reduce], constant(keepdims))
        rows = float_rows if numpy_reduce in (np.mean, _logsumexp) else \
            summed_rows if numpy_reduce in (np.sum, np.prod) else to_rows
        return lambda x, axis=None, keepdims=False: \
            shape_reduced(row_reduce(rows(x, axis)), x, axis, keepdims)
    python.__name__ = python.__qualname__ = name
    python.__doc__ = f"`{numpy_reduce.__name__.lstrip('_')}(x, axis, keepdims=keepdims)` " \
        "(NumPy's; SciPy's logsumexp)."
    return python


_MATRIX_KINDS = {np.sum: 0, np.mean: 1, np.max: 2, np.min: 3, np.prod: 5}


@register_jitable
def _lines(shape, axis):
    """A matrix's lines along `axis`: (whether they run along axis 0, how many, their length)."""
    if axis < -2 or axis > 1:
        raise ValueError("axis is out of bounds for the array's dimension")
    first = axis == 0 or axis == -2
    return (first, shape[1], shape[0]) if first else (first, shape[0], shape[1])


def _matrix_along(kind, keep):
    """sum_along, mean_along, max_along, min_along, logsumexp_along or prod_along (kind 0-5) of a
    float64 matrix over one axis as loops over its lines, which compile in a third of the time
    of the rows kernels: each line's values in order, as the rows kernels take them (a sum from
    0.0, a product from 1.0; a max or min NaN as soon as one value is; logsumexp's shift its
    max, 0 if not finite)."""
    def extremum(x, first, i, n, largest):
        if n == 0:
            raise ValueError("zero-size array to reduction operation maximum (minimum) which "
                             "has no identity")
        best = x[0, i] if first else x[i, 0]
        for k in range(1, n):
            v = x[k, i] if first else x[i, k]
            if np.isnan(best):
                break
            if (v > best if largest else v < best) or np.isnan(v):
                best = v
        return best

    extremum = register_jitable(extremum)

    def line(x, first, i, n):  # (line i along the reduced axis)
        if kind >= 2 and kind < 4:
            return extremum(x, first, i, n, kind == 2)
        if kind == 5:
            product = 1.0
            for k in range(n):
                product *= x[k, i] if first else x[i, k]
            return product
        shift = 0.0
        if kind == 4 and n:
            shift = extremum(x, first, i, n, True)
            shift = shift if np.isfinite(shift) else 0.0
        total = 0.0
        for k in range(n):
            v = x[k, i] if first else x[i, k]
            total += np.exp(v - shift) if kind == 4 else v
        return np.log(total) + shift if kind == 4 else total / n if kind == 1 else total

    line = register_jitable(line)

    def along(x, axis=None, keepdims=False):
        first, kept, n = _lines(x.shape, axis)
        out = np.empty(kept)
        for i in range(kept):
            out[i] = line(x, first, i, n)
        if keep:
            return out.reshape((1, kept)) if first else out.reshape((kept, 1))
        return out
    return along


sum_along = _reduction("sum_along", np.sum, row_sum_blocked)
mean_along = _reduction("mean_along", np.mean, row_mean)
prod_along = _reduction("prod_along", np.prod, row_prod)
max_along = _reduction("max_along", np.max, row_max)
min_along = _reduction("min_along", np.min, row_min)
def _logsumexp(x, axis=None, keepdims=False):
    import scipy.special  # (when first used: generated code that needs no SciPy loads without it)
    return scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)


logsumexp_along = _reduction("logsumexp_along", _logsumexp, row_logsumexp)
_MATRIX_KINDS[_logsumexp] = 4


def _spread(name, numpy_reduce, row_reduce):
    """`name(x, axis=None, ddof=0, keepdims=False)`, as `_reduction` with a `ddof`."""
    def python(x, axis=None, ddof=0, keepdims=False):
        return numpy_reduce(x, axis=axis, ddof=ddof, keepdims=keepdims)

    @overload(python, prefer_literal=True)
    def _compiled(x, axis=None, ddof=0, keepdims=False):
        if isinstance(x, types.Float):  # (a 0-d array, given as a number: NumPy's value)
            return lambda x, axis=None, ddof=0, keepdims=False: \
                row_reduce(np.full((1, 1), x), ddof)[0]
        require_array(x, f"the argument of {name}")
        if not isinstance(constant(keepdims), bool):
            return lambda x, axis=None, ddof=0, keepdims=False: literally(keepdims)
        if x.ndim == 2 and x.dtype == types.float64 and isinstance(axis, types.Integer):
            return _matrix_spread(numpy_reduce is np.std, constant(keepdims))
        return lambda x, axis=None, ddof=0, keepdims=False: \
            shape_reduced(row_reduce(float_rows(x, axis), ddof), x, axis, keepdims)
    python.__name__ = python.__qualname__ = name
    python.__doc__ = f"`np.{numpy_reduce.__name__}(x, axis, ddof=ddof, keepdims=keepdims)`."
    return python


def _matrix_spread(std, keep):
    """var_along (std: std_along) of a float64 matrix over one axis as loops over its lines,
    which compile in a third of the time of the rows kernels, with their arithmetic."""
    def along(x, axis=None, ddof=0, keepdims=False):
        first, kept, n = _lines(x.shape, axis)
        out = np.empty(kept)
        for i in range(kept):
            line = x[:, i] if first else x[i]
            mean = mean_blocked(line)
            total = 0.0
            for k in range(n):
                total += (line[k] - mean) ** 2
            out[i] = np.sqrt(total / max(n - ddof, 0)) if std else total / max(n - ddof, 0)
        if keep:
            return out.reshape((1, kept)) if first else out.reshape((kept, 1))
        return out
    return along


var_along = _spread("var_along", np.var, row_var)
std_along = _spread("std_along", np.std, row_std)


def _scan(name, numpy_scan, row_scan, combine):
    """`name(x, axis=None)`: NumPy's cumulative `numpy_scan` (flattened when axis is None),
    `combine` each entry with the result so far."""
    def python(x, axis=None):
        return numpy_scan(x, axis=axis)

    @overload(python)
    def _compiled(x, axis=None):
        require_array(x, f"the argument of {name}")
        if is_none(axis):
            return lambda x, axis=None: row_scan(summed_rows(x, None)).reshape(x.size)
        if naxes(axis, x.ndim) != 1:
            raise TypingError(f"srcad: {name} takes one axis, got {axis}")
        if x.ndim == 2 and isinstance(x.dtype, types.Float) and isinstance(axis, types.Integer):
            return _scan_lines(combine)
        return lambda x, axis=None: from_rows(row_scan(summed_rows(x, axis)), x, axis)
    python.__name__ = python.__qualname__ = name
    python.__doc__ = f"`np.{numpy_scan.__name__}(x, axis)`."
    return python


def _scan_lines(combine):
    """A scan of a float matrix over one axis as loops over its lines (they compile in a third
    of the rows kernels' time), with the rows kernels' arithmetic."""
    def along(x, axis=None):
        first, kept, n = _lines(x.shape, axis)
        out = x.copy()
        for i in range(kept):
            line = out[:, i] if first else out[i]
            for k in range(1, n):
                line[k] = combine(line[k - 1], line[k])
        return out
    return along


cumsum_along = _scan("cumsum_along", np.cumsum, row_cumsum, operator.add)
cumprod_along = _scan("cumprod_along", np.cumprod, row_cumprod, operator.mul)


# ---- adjoints -----------------------------------------------------------------------------

@register_jitable
def _per_row(g, x2):
    return rows_vector(g, x2.shape[0])


@register_jitable
def _sum_adjoint_rows(g, x, axis):
    x2 = to_rows(x, axis)
    return from_rows(repeat_rows(_per_row(g, x2), x2.shape[1]), x, axis)


def sum_adjoint(g, x, axis=None):
    """x̄ = g broadcast over the reduced axes (with axis None, `x` may be its shape)."""
    if isinstance(x, tuple):
        return np.full(x, np.asarray(g).reshape(-1)[0])
    return _sum_adjoint_rows(g, x, axis)


@register_jitable
def _spread_around(g, x, axis, averaged=False):
    """sum_adjoint over one axis: g (a value per kept index) repeated along `axis`; averaged:
    mean_adjoint's, g / n."""
    before, n, after = around(x.shape, axis)
    v = rows_vector(g, before * after)
    out = np.empty((before, n, after), v.dtype)
    for i in range(before):
        for k in range(n):
            for j in range(after):
                out[i, k, j] = v[i * after + j] / n if averaged else v[i * after + j]
    return out.reshape(x.shape)


@overload(sum_adjoint)
def _sum_adjoint(g, x, axis=None):
    if isinstance(axis, types.Integer):  # (the common case: loops, which compile fast)
        return lambda g, x, axis=None: _spread_around(g, x, axis)
    if not is_none(axis):
        return lambda g, x, axis=None: _sum_adjoint_rows(g, x, axis)
    # (np.sum(x), the common case: a fill, which compiles in a fraction of the rows kernel)
    return _filled(g, averaged=False)


def _filled(g, averaged):
    """The adjoint of a whole-array sum (averaged: mean) of x for g of type `g`: x's shape
    filled with g (averaged: g / x.size), in g's dtype."""
    g_is_array = isinstance(g, types.Array)
    dtype = g.dtype if g_is_array else g

    def filled(g, x, axis=None):
        value = np.asarray(g).reshape(1)[0] if g_is_array else g
        out = np.empty(shape_of(x), dtype)
        flat = out.reshape(out.size)
        for i in range(flat.size):
            flat[i] = value / flat.size if averaged else value
        return out
    return filled


def sum_like(v, like, axis=None):
    """`v` (shaped as x) summed over `axis`, in the shape of the reduction's result `like`
    (kept dims or not; a scalar for a full reduction): the transpose of sum_adjoint."""
    total = row_sum(to_rows(v, axis))
    return total[0] if np.ndim(like) == 0 else np.reshape(total, np.shape(like))


@overload(sum_like)
def _sum_like(v, like, axis=None):
    if not isinstance(like, types.Array):
        return lambda v, like, axis=None: row_sum(to_rows(v, axis))[0]
    return lambda v, like, axis=None: row_sum(to_rows(v, axis)).reshape(like.shape)


@register_jitable
def _mean_adjoint_rows(g, x, axis):
    x2 = to_rows(x, axis)
    return from_rows(mean_rows_adjoint(_per_row(g, x2), x2.shape[1]), x, axis)


def mean_adjoint(g, x, axis=None):
    """x̄ = g / n broadcast over the reduced axes (n elements averaged)."""
    return _mean_adjoint_rows(g, x, axis)


@overload(mean_adjoint)
def _mean_adjoint(g, x, axis=None):
    if isinstance(axis, types.Integer):
        return lambda g, x, axis=None: _spread_around(g, x, axis, True)
    if not is_none(axis):
        return lambda g, x, axis=None: _mean_adjoint_rows(g, x, axis)
    return _filled(g, averaged=True)  # (np.mean(x): a fill, as sum_adjoint's)


@register_jitable
def _prod_adjoint_rows(g, x, axis):
    x2 = to_rows(x, axis)
    return from_rows(scale_rows(products_of_others(x2), _per_row(g, x2)), x, axis)


def prod_adjoint(g, x, axis=None):
    """x̄_i = g · prod_{j != i} x_j over the reduced axes (exact with zeros: no division)."""
    return _prod_adjoint_rows(g, x, axis)


@overload(prod_adjoint)
def _prod_adjoint(g, x, axis=None):
    if _on_lines(x, axis) and x.dtype == types.float64:
        return _prod_adjoint_lines
    return lambda g, x, axis=None: _prod_adjoint_rows(g, x, axis)


def _prod_adjoint_lines(g, x, axis=None):
    """prod_adjoint of a float64 matrix over one axis, line by line as the rows kernel."""
    first, kept, n = _lines(x.shape, axis)
    g1 = rows_vector(g, kept)
    out = np.empty(x.shape, x.dtype)
    for i in range(kept):
        line, out_line = (x[:, i], out[:, i]) if first else (x[i], out[i])
        left = 1.0
        for k in range(n):
            out_line[k] = left
            left *= line[k]
        right = 1.0
        for k in range(n - 1, -1, -1):
            out_line[k] *= right
            right *= line[k]
        for k in range(n):
            out_line[k] *= g1[i]
    return out


@register_jitable
def _prod_curvature_rows(w2, x2):
    rows, n = x2.shape
    out = np.zeros_like(x2)
    rest = np.empty((1, max(n - 1, 0)), x2.dtype)
    weights = np.empty(max(n - 1, 0), x2.dtype)
    for r in range(rows):
        for j in range(n):
            k = 0
            for i in range(n):
                if i != j:
                    rest[0, k] = x2[r, i]
                    weights[k] = w2[r, i]
                    k += 1
            out[r, j] = np.sum(weights * products_of_others(rest)[0])
    return out


@register_jitable
def prod_curvature(w, x, axis=None):
    """H w for H the Hessian of each product along `axis`: entry j is the sum over i != j of
    w_i times the product of the x_k with k neither i nor j (no division: exact with zeros;
    O(n^2) per product)."""
    return from_rows(_prod_curvature_rows(to_rows(w, axis), to_rows(x, axis)), x, axis)


@register_jitable
def _extremum_adjoint_rows(g, x, ans, axis):
    x2 = to_rows(x, axis)
    return from_rows(extremum_rows_adjoint(_per_row(g, x2), x2, _per_row(ans, x2)), x, axis)


def extremum_adjoint(g, x, ans, axis=None):
    """x̄ = g / (number of ties) at the elements equal to the max (or min) `ans`, else 0."""
    return _extremum_adjoint_rows(g, x, ans, axis)


@overload(extremum_adjoint)
def _extremum_adjoint(g, x, ans, axis=None):
    if is_none(axis) and isinstance(g, types.Float) and isinstance(ans, types.Number) and \
            isinstance(x, types.Array):  # (np.max(x): compiles in a third of the rows kernel)
        def whole(g, x, ans, axis=None):
            out = np.zeros(x.shape, x.dtype)
            add_extremum_adjoint(out, g, x, ans)
            return out
        return whole
    if _on_lines(x, axis):
        return _extremum_adjoint_lines
    return lambda g, x, ans, axis=None: _extremum_adjoint_rows(g, x, ans, axis)


def _extremum_adjoint_lines(g, x, ans, axis=None):
    """extremum_adjoint of a matrix over one axis, line by line as _extremum_rows_adjoint."""
    first, kept, n = _lines(x.shape, axis)
    g1, ans1 = rows_vector(g, kept), rows_vector(ans, kept)
    out = np.zeros(x.shape, x.dtype)
    for i in range(kept):
        ties = 0
        for k in range(n):
            ties += (x[k, i] if first else x[i, k]) == ans1[i]
        for k in range(n):
            if (x[k, i] if first else x[i, k]) == ans1[i] or ties == 0:
                share = g1[i] / ties if ties else np.nan
                if first:
                    out[k, i] = share
                else:
                    out[i, k] = share
    return out


def add_extremum_adjoint(out, g, x, ans):
    """`out += extremum_adjoint(g, x, ans)` over all of x, in place and with no array made (it
    runs inside loops): g shared by the elements equal to ans; NaN everywhere without one."""
    out += extremum_adjoint(g, x, ans)


@overload(add_extremum_adjoint)
def _add_extremum_adjoint(out, g, x, ans):
    if isinstance(ans, types.Array):  # (np.max(x, keepdims=True): g and ans of one element)
        return lambda out, g, x, ans: _add_extremum(out, np.ravel(g)[0], x, np.ravel(ans)[0])
    return _add_extremum


@register_jitable
def _add_extremum(out, g, x, ans):
    ties = 0
    for idx in np.ndindex(x.shape):
        ties += x[idx] == ans
    share = g / ties if ties else np.nan
    for idx in np.ndindex(x.shape):
        if x[idx] == ans or not ties:
            out[idx] += share


def extremum_tangent(t, x, ans, axis=None, keepdims=False):
    """The tangent along t of `ans = np.max(x, axis)` (or min): per reduced row, t averaged over
    the elements equal to ans (the ties share it, as in extremum_adjoint)."""
    return sum_along(t * extremum_adjoint(1.0, x, ans, axis), axis, keepdims)


@overload(extremum_tangent, prefer_literal=True)
def _extremum_tangent(t, x, ans, axis=None, keepdims=False):
    if is_none(axis) and constant(keepdims) is False and isinstance(x, types.Array):
        if isinstance(t, types.Number):  # (every element's tangent is t: so is their mean)
            return lambda t, x, ans, axis=None, keepdims=False: \
                t if np.any(x == ans) else np.nan
        return lambda t, x, ans, axis=None, keepdims=False: _whole_extremum_tangent(t, x, ans)
    return lambda t, x, ans, axis=None, keepdims=False: \
        sum_along(t * extremum_adjoint(1.0, x, ans, axis), axis, keepdims)


@register_jitable
def _whole_extremum_tangent(t, x, ans):
    """extremum_tangent over all of x, in one pass and no array (it runs inside loops: a
    broadcast view of t, raveled, is a copy)."""
    xs = x.ravel()
    ts = t.ravel() if t.shape == x.shape else np.broadcast_to(t, x.shape).ravel()
    total, ties = 0.0, 0
    for i in range(xs.size):
        if xs[i] == ans:
            total += ts[i]
            ties += 1
    return total / ties if ties else np.nan


@register_jitable
def _var_adjoint_rows(g, x, axis, ddof):
    x2 = to_rows(x, axis)
    g1 = _per_row(g, x2)
    return from_rows(deviation_rows_adjoint(g1, x2, g1, ddof, False), x, axis)  # (no std)


def var_adjoint(g, x, axis=None, ddof=0):
    """x̄ = g · 2 (x - mean) / (n - ddof)."""
    return _var_adjoint_rows(g, x, axis, ddof)


@register_jitable
def _std_adjoint_rows(g, x, ans, axis, ddof):
    x2 = to_rows(x, axis)
    g1, std1 = _per_row(g, x2), _per_row(ans, x2)
    return from_rows(deviation_rows_adjoint(g1, x2, std1, ddof, True), x, axis)


def std_adjoint(g, x, ans, axis=None, ddof=0):
    """x̄ = g · (x - mean) / ((n - ddof) · std); 0 where std is 0 (a subgradient)."""
    return _std_adjoint_rows(g, x, ans, axis, ddof)


def _on_lines(x, axis):
    """Whether an adjoint of a reduction of x over `axis` runs as loops over a matrix's lines
    (they compile in a third of the time of the rows kernels)."""
    return isinstance(axis, types.Integer) and isinstance(x, types.Array) and x.ndim == 2


@overload(var_adjoint)
def _var_adjoint(g, x, axis=None, ddof=0):
    if _on_lines(x, axis):
        return lambda g, x, axis=None, ddof=0: _deviation_adjoint_lines(g, x, g, axis, ddof,
                                                                        False)
    return lambda g, x, axis=None, ddof=0: _var_adjoint_rows(g, x, axis, ddof)


@overload(std_adjoint)
def _std_adjoint(g, x, ans, axis=None, ddof=0):
    if _on_lines(x, axis):
        return lambda g, x, ans, axis=None, ddof=0: _deviation_adjoint_lines(g, x, ans, axis,
                                                                             ddof, True)
    return lambda g, x, ans, axis=None, ddof=0: _std_adjoint_rows(g, x, ans, axis, ddof)


@register_jitable
def _deviation_adjoint_lines(g, x, s, axis, ddof, std):
    """var_adjoint (std: std_adjoint, `s` the std of each line) of a matrix over one axis,
    line by line as the rows kernel."""
    first, kept, n = _lines(x.shape, axis)
    g1, s1 = rows_vector(g, kept), rows_vector(s, kept)
    out = np.empty(x.shape, x.dtype)
    for i in range(kept):
        if std:
            scale = g1[i] / (s1[i] * max(n - ddof, 0)) if s1[i] != 0 else 0.0
        else:
            scale = g1[i] * 2.0 / max(n - ddof, 0)
        line, out_line = (x[:, i], out[:, i]) if first else (x[i], out[i])
        mean = mean_blocked(line)
        for k in range(n):
            out_line[k] = (line[k] - mean) * scale
    return out


@register_jitable
def _logsumexp_adjoint_rows(g, x, ans, axis):
    x2 = to_rows(x, axis)
    return from_rows(logsumexp_rows_adjoint(_per_row(g, x2), x2, _per_row(ans, x2)), x, axis)


def logsumexp_adjoint(g, x, ans, axis=None):
    """x̄ = g · exp(x - logsumexp(x)) (the softmax along the reduced axes)."""
    return _logsumexp_adjoint_rows(g, x, ans, axis)


@overload(logsumexp_adjoint)
def _logsumexp_adjoint(g, x, ans, axis=None):
    if _on_lines(x, axis):
        return _logsumexp_adjoint_lines
    return lambda g, x, ans, axis=None: _logsumexp_adjoint_rows(g, x, ans, axis)


def _logsumexp_adjoint_lines(g, x, ans, axis=None):
    """logsumexp_adjoint of a matrix over one axis, line by line as the rows kernel."""
    first, kept, n = _lines(x.shape, axis)
    g1, ans1 = rows_vector(g, kept), rows_vector(ans, kept)
    out = np.empty(x.shape, x.dtype)
    for i in range(kept):
        line, out_line = (x[:, i], out[:, i]) if first else (x[i], out[i])
        for k in range(n):
            out_line[k] = np.exp(line[k] - ans1[i]) * g1[i]
    return out


def cumsum_adjoint(g, x, axis=None):
    """x̄_i = sum_{j >= i} g_j along the axis (flattened when axis is None)."""
    g2 = to_rows(np.ascontiguousarray(g).reshape(x.shape), axis)
    return from_rows(suffix_sums(g2), x, axis)


@overload(cumsum_adjoint)
def _cumsum_adjoint(g, x, axis=None):
    if _on_lines(x, axis):
        return _cumsum_adjoint_lines
    return lambda g, x, axis=None: from_rows(
        suffix_sums(to_rows(np.ascontiguousarray(g).reshape(x.shape), axis)), x, axis)


def _cumsum_adjoint_lines(g, x, axis=None):
    """cumsum_adjoint of a matrix over one axis, line by line as the rows kernel."""
    first, kept, n = _lines(x.shape, axis)
    g2 = np.ascontiguousarray(g).reshape(x.shape)
    out = np.empty_like(g2)
    for i in range(kept):
        line, out_line = (g2[:, i], out[:, i]) if first else (g2[i], out[i])
        total = 0.0
        for k in range(n - 1, -1, -1):
            total += line[k]
            out_line[k] = total
    return out


@register_jitable
def cumprod_adjoint(g, x, axis=None):
    """x̄_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k (exact with zeros: no division)."""
    g2 = to_rows(np.ascontiguousarray(g).reshape(x.shape), axis)
    return from_rows(cumprod_rows_adjoint(g2, to_rows(x, axis)), x, axis)


@register_jitable
def cumprod_rows_tangent(u2, x2):
    """Per row: dc_j = dc_{j-1} x_j + c_{j-1} u_j (exact with zeros: no division)."""
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        c, d = 1.0, 0.0
        for j in range(x2.shape[1]):
            d = d * x2[i, j] + c * u2[i, j]
            c = c * x2[i, j]
            out[i, j] = d
    return out


@register_jitable
def cumprod_tangent(u, x, like, axis=None):
    """The tangent along u of `like = np.cumprod(x, axis)` (flattened when axis is None)."""
    return from_rows(cumprod_rows_tangent(to_rows(u, axis), to_rows(x, axis)), like, axis)


@register_jitable
def cumprod_rows_tangent_adjoint_x(g2, u2, x2):
    """Per row, x̄ of sum_j g_j dc_j for cumprod_rows_tangent's recurrence, run backwards."""
    out = np.empty_like(x2)
    n = x2.shape[1]
    c = np.empty(n + 1, x2.dtype)  # (c[j], d[j]: the recurrence's values before step j)
    d = np.empty(n + 1, x2.dtype)
    for i in range(x2.shape[0]):
        c[0], d[0] = 1.0, 0.0
        for j in range(n):
            d[j + 1] = d[j] * x2[i, j] + c[j] * u2[i, j]
            c[j + 1] = c[j] * x2[i, j]
        d_bar, c_bar = 0.0, 0.0
        for j in range(n - 1, -1, -1):
            d_bar += g2[i, j]
            out[i, j] = d_bar * d[j] + c_bar * c[j]
            c_bar = c_bar * x2[i, j] + d_bar * u2[i, j]
            d_bar = d_bar * x2[i, j]
    return out


@register_jitable
def cumprod_tangent_adjoint_x(g, u, x, axis=None):
    """x̄ of cumprod_tangent(u, x, ...) given the adjoint `g` of its result."""
    g2 = to_rows(np.ascontiguousarray(g).reshape(x.shape), axis)
    return from_rows(cumprod_rows_tangent_adjoint_x(g2, to_rows(u, axis), to_rows(x, axis)),
                     x, axis)


@register_jitable
def cumprod_rows_cross_tangent(u2, s2, x2):
    """Per row, the tangent along s (of x) of cumprod_rows_tangent(u2, x2)."""
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        c, d, dc, dd = 1.0, 0.0, 0.0, 0.0
        for j in range(x2.shape[1]):
            dd = dd * x2[i, j] + d * s2[i, j] + dc * u2[i, j]
            dc = dc * x2[i, j] + c * s2[i, j]
            d = d * x2[i, j] + c * u2[i, j]
            c = c * x2[i, j]
            out[i, j] = dd
    return out


@register_jitable
def cumprod_rows_cross_tangent_adjoint_x(g2, u2, s2, x2):
    """Per row, x̄ of sum_j g_j ddc_j for cumprod_rows_cross_tangent's recurrence, run
    backwards (the third derivative of cumprod)."""
    out = np.empty_like(x2)
    n = x2.shape[1]
    c = np.empty(n + 1, x2.dtype)  # (c[j], d[j], e[j], f[j]: the values before step j)
    d = np.empty(n + 1, x2.dtype)
    e = np.empty(n + 1, x2.dtype)
    f = np.empty(n + 1, x2.dtype)
    for i in range(x2.shape[0]):
        c[0], d[0], e[0], f[0] = 1.0, 0.0, 0.0, 0.0
        for j in range(n):
            f[j + 1] = f[j] * x2[i, j] + d[j] * s2[i, j] + e[j] * u2[i, j]
            e[j + 1] = e[j] * x2[i, j] + c[j] * s2[i, j]
            d[j + 1] = d[j] * x2[i, j] + c[j] * u2[i, j]
            c[j + 1] = c[j] * x2[i, j]
        c_bar, d_bar, e_bar, f_bar = 0.0, 0.0, 0.0, 0.0
        for j in range(n - 1, -1, -1):
            f_bar += g2[i, j]
            out[i, j] = f_bar * f[j] + e_bar * e[j] + d_bar * d[j] + c_bar * c[j]
            c_bar = c_bar * x2[i, j] + d_bar * u2[i, j] + e_bar * s2[i, j]
            d_bar = d_bar * x2[i, j] + f_bar * s2[i, j]
            e_bar = e_bar * x2[i, j] + f_bar * u2[i, j]
            f_bar = f_bar * x2[i, j]
    return out


@register_jitable
def cumprod_cross_tangent_adjoint_x(g, u, s, x, axis=None):
    """x̄ of cumprod_cross_tangent(u, s, x, ...) given the adjoint `g` of its result."""
    g2 = to_rows(np.ascontiguousarray(g).reshape(x.shape), axis)
    rows = cumprod_rows_cross_tangent_adjoint_x(g2, to_rows(u, axis), to_rows(s, axis),
                                                to_rows(x, axis))
    return from_rows(rows, x, axis)


@register_jitable
def cumprod_rows_triple_tangent(u2, s2, t2, x2):
    """Per row, the tangent along t (of x) of cumprod_rows_cross_tangent(u2, s2, x2)."""
    out = np.empty_like(x2)
    for i in range(x2.shape[0]):
        c, d, e, f = 1.0, 0.0, 0.0, 0.0  # (the recurrence of the cross tangent)
        dc, dd, de, df = 0.0, 0.0, 0.0, 0.0  # (their tangents along t)
        for j in range(x2.shape[1]):
            xj, uj, sj, tj = x2[i, j], u2[i, j], s2[i, j], t2[i, j]
            df = df * xj + f * tj + dd * sj + de * uj
            de = de * xj + e * tj + dc * sj
            dd = dd * xj + d * tj + dc * uj
            dc = dc * xj + c * tj
            f = f * xj + d * sj + e * uj
            e = e * xj + c * sj
            d = d * xj + c * uj
            c = c * xj
            out[i, j] = df
    return out


@register_jitable
def cumprod_triple_tangent(u, s, t, x, like, axis=None):
    """The third derivative of np.cumprod(x, axis) along u, s and t."""
    rows = cumprod_rows_triple_tangent(to_rows(u, axis), to_rows(s, axis), to_rows(t, axis),
                                       to_rows(x, axis))
    return from_rows(rows, like, axis)


@register_jitable
def cumprod_cross_tangent(u, s, x, like, axis=None):
    """The second derivative of np.cumprod(x, axis) along u and s."""
    rows = cumprod_rows_cross_tangent(to_rows(u, axis), to_rows(s, axis), to_rows(x, axis))
    return from_rows(rows, like, axis)


def softmax_adjoint(g, ans, axis=None):
    """x̄ = s (g - sum(g s)) with s = softmax(x) along the axes."""
    return from_rows(softmax_rows_adjoint(to_rows(g, axis), to_rows(ans, axis)), ans, axis)


def log_softmax_adjoint(g, ans, axis=None):
    """x̄ = g - exp(ans) sum(g) with ans = log_softmax(x) along the axes."""
    return from_rows(log_softmax_rows_adjoint(to_rows(g, axis), to_rows(ans, axis)), ans, axis)


# ---- softmax, log_softmax and their adjoints line by line ---------------------------------
# (a matrix over one axis: loops over its lines compile in a third of the rows kernels' time;
# each line's arithmetic is the rows kernel's row's)

@register_jitable
def softmax_line(x, out):
    shift = np.max(x)
    total = 0.0
    for j in range(x.size):
        out[j] = np.exp(x[j] - shift)
        total += out[j]
    for j in range(x.size):
        out[j] /= total


@register_jitable
def log_softmax_line(x, out):
    shift = np.max(x)
    shift = shift if np.isfinite(shift) else 0.0
    total = 0.0
    for j in range(x.size):
        out[j] = x[j] - shift
        total += np.exp(out[j])
    for j in range(x.size):
        out[j] -= np.log(total)


@register_jitable
def _softmax_adjoint_line(g, s, out):
    total = 0.0
    for j in range(s.size):
        total += g[j] * s[j]
    for j in range(s.size):
        out[j] = s[j] * (g[j] - total)


@register_jitable
def _log_softmax_adjoint_line(g, ans, out):
    total = sum_blocked(g)
    for j in range(ans.size):
        out[j] = g[j] - np.exp(ans[j]) * total


def map_lines(kernel, operands):
    """f(x, axis) (`operands` 1) or f(g, ans, axis) (2): `kernel(*lines, out_line)` over the
    lines along `axis` of matrices of one shape, out in the dtype of the last."""
    def one(x, axis=None):
        first, kept, _ = _lines(x.shape, axis)
        out = np.empty(x.shape, x.dtype)
        for i in range(kept):
            if first:
                kernel(x[:, i], out[:, i])
            else:
                kernel(x[i], out[i])
        return out

    def two(g, ans, axis=None):  # (an adjoint's arguments, by their names)
        first, kept, _ = _lines(ans.shape, axis)
        out = np.empty(ans.shape, ans.dtype)
        for i in range(kept):
            if first:
                kernel(g[:, i], ans[:, i], out[:, i])
            else:
                kernel(g[i], ans[i], out[i])
        return out
    return one if operands == 1 else two


def _lines_or_rows(adjoint, line_kernel, rows_kernel):
    """Compile `adjoint(g, ans, axis)` line by line for a matrix over one axis, else on rows."""
    @overload(adjoint)
    def _compiled(g, ans, axis=None):
        if _on_lines(ans, axis):
            return map_lines(line_kernel, 2)
        return lambda g, ans, axis=None: from_rows(
            rows_kernel(to_rows(g, axis), to_rows(ans, axis)), ans, axis)


_lines_or_rows(softmax_adjoint, _softmax_adjoint_line, softmax_rows_adjoint)
_lines_or_rows(log_softmax_adjoint, _log_softmax_adjoint_line, log_softmax_rows_adjoint)


# ---- covariance: np.cov of one array of observations ----------------------------------------
# Variables are rows (columns with rowvar=False); x is m with each variable's mean taken away
# and s the divisor (observations less ddof), so that np.cov(m) is x x^T / s. Its adjoint is
# (g + g^T) x / s (already centred: x's rows sum to 0), its tangent (u x^T + x u^T) / s with u
# the centred tangent; each is linear in both its arguments, and the three are one family of
# rules (the adjoint of one is another). A 1-D m is one variable: x . x / s, a number. A matrix
# of one variable stays 1 x 1 (NumPy squeezes it to a number).

_COV_ONE_ARRAY = "srcad: np.cov of one array of observations (stack the variables of y into m)"


def _cov_divisor(n, bias, ddof):
    return n - (ddof if ddof is not None else 0 if bias else 1)


@overload(_cov_divisor)
def _cov_divisor_typed(n, bias, ddof):
    if is_none(ddof):
        return lambda n, bias, ddof: n - (0 if bias else 1)
    return lambda n, bias, ddof: n - ddof


@register_jitable
def _centred_rows(m, rowvar):
    """The variables as rows, less their means (float64, C order)."""
    a = np.ascontiguousarray(m) if rowvar else np.ascontiguousarray(m.T)
    x = np.empty(a.shape, np.float64)
    for i in range(a.shape[0]):
        mean = 0.0
        for j in range(a.shape[1]):
            mean += a[i, j]
        mean /= a.shape[1]
        for j in range(a.shape[1]):
            x[i, j] = a[i, j] - mean
    return x


@register_jitable
def _as_given(s, rowvar):
    return s if rowvar else np.ascontiguousarray(s.T)


def _cov_checked(m, y):
    if y is not None:
        raise ValueError(_COV_ONE_ARRAY)
    if np.ndim(m) not in (1, 2):
        raise ValueError(f"srcad: np.cov of a vector or a matrix, not of {np.ndim(m)} axes")


def _by_rank(of_vector, of_matrix):
    """kernel(a, m, y, rowvar, bias, ddof): of_vector(a, m, bias, ddof) for a vector m,
    of_matrix(a, m, rowvar, bias, ddof) for a matrix (chosen when Numba types m)."""
    def kernel(a, m, y, rowvar, bias, ddof):
        _cov_checked(m, y)
        return of_vector(a, m, bias, ddof) if np.ndim(m) == 1 else \
            of_matrix(a, m, rowvar, bias, ddof)

    @overload(kernel)
    def _kernel(a, m, y, rowvar, bias, ddof):
        if not is_none(y):
            raise TypingError(_COV_ONE_ARRAY)
        if not (isinstance(m, types.Array) and m.ndim in (1, 2)):
            raise TypingError(f"srcad: np.cov of a vector or a matrix, not of {m}")
        if m.ndim == 1:
            return lambda a, m, y, rowvar, bias, ddof: of_vector(a, m, bias, ddof)
        return lambda a, m, y, rowvar, bias, ddof: of_matrix(a, m, rowvar, bias, ddof)
    return kernel


@register_jitable
def _centred(m):
    return m.astype(np.float64) - np.mean(m)


@register_jitable
def _sum_of_squares(x):
    return np.dot(x, x)


@register_jitable
def _transposed(x):
    return np.ascontiguousarray(x.T)


_cov = _by_rank(
    register_jitable(lambda _, m, bias, ddof: _sum_of_squares(_centred(m)) /
                     _cov_divisor(m.shape[0], bias, ddof)),
    register_jitable(lambda _, m, rowvar, bias, ddof: _gram(_centred_rows(m, rowvar), bias, ddof)))
_cov_adjoint = _by_rank(
    register_jitable(lambda gy, m, bias, ddof: 2.0 * gy * _centred(m) /
                     _cov_divisor(m.shape[0], bias, ddof)),
    register_jitable(lambda gy, m, rowvar, bias, ddof: _as_given(
        np.dot((gy + gy.T).astype(np.float64), _centred_rows(m, rowvar)) /
        _cov_divisor(m.shape[1 if rowvar else 0], bias, ddof), rowvar)))
_cov_tangent = _by_rank(
    register_jitable(lambda t, m, bias, ddof: 2.0 * np.dot(t.astype(np.float64), _centred(m)) /
                     _cov_divisor(m.shape[0], bias, ddof)),
    register_jitable(lambda t, m, rowvar, bias, ddof: _symmetric_product(
        _centred_rows(t, rowvar), _centred_rows(m, rowvar), bias, ddof)))


@register_jitable
def _gram(x, bias, ddof):
    return np.dot(x, _transposed(x)) / _cov_divisor(x.shape[1], bias, ddof)


@register_jitable
def _symmetric_product(u, x, bias, ddof):
    return (np.dot(u, _transposed(x)) + np.dot(x, _transposed(u))) / \
        _cov_divisor(x.shape[1], bias, ddof)


@register_jitable
def cov(m, y=None, rowvar=True, bias=False, ddof=None):
    """np.cov(m, rowvar=, bias=, ddof=)."""
    return _cov(m, m, y, rowvar, bias, ddof)


@register_jitable
def cov_adjoint(gy, m, y=None, rowvar=True, bias=False, ddof=None):
    return _cov_adjoint(gy, m, y, rowvar, bias, ddof)


@register_jitable
def cov_tangent(t, m, y=None, rowvar=True, bias=False, ddof=None):
    return _cov_tangent(t, m, y, rowvar, bias, ddof)
