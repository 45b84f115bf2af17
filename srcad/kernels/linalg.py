"""Adjoints (vector-Jacobian products) of linear algebra, for plain Python and Numba.

`<f>_adjoint_<arg>(g, ...)` is the adjoint of argument `<arg>` of `<f>` given the adjoint `g`
of its result (and the result `ans` where that saves work); `<f>_adjoint` when `<f>` has one
differentiable argument. Matrices are 2-D: stacks of matrices are an error.

Cholesky and eigh read one triangle of a symmetric `a`; their adjoints are the symmetric
ones, (ā + ā^T) / 2: the derivative along symmetric perturbations, the only ones that keep
`a` a valid input. Forward helpers for forms Numba lacks: `norm_along`, `tensordot`.
"""

import numpy as np
import scipy.linalg
from numba import literally
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype
from numba.np.unsafe.ndarray import to_fixed_tuple

from ..errors import UnsupportedError
from ..special import is_transposed  # (importing srcad.special registers the SciPy solvers)
from .reductions import products_of_others
from .rows import (
    UNKNOWN,
    constant,
    from_rows,
    int_array,
    is_none,
    moved,
    naxes,
    numba_form,
    require_array,
    row_sum,
    rows_vector,
    shape_reduced,
    shared_among,
    to_rows,
    unmoved,
)


@register_jitable
def _check_square(a):
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("srcad: this adjoint takes a square 2-D matrix (stacks of matrices "
                         "are not supported)")


@register_jitable
def _columns(b):
    """A vector or a matrix as a matrix of columns."""
    return np.ascontiguousarray(b).reshape((b.shape[0], 1 if b.ndim == 1 else b.shape[-1]))


@register_jitable
def _transpose(a):
    return np.ascontiguousarray(a.T)


# ---- solve, inv, det, slogdet -------------------------------------------------------------

@register_jitable
def solve_adjoint_b(g, a):
    """b̄ = a^-T g."""
    _check_square(a)
    return np.linalg.solve(_transpose(a), g)


@register_jitable
def solve_adjoint_a(g, a, ans):
    """ā = -b̄ x^T with b̄ = a^-T g and x = ans (an outer product when b is a vector)."""
    return -np.dot(_columns(solve_adjoint_b(g, a)), _columns(ans).T)


@register_jitable
def inv_adjoint(g, ans):
    """ā = -ans^T g ans^T."""
    _check_square(ans)
    t = _transpose(ans)
    return -np.dot(np.dot(t, np.ascontiguousarray(g)), t)


@register_jitable
def _power_base(a, n):
    """(b, |n|) with a^n = b^|n|: b is a, or its inverse for a negative n."""
    _check_square(a)
    a = np.ascontiguousarray(a)
    return (a if n >= 0 else np.ascontiguousarray(np.linalg.inv(a))), abs(n)


@register_jitable
def matrix_power(a, n):
    """np.linalg.matrix_power of a square matrix, by NumPy's squarings (Numba's own returns
    an optional array, which its other functions do not take)."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    b, m = _power_base(a, n)
    if m == 0:
        return np.eye(b.shape[0], dtype=b.dtype)
    if m <= 3:
        out = b.copy()
        for _ in range(m - 1):
            out = np.dot(out, b)
        return out
    z = _squarings(b, m)
    out, first = z[0], True
    for k in range(z.shape[0]):
        if (m >> k) & 1:
            out, first = z[k] if first else np.dot(out, z[k]), False
    return out


@register_jitable
def _squarings(b, m):
    """b, b^2, b^4, ... to the highest bit of m > 0, as one (bits, d, d) array: a^m is the
    product of those whose bit of m is 1, lowest first, as NumPy takes it."""
    bits = 1
    while m >> bits:
        bits += 1
    z = np.empty((bits,) + b.shape, b.dtype)
    z[0] = b
    for k in range(1, bits):
        z[k] = np.dot(z[k - 1], z[k - 1])
    return z


@register_jitable
def matrix_power_adjoint(g, a, n):
    """ā for a^n, through the squarings and products that compute it (log2 |n| matrices
    kept), then through the inverse (-b^T b̄ b^T, b = a^-1) when n is negative."""
    b, m = _power_base(a, n)
    if m == 0:
        return np.zeros_like(b)
    z = _squarings(b, m)
    before = np.empty_like(z)  # the product before each factor z[k] that multiplies it
    product, first = z[0], True
    for k in range(z.shape[0]):
        if (m >> k) & 1:
            if not first:
                before[k] = product
                product = np.dot(product, z[k])
            else:
                product, lowest, first = z[k], k, False
    gz = np.zeros_like(z)
    g_product = np.ascontiguousarray(g).astype(b.dtype)
    for k in range(z.shape[0] - 1, lowest, -1):
        if (m >> k) & 1:
            gz[k] += np.dot(_transpose(before[k]), g_product)
            g_product = np.dot(g_product, _transpose(z[k]))
    gz[lowest] += g_product
    for k in range(z.shape[0] - 1, 0, -1):  # (z[k] = z[k-1] z[k-1])
        gz[k - 1] += np.dot(gz[k], _transpose(z[k - 1])) + np.dot(_transpose(z[k - 1]), gz[k])
    if n < 0:
        return -np.dot(np.dot(_transpose(b), gz[0]), _transpose(b))
    return gz[0]


@register_jitable
def matrix_power_tangent(t, a, n):
    """The tangent of a^n along t, beside the squarings and products that compute it (t_b =
    -b t b for a negative n, b = a^-1)."""
    b, m = _power_base(a, n)
    t = np.ascontiguousarray(t).astype(b.dtype)
    if m == 0:
        return np.zeros_like(t)
    if n < 0:
        t = -np.dot(np.dot(b, t), b)
    z = _squarings(b, m)
    dz, product, d_product, first = t, z[0], t, True
    for k in range(z.shape[0]):
        if k:  # (z[k] = z[k-1] z[k-1])
            dz = np.dot(dz, z[k - 1]) + np.dot(z[k - 1], dz)
        if (m >> k) & 1:
            if first:
                product, d_product, first = z[k], dz, False
            else:
                d_product = np.dot(d_product, z[k]) + np.dot(product, dz)
                product = np.dot(product, z[k])
    return d_product


@register_jitable
def _pinv_parts(u, a, ans):
    """(P, P^T, u^T, I - a P, I - P a) for P = ans = pinv(a), contiguous."""
    a, p = np.ascontiguousarray(a), np.ascontiguousarray(ans)
    return p, _transpose(p), _transpose(u), np.eye(a.shape[0]) - np.dot(a, p), \
        np.eye(a.shape[1]) - np.dot(p, a)


@register_jitable
def pinv_adjoint(g, a, ans):
    """ā = -P^T g P^T + (I - a P) g^T P P^T + P^T P g^T (I - P a) for P = ans = pinv(a), the
    adjoint of Golub and Pereyra's derivative (a of constant rank, as a full-rank one is)."""
    p, pt, gt, left, right = _pinv_parts(g, a, ans)
    return -np.dot(np.dot(pt, np.ascontiguousarray(g)), pt) + \
        np.dot(np.dot(left, gt), np.dot(p, pt)) + np.dot(np.dot(pt, p), np.dot(gt, right))


@register_jitable
def pinv_tangent(t, a, ans):
    """dP = -P t P + P P^T t^T (I - a P) + (I - P a) t^T P^T P for P = ans = pinv(a)."""
    p, pt, tt, left, right = _pinv_parts(t, a, ans)
    return -np.dot(np.dot(p, np.ascontiguousarray(t)), p) + \
        np.dot(np.dot(p, pt), np.dot(tt, left)) + np.dot(np.dot(right, tt), np.dot(pt, p))


@register_jitable
def lstsq_cutoff(a):
    """np.linalg.lstsq's rcond=None: singular values below eps max(m, n) times the largest
    are dropped (eps of float64, in which NumPy computes)."""
    return 2.220446049250313e-16 * max(a.shape[0], a.shape[1])


def lstsq_solution(a, b):
    """np.linalg.lstsq(a, b)[0] (rcond=None), computed in float64 as NumPy computes it."""
    return np.linalg.lstsq(a, b, rcond=None)[0]


@overload(lstsq_solution)
def _lstsq_solution(a, b):
    single = all(isinstance(x, types.Array) and x.dtype == types.float32 for x in (a, b))
    out = np.float32 if single else np.float64

    def solve(a, b):
        a64 = np.asarray(a, np.float64)
        return np.linalg.lstsq(a64, np.asarray(b, np.float64), lstsq_cutoff(a64))[0].astype(out)
    return solve


@register_jitable
def _lstsq_pinv(a):
    a = np.ascontiguousarray(a)
    return np.linalg.pinv(a, lstsq_cutoff(a))


@register_jitable
def lstsq_adjoint_a(g, a, b):
    """ā of x = pinv(a) b: pinv's adjoint of g bᵀ (a of constant rank)."""
    return pinv_adjoint(np.dot(_columns(g), _transpose(_columns(b))), a, _lstsq_pinv(a))


@register_jitable
def lstsq_adjoint_b(g, a, b):
    """b̄ = pinv(a)ᵀ g."""
    return np.dot(_transpose(_lstsq_pinv(a)), np.ascontiguousarray(g))


@register_jitable
def lstsq_tangent_a(t, a, b):
    """dx = d(pinv(a)) b."""
    return np.dot(pinv_tangent(t, a, _lstsq_pinv(a)), np.ascontiguousarray(b))


# ---- qr -----------------------------------------------------------------------------------
# np.linalg.qr(a) = (q, r), reduced, of a matrix with at least as many rows as columns (of full
# column rank): with M = r ḡrᵀ - ḡqᵀ q, ā = (ḡq + q sym(M)) r⁻ᵀ, sym(M) M's lower triangle
# mirrored; linear in (ḡq, ḡr), so each result's adjoint is its share of it. Tangents: with
# X = qᵀ t r⁻¹ and U = X - Ω, Ω = tril(X, -1) - tril(X, -1)ᵀ (qᵀ dq), dr = U r, dq = t r⁻¹ - q U.

@register_jitable
def _qr(a):
    if a.shape[0] < a.shape[1]:
        raise ValueError("srcad differentiates np.linalg.qr of a matrix with at least as many "
                         "rows as columns")
    q, r = np.linalg.qr(np.ascontiguousarray(a))
    return np.ascontiguousarray(q), np.ascontiguousarray(r)


@register_jitable
def _lower_mirrored(m):
    """The symmetric matrix whose lower triangle is m's."""
    return np.tril(m, -1) + _transpose(np.tril(m))


@register_jitable
def _over_r_transposed(x, r):
    """x r⁻ᵀ."""
    return _transpose(np.linalg.solve(r, _transpose(x)))


@register_jitable
def qr_q_adjoint(g, a):
    q, r = _qr(a)
    g = np.ascontiguousarray(g)
    return _over_r_transposed(g - np.dot(q, _lower_mirrored(np.dot(_transpose(g), q))), r)


@register_jitable
def qr_r_adjoint(g, a):
    q, r = _qr(a)
    return _over_r_transposed(np.dot(q, _lower_mirrored(np.dot(r, _transpose(g)))), r)


@register_jitable
def _qr_tangent(t, a):
    """(q, r, t r⁻¹, U)."""
    q, r = _qr(a)
    t_over_r = _transpose(np.linalg.solve(_transpose(r), _transpose(t)))
    x = np.dot(_transpose(q), t_over_r)
    below = np.tril(x, -1)
    return q, r, t_over_r, x - below + _transpose(below)


@register_jitable
def qr_q_tangent(t, a):
    q, _, t_over_r, u = _qr_tangent(t, a)
    return t_over_r - np.dot(q, u)


@register_jitable
def qr_r_tangent(t, a):
    _, r, _, u = _qr_tangent(t, a)
    return np.dot(u, r)


# ---- expm -------------------------------------------------------------------------------
# scipy.linalg.expm by scaling and squaring with the degree-13 Padé approximant (Higham 2005),
# exact to rounding where ‖2⁻ˢ a‖₁ ≤ θ₁₃, in float64. The derivative of expm at a along e, the
# Fréchet derivative L(a, e), is the upper right block of expm([[a, e], [0, a]]); ā = L(aᵀ, ḡ).

_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


@register_jitable
def _expm64(a):
    n = a.shape[0]
    norm = np.max(np.sum(np.abs(a), axis=0)) if n else 0.0
    if not np.isfinite(norm):
        if np.count_nonzero(a) == np.count_nonzero(np.diag(a)):  # (SciPy's exact diagonal)
            return np.diag(np.exp(np.diag(a)))
        return np.full((n, n), np.nan)
    squarings = max(0, int(np.ceil(np.log2(norm / _THETA13)))) if norm > _THETA13 else 0
    x = np.ascontiguousarray(a) / 2.0 ** squarings
    b = _PADE13
    x2 = np.dot(x, x)
    x4 = np.dot(x2, x2)
    x6 = np.dot(x4, x2)
    odd = np.dot(x6, b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2
    u = np.dot(x, odd + b[1] * np.eye(n))
    v = np.dot(x6, b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 + \
        b[0] * np.eye(n)
    r = np.ascontiguousarray(np.linalg.solve(v - u, v + u))
    for _ in range(squarings):
        r = np.dot(r, r)
    return r


def expm(a):
    """scipy.linalg.expm(a) (SciPy's own in Python; in compiled code, a kernel)."""
    return scipy.linalg.expm(a)


@overload(expm)
def _expm(a):
    require_array(a, "scipy.linalg.expm")
    out = np.float32 if a.dtype == types.float32 else np.float64
    if a.ndim != 2:  # (stacks of matrices are refused before: expm's rule takes 2-D arrays)
        def not_a_matrix(a):
            if a.size >= 0:  # (always; a condition Numba keeps, so that the return types it)
                raise np.linalg.LinAlgError("The input array must be at least two-dimensional")
            return np.empty((0, 0), out)
        return not_a_matrix

    def impl(a):
        if a.shape[0] != a.shape[1]:
            raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
        return _expm64(np.asarray(a, np.float64)).astype(out)
    return impl


@register_jitable
def _block(a, e):
    """[[a, e], [0, a]] in float64."""
    n = a.shape[0]
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = a
    block[n:, n:] = a
    block[:n, n:] = e
    return block


@register_jitable
def expm_frechet(a, e):
    """L(a, e): the derivative of expm at a along e, in a's dtype. (e is scaled to a's norm
    first, L being linear in e, so that the block's squarings suit a.)"""
    _check_square(a)
    n = a.shape[0]
    norm_a, norm_e = np.sum(np.abs(a)), np.sum(np.abs(e))
    scale = norm_a / norm_e if norm_a > 0.0 and norm_e > 0.0 else 1.0
    out = np.empty((n, n), a.dtype)
    out[:] = _expm64(_block(a, e * scale))[:n, n:] / scale
    return out


@register_jitable
def expm_frechet_tangent_a(t, a, e):
    """dL(a, e) along t: the upper right block of L([[a, e], [0, a]], [[t, 0], [0, t]])."""
    n = a.shape[0]
    return np.ascontiguousarray(expm_frechet(_block(a, e), _block(t, 0.0 * e))[:n, n:])


@register_jitable
def _frechet_adjoint(g, a, e):
    """L([[a, e], [0, a]]ᵀ, [[0, g], [0, 0]]): its diagonal blocks summed are ā, its upper right
    block ē."""
    n = a.shape[0]
    seed = np.zeros((2 * n, 2 * n))
    seed[:n, n:] = g
    return expm_frechet(_transpose(_block(a, e)), seed)


@register_jitable
def expm_frechet_adjoint_a(g, a, e):
    n = a.shape[0]
    w = _frechet_adjoint(g, a, e)
    return w[:n, :n] + w[n:, n:]


@register_jitable
def expm_frechet_adjoint_e(g, a, e):
    n = a.shape[0]
    return np.ascontiguousarray(_frechet_adjoint(g, a, e)[:n, n:])


@register_jitable
def lstsq_residual_count(a, b, rank):
    """How many sums of squared residuals np.linalg.lstsq(a, b) gives: one per column of b
    where a has full column rank and more rows than columns, else none."""
    if rank < a.shape[1] or a.shape[0] <= a.shape[1]:
        return 0
    return 1 if b.ndim == 1 else b.shape[1]


@register_jitable
def singular_values_adjoint(g, a):
    """ā = U diag(g) V^T over the min(m, n) singular triplets (singular values that are
    distinct and nonzero have this derivative; NumPy's order, largest first, is kept)."""
    u, _, vh = np.linalg.svd(np.ascontiguousarray(a), False)
    return np.dot(u * g, vh)


@register_jitable
def singular_values_tangent(t, a):
    """dσ_i = u_i^T t v_i."""
    u, _, vh = np.linalg.svd(np.ascontiguousarray(a), False)
    return np.sum(u * np.dot(np.ascontiguousarray(t), _transpose(vh)), axis=0)


@register_jitable
def cofactors(a):
    """The cofactor matrix adj(a)^T = det(u) det(vh) u diag(prod_{j != i} s_j) vh, from the
    SVD a = u diag(s) vh: defined, and exact, for a singular `a` too."""
    u, s, vh = np.linalg.svd(a)
    others = products_of_others(s.reshape((1, s.size)))
    return np.linalg.det(u) * np.linalg.det(vh) * np.dot(u * others, vh)


# past this 1-norm condition number, det(a) a^-1 loses more than about 1e-9 of its digits to
# rounding (det(a) tends to 0 as a^-1 grows: their product is the finite adjugate)
CONDITION_LIMIT = 1e7


@register_jitable
def _conditioned_inverse(a, det):
    """(True, a^-1) where det(a) a^-1 is accurate: det(a) != 0 and a's condition number is
    below CONDITION_LIMIT (or NaN: a NaN in a gives NaNs, as before); else (False, a)."""
    # (a in the layout of Numba's inv, Fortran's: np.dot warns of a mixed one, 'A')
    if a.size == 0:  # (det of the empty matrix is 1, its inverse empty)
        return True, np.asfortranarray(a)
    if det == 0:
        return False, np.asfortranarray(a)
    inverse = np.linalg.inv(a)
    norm = np.max(np.sum(np.abs(a), axis=0)) * np.max(np.sum(np.abs(inverse), axis=0))
    return not norm >= CONDITION_LIMIT, inverse


@register_jitable
def det_adjoint(g, a, ans):
    """ā = g cofactors(a): g det(a) a^-T where a is well conditioned, else from the SVD."""
    _check_square(a)
    conditioned, inverse = _conditioned_inverse(a, ans)
    if conditioned:
        return (g * ans) * _transpose(inverse)
    return g * cofactors(a)


@register_jitable
def det_tangent(u, a, det):
    """d det = tr(adj(a) u) along u: det(a) tr(a^-1 u), or from the cofactors where a is
    singular or nearly."""
    _check_square(a)
    conditioned, inverse = _conditioned_inverse(a, det)
    if conditioned:
        return det * np.trace(np.dot(inverse, np.ascontiguousarray(u)))
    return np.sum(cofactors(a) * u)


@register_jitable
def det_tangent_adjoint_a(g, u, a, det):
    """The adjoint in `a` of det_tangent with `det` held: -g det (a^-1 u a^-1)^T; where a is
    singular or nearly (det_tangent does not read det there), g times the whole gradient of
    tr(adj(a) u), from the minors' cofactors."""
    conditioned, inverse = _conditioned_inverse(a, det)
    if not conditioned:
        return g * adjugate_curvature(u, a)
    return -(g * det) * _transpose(np.dot(np.dot(inverse, np.ascontiguousarray(u)), inverse))


@register_jitable
def det_tangent_adjoint_det(g, u, a, det):
    """The adjoint in `det` of det_tangent: g tr(a^-1 u), 0 where a is singular or nearly."""
    conditioned, inverse = _conditioned_inverse(a, det)
    if not conditioned:
        return 0.0 * g
    return g * np.trace(np.dot(inverse, np.ascontiguousarray(u)))


@register_jitable
def det_tangent_tangent_a(t, u, a, det):
    """The tangent along t of det_tangent in `a` with `det` held (det_tangent_adjoint_a's
    pairing with t)."""
    return np.sum(det_tangent_adjoint_a(1.0, u, a, det) * t)


@register_jitable
def adjugate_curvature(u, a):
    """The gradient in a of tr(adj(a) u) = sum_ij u_ij (-1)^(i+j) det(a without row i and column
    j): each minor's cofactors (from its SVD, exact where it is singular) put back at its
    rows and columns. O(n^5): only for matrices det(a) a^-1 cannot serve."""
    n = a.shape[0]
    out = np.zeros((n, n))
    minor = np.empty((n - 1, n - 1))
    for i in range(n):
        for j in range(n):
            if u[i, j] == 0:
                continue
            for r in range(n - 1):
                for c in range(n - 1):
                    minor[r, c] = a[r + (r >= i), c + (c >= j)]
            weight = u[i, j] * (1.0 if (i + j) % 2 == 0 else -1.0)
            inner = cofactors(minor) if n > 1 else minor
            for r in range(n - 1):
                for c in range(n - 1):
                    out[r + (r >= i), c + (c >= j)] += weight * inner[r, c]
    return out


@register_jitable
def slogdet_adjoint(g, a):
    """ā = g a^-T, the adjoint of log|det a| (the sign has none)."""
    _check_square(a)
    return g * _transpose(np.linalg.inv(a))


# ---- cholesky and eigh --------------------------------------------------------------------

def symmetric_part(a):
    """(a + a^T) / 2."""
    return 0.5 * (a + a.T)


@numba_form(symmetric_part)
def _symmetric_part(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = 0.5 * (a[i, j] + a[j, i])
    return out


def lower_half_diagonal(a):
    """The lower triangle of `a` with its diagonal halved (Φ in Murray's Cholesky notes)."""
    return np.tril(a) - 0.5 * np.diag(np.diag(a))


@numba_form(lower_half_diagonal)
def _lower_half_diagonal(a):
    out = np.zeros_like(a)
    for i in range(a.shape[0]):
        for j in range(i):
            out[i, j] = a[i, j]
        out[i, i] = 0.5 * a[i, i]
    return out


@register_jitable
def cholesky_adjoint(g, L):
    """ā = sym(L^-T Φ(L^T tril(g)) L^-1), where Φ takes the lower triangle with half its
    diagonal and sym(s) = (s + s^T) / 2; L = np.linalg.cholesky(a), lower."""
    _check_square(L)
    p = lower_half_diagonal(np.dot(_transpose(L), np.tril(g)))  # (L's upper part is constant)
    x = scipy.linalg.solve_triangular(L, p, trans=1, lower=True)
    s = scipy.linalg.solve_triangular(L, _transpose(x), trans=1, lower=True)  # (x L^-1)^T
    return symmetric_part(s)


def eigenvector_rotation(mixing, w, gw):
    """F ∘ mixing + diag(gw), F_ij = 1 / (w_j - w_i) off the diagonal. Between eigenvectors of
    one eigenvalue (equal to rounding) the rotation is not determined by the matrix: 0 where the
    mixing is symmetric (what a function of the eigenspace, not of the basis LAPACK chose in it,
    gives; a tangent's mixing is symmetric), inf where it is not (the derivative does not exist)."""
    gaps = w[None, :] - w[:, None]
    same = np.abs(gaps) <= _rounding(w)  # (the diagonal, and equal eigenvalues)
    chosen = np.abs(mixing - mixing.T) > _rounding(mixing)
    mixing = mixing.copy()
    np.fill_diagonal(mixing, 0.0)
    rotation = np.where(same, np.where(chosen, np.inf, 0.0),
                        mixing / np.where(same, 1.0, gaps))
    return rotation + np.diag(gw)


@register_jitable
def _rounding(x):
    """What rounding leaves of the zero entries of `x`, eigenvalues or products of eigenvectors
    (LAPACK's eigenvalues are exact to a small multiple of n eps max|w|)."""
    return 16.0 * x.shape[0] * np.finfo(x.dtype).eps * np.max(np.abs(x)) if x.size else 0.0


@numba_form(eigenvector_rotation)
def _eigenvector_rotation(mixing, w, gw):
    out = np.empty_like(mixing)
    gap_rounding, mixing_rounding = _rounding(w), _rounding(mixing)
    for i in range(w.size):
        for j in range(w.size):
            if i == j:
                out[i, j] = gw[i]
            elif abs(w[j] - w[i]) > gap_rounding:
                out[i, j] = mixing[i, j] / (w[j] - w[i])
            else:
                out[i, j] = np.inf if abs(mixing[i, j] - mixing[j, i]) > mixing_rounding \
                    else 0.0
    return out


@register_jitable
def eigh_adjoint(gw, gv, w, v):
    """ā = sym(v (diag(gw) + F ∘ (v^T gv)) v^T), F_ij = 1 / (w_j - w_i) off the diagonal;
    `gw`, `gv` the adjoints of the eigenvalues and eigenvectors (zeros when unused).
    Equal eigenvalues: see eigenvector_rotation."""
    _check_square(v)
    inner = eigenvector_rotation(np.dot(_transpose(v), np.ascontiguousarray(gv)), w, gw)
    return symmetric_part(np.dot(np.dot(v, inner), _transpose(v)))


@register_jitable
def lower_triangle_adjoint(s):
    """The adjoint of `a` for a function of a symmetric matrix that reads only a's lower
    triangle (np.linalg.cholesky, eigh, eigvalsh), given `s`, its adjoint as a function of
    the whole symmetric matrix: s_ij + s_ji below the diagonal, s_ii on it, 0 above."""
    return np.tril(s) + np.tril(_transpose(s), -1)


@register_jitable
def eigenvalues_adjoint(g, a):
    """ā = v diag(g) v^T, the adjoint of the eigenvalues of the symmetric `a` alone."""
    w, v = np.linalg.eigh(a)
    return eigh_adjoint(g, np.zeros_like(v), w, v)


@register_jitable
def eigenvectors_adjoint(g, a, v):
    """The adjoint of the eigenvectors `v` of the symmetric `a` alone (see eigh_adjoint)."""
    return eigh_adjoint(np.zeros(v.shape[0], v.dtype), g, np.linalg.eigvalsh(a), v)


# ---- triangular and Cholesky solves (scipy.linalg) ----------------------------------------

@register_jitable
def _read_triangle(a, lower, unit_diagonal):
    """The part of `a` solve_triangular reads (a unit diagonal is not read)."""
    if lower:
        return np.tril(a, -1 if unit_diagonal else 0)
    return np.triu(a, 1 if unit_diagonal else 0)


@register_jitable
def solve_triangular_adjoint_b(g, a, trans=0, lower=False, unit_diagonal=False):
    """b̄ = op(a)^-T g, op(a) = a or a^T as `trans` says."""
    _check_square(a)
    return scipy.linalg.solve_triangular(a, g, trans=0 if is_transposed(trans) else 1,
                                         lower=lower, unit_diagonal=unit_diagonal)


@register_jitable
def solve_triangular_adjoint_a(g, a, ans, trans=0, lower=False, unit_diagonal=False):
    """ā = -b̄ x^T (op(a) = a) or -x b̄^T (op(a) = a^T), on the triangle that is read."""
    bb = _columns(solve_triangular_adjoint_b(g, a, trans, lower, unit_diagonal))
    x = _columns(ans)
    full = np.dot(x, bb.T) if is_transposed(trans) else np.dot(bb, x.T)
    return -_read_triangle(full, lower, unit_diagonal)


@register_jitable
def cho_solve_adjoint_b(g, c_and_lower):
    """b̄ = (c c^T)^-1 g (the matrix solved with is symmetric)."""
    _check_square(c_and_lower[0])
    return scipy.linalg.cho_solve(c_and_lower, g)


@register_jitable
def cholesky_solve(c, b, lower=False):
    """scipy.linalg.cho_solve((c, lower), b) with the factor and its flag apart, so that the
    factor has a rule (the normalizer writes the call so when the tuple is written in it)."""
    return scipy.linalg.cho_solve((c, lower), b)


@register_jitable
def cho_solve_adjoint_c(g, c_and_lower, ans):
    """c̄ = tril((ā + ā^T) c) for a = c c^T (lower), triu(c (ā + ā^T)) for a = c^T c, where
    ā = -b̄ x^T is the adjoint of the matrix solved with."""
    c, lower = c_and_lower
    abar = -np.dot(_columns(cho_solve_adjoint_b(g, c_and_lower)), _columns(ans).T)
    sym = abar + abar.T
    if lower:  # (only the triangle of c that cho_solve reads)
        return np.tril(np.dot(sym, np.tril(c)))
    return np.triu(np.dot(np.triu(c), sym))


# ---- norms --------------------------------------------------------------------------------

def _norm_kind(ndim, ord, n_axes, axis_given):
    """'vector' (a p-norm along the axes; 'fro' is one over both), 'matrix' (a numeric ord of a
    2-D x) or 'nuc', as np.linalg.norm decides."""
    string = isinstance(ord, str)
    if string and ord not in ("fro", "nuc"):
        raise ValueError(f"srcad: invalid norm order {ord!r}")
    if not axis_given and ord is None:
        return "vector"  # (the 2-norm of the flattened array, any rank)
    if (axis_given and n_axes == 1) or (not axis_given and ndim == 1):
        if string:
            raise ValueError(f"srcad: norm order {ord!r} is for matrices")
        return "vector"
    if n_axes != 2:
        raise ValueError("srcad: norm takes one or two axes (or an array of rank 1 or 2)")
    if ord is None or ord == "fro":
        return "vector"
    if ndim != 2:
        raise ValueError(f"srcad: the matrix norm ord={ord!r} is supported for 2-D arrays only")
    return "nuc" if ord == "nuc" else "matrix"


def _needs_literal(ord):
    """A string norm order must be known at typing time: Numba compiles again with it as a
    literal when it is an argument of the compiled function."""
    return isinstance(ord, types.UnicodeType) and not isinstance(ord, types.Literal)


def _typed_norm_kind(x, ord, axis):
    value = constant(ord)
    if value is UNKNOWN:
        if not isinstance(ord, (types.Integer, types.Float)):
            raise TypingError(f"srcad: norm order must be None, a number or a string, got {ord}")
        value = 2.0  # (some number: only number, string or None matters here)
    try:
        return _norm_kind(x.ndim, value, naxes(axis, x.ndim), not is_none(axis))
    except ValueError as error:
        raise TypingError(str(error)) from None


def order(ord):
    """The p of a vector or matrix norm order: 2 for None and 'fro'."""
    return 2.0 if ord is None or ord == "fro" or ord == "nuc" else float(ord)


@overload(order)
def _order(ord):
    if is_none(ord) or isinstance(ord, (types.UnicodeType, types.StringLiteral)):
        return lambda ord: 2.0
    return lambda ord: float(ord)


@register_jitable
def _transposed_axes(axis):
    """Are a matrix norm's axes (1, 0), its rows along axis 1 (the norm of the transpose)?"""
    if axis is None:
        return False
    first, second = axis
    if first % 2 == second % 2:
        raise ValueError("Duplicate axes given.")
    return first % 2 == 1


# (Numba's norms of orders inf, -inf (vectors), 1, -1, inf, -inf (matrices) take a largest or
# smallest value by comparisons that skip NaN: NumPy's are NaN there)
@register_jitable
def _row_norms(x2, p):
    out = np.empty(x2.shape[0], x2.dtype)
    for i in range(x2.shape[0]):
        if np.isinf(p) and x2.shape[1]:
            size = np.abs(x2[i])
            out[i] = np.max(size) if p > 0 else np.min(size)
        else:
            out[i] = np.linalg.norm(x2[i], p)
    return out


@register_jitable
def _matrix_norm(x, p):
    if np.isinf(p) or abs(p) == 1:  # (no sums: NumPy's ValueError, from np.max)
        sums = np.sum(np.abs(x), axis=1) if np.isinf(p) else np.sum(np.abs(x), axis=0)
        return np.max(sums) if p > 0 else np.min(sums)
    return np.linalg.norm(x, p)


@register_jitable
def _singular_values(x):
    return np.linalg.svd(np.ascontiguousarray(x))[1]


def norm_along(x, ord=None, axis=None, keepdims=False):
    """`np.linalg.norm(x, ord, axis, keepdims)`."""
    return np.linalg.norm(x, ord, axis, keepdims)


@overload(norm_along, prefer_literal=True)
def _norm_along(x, ord=None, axis=None, keepdims=False):
    require_array(x, "the argument of norm")
    if _needs_literal(ord):
        return lambda x, ord=None, axis=None, keepdims=False: literally(ord)
    if not isinstance(constant(keepdims), bool):
        return lambda x, ord=None, axis=None, keepdims=False: literally(keepdims)
    kind = _typed_norm_kind(x, ord, axis)
    if kind == "vector":
        return lambda x, ord=None, axis=None, keepdims=False: shape_reduced(
            _row_norms(to_rows(x, axis), order(ord)), x, axis, keepdims)
    if kind == "nuc":
        def nuclear(x, ord=None, axis=None, keepdims=False):
            _transposed_axes(axis)  # (the transpose has the same singular values)
            total = np.sum(_singular_values(x)) if x.size else 0.0  # (LAPACK takes none)
            return shape_reduced(np.full(1, total), x, None, keepdims)
        return nuclear

    def matrix(x, ord=None, axis=None, keepdims=False):
        rows = x.T if _transposed_axes(axis) else x
        value = _matrix_norm(np.ascontiguousarray(rows), order(ord))
        return shape_reduced(np.full(1, value), x, None, keepdims)
    return matrix


def vector_norm_rows_adjoint(g, x2, ans, p):
    """x̄ of the p-norm of each row: g x / ans (p = 2), g sign(x) (p = 1), g sign(x) shared by
    the entries of largest (smallest) |x| (p = inf, -inf), 0 (p = 0), and
    g sign(x) |x|^(p-1) / ans^(p-1) otherwise; 0 where the norm is 0 (a subgradient)."""
    g, ans = g[:, None], ans[:, None]
    if p == 0 or x2.shape[1] == 0:
        return np.zeros_like(x2)
    if p == 1:
        return np.sign(x2) * g
    if np.isinf(p):
        return np.sign(x2) * shared_among(np.abs(x2) == ans, g)
    size, norm = np.abs(x2), ans
    if p > 0:  # a norm of tiny or huge entries under- or overflows (NumPy's is 0 or inf where
        # the derivative is not): there, of the entries scaled by the largest
        top = np.max(size, axis=1, keepdims=True)
        lost = ((ans == 0) | np.isinf(ans)) & (top != 0) & np.isfinite(top)
        size = np.where(lost, size / np.where(lost, top, 1.0), size)
        norm = np.where(lost, np.sum(size ** p, axis=1, keepdims=True) ** (1.0 / p), ans)
    scale = np.where(norm != 0, g, 0.0) / np.where(norm != 0, norm, 1.0) ** (p - 1)  # (nan: nan)
    return np.sign(x2) * (size if p == 2 else size ** (p - 1)) * scale


@numba_form(vector_norm_rows_adjoint)
def _vector_norm_rows_adjoint(g, x2, ans, p):
    out = np.zeros_like(x2)
    for i in range(x2.shape[0]):
        ties = 0
        for j in range(x2.shape[1]):
            ties += abs(x2[i, j]) == ans[i]
        top, norm = _lost_norm(x2[i], ans[i], p)
        for j in range(x2.shape[1]):
            v = x2[i, j]
            if p == 1:
                out[i, j] = g[i] * np.sign(v)
            elif np.isinf(p):  # (no ties: a NaN norm, a NaN adjoint)
                out[i, j] = (g[i] * np.sign(v) / ties if ties else np.nan) \
                    if abs(v) == ans[i] or not ties else 0.0
            elif p != 0 and norm != 0:
                size = abs(v) / top
                out[i, j] = g[i] * np.sign(v) * (size / norm if p == 2 else
                                                 (size / norm) ** (p - 1))
    return out


@register_jitable
def _lost_norm(row, ans, p):
    """(1, ans), or where the p-norm `ans` of `row` under- or overflowed (0 or inf of entries
    that are neither), the largest |entry| and the norm of the row divided by it."""
    if p <= 0 or np.isinf(p) or (ans != 0 and not np.isinf(ans)) or row.size == 0:
        return 1.0, ans
    top = np.max(np.abs(row))
    if top == 0 or not np.isfinite(top):
        return 1.0, ans
    return top, np.sum((np.abs(row) / top) ** p) ** (1.0 / p)


@register_jitable
def vector_norm_adjoint(g, x, ans, p, axis):
    """x̄ of the p-norms along `axis` (`vector_norm_rows_adjoint` on rows)."""
    x2 = to_rows(x, axis)
    g1, ans1 = rows_vector(g, x2.shape[0]), rows_vector(ans, x2.shape[0])
    return from_rows(vector_norm_rows_adjoint(g1, x2, ans1, p), x, axis)


def largest_row_sums_adjoint(g, x, ans):
    """x̄ of max_i sum_j |x_ij| (or min): g sign(x) on the rows attaining it, shared."""
    hits = np.sum(np.abs(x), axis=1) == ans
    return np.sign(x) * shared_among(hits[None, :], g).T


@numba_form(largest_row_sums_adjoint)
def _largest_row_sums_adjoint(g, x, ans):
    sums = row_sum(np.abs(x))
    ties = np.sum(sums == ans)
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        if sums[i] == ans or ties == 0:  # (no ties: a NaN norm, a NaN adjoint)
            for j in range(x.shape[1]):
                out[i, j] = g * np.sign(x[i, j]) / ties if ties else np.nan
    return out


@register_jitable
def matrix_norm_adjoint(g, x, ans, p):
    """x̄ of the matrix p-norm of a 2-D x: g u_k v_k^T for the largest (smallest) singular
    value (p = 2, -2; assumed simple); g sign(x) on the largest (smallest) column sums
    (p = 1, -1) or row sums (p = inf, -inf), shared among ties."""
    if x.size == 0:  # (the norm of no entries: 0, or NumPy's error before this)
        return np.zeros_like(x)
    if p == 2 or p == -2:
        u, s, vh = np.linalg.svd(np.ascontiguousarray(x), False)
        k = np.argmax(s) if p > 0 else np.argmin(s)
        return g * np.outer(np.ascontiguousarray(u[:, k]), np.ascontiguousarray(vh[k, :]))
    if p == 1 or p == -1:
        return _transpose(largest_row_sums_adjoint(g, _transpose(x), ans))
    if p == np.inf or p == -np.inf:
        return largest_row_sums_adjoint(g, np.ascontiguousarray(x), ans)
    raise ValueError("srcad: invalid norm order for matrices")


@register_jitable
def nuclear_norm_adjoint(g, x):
    """x̄ = g u v^T, from the thin SVD x = u diag(s) v^T."""
    if x.size == 0:
        return np.zeros_like(x)
    u, _, vh = np.linalg.svd(np.ascontiguousarray(x), False)
    return g * np.dot(u, vh)


def norm_adjoint(g, x, ans, ord=None, axis=None):
    """x̄ of `np.linalg.norm(x, ord, axis)`: vector norms (ord None, 2, 1, inf, -inf, p) along
    the axes, matrix norms ('fro', 'nuc', 2, -2, 1, -1, inf, -inf) of a 2-D x."""
    n_axes = np.ndim(x) if axis is None else np.size(axis)
    kind = _norm_kind(np.ndim(x), ord, n_axes, axis is not None)
    if kind == "vector":
        return vector_norm_adjoint(g, x, ans, order(ord), axis)
    if kind == "nuc":
        return nuclear_norm_adjoint(g, x)
    if _transposed_axes(axis):
        return matrix_norm_adjoint(g, x.T, ans, order(ord)).T
    return matrix_norm_adjoint(g, x, ans, order(ord))


@overload(norm_adjoint)
def _norm_adjoint(g, x, ans, ord=None, axis=None):
    require_array(x, "the argument of norm")
    if _needs_literal(ord):
        return lambda g, x, ans, ord=None, axis=None: literally(ord)
    kind = _typed_norm_kind(x, ord, axis)
    if kind == "vector":
        return lambda g, x, ans, ord=None, axis=None: \
            vector_norm_adjoint(g, x, ans, order(ord), axis)
    if kind == "nuc":
        def nuclear(g, x, ans, ord=None, axis=None):
            _transposed_axes(axis)
            return nuclear_norm_adjoint(g, x)
        return nuclear

    def matrix(g, x, ans, ord=None, axis=None):
        if _transposed_axes(axis):
            return np.ascontiguousarray(matrix_norm_adjoint(g, x.T, ans, order(ord)).T)
        return matrix_norm_adjoint(g, x, ans, order(ord))
    return matrix


@register_jitable
def _norm_curvature_rows(x2, a1, p):
    out = np.zeros_like(x2)
    if p == 1 or p == 0 or np.isinf(p):
        return out
    for i in range(x2.shape[0]):
        if a1[i] != 0:
            for j in range(x2.shape[1]):
                v = abs(x2[i, j])
                out[i, j] = np.inf if v == 0 and p < 2 else \
                    (p - 1) * v ** (p - 2) / a1[i] ** (p - 1)
    return out


@register_jitable
def norm_adjoint_power(ord):
    """The power of the norm a in a vector norm's adjoint, g sign(x) |x|^(p-1) / a^(p-1): 1 - p,
    or 0 for p = 0, 1 or inf, whose adjoints do not depend on a."""
    p = order(ord)
    return 0.0 if p == 0 or p == 1 or np.isinf(p) else 1.0 - p


def norm_curvature(x, a, ord=None, axis=None):
    """c such that norm_adjoint(g, x, a, ord, axis) has the derivative g c in x, elementwise,
    with the norm `a` held fixed: (p - 1) |x|^(p-2) / a^(p-1) for a p-norm (0 for p = 0, 1 or
    inf, and where a is 0). The matrix norms besides 'fro' have no diagonal one: an error."""
    n_axes = np.ndim(x) if axis is None else np.size(axis)
    if _norm_kind(np.ndim(x), ord, n_axes, axis is not None) != "vector":
        raise UnsupportedError(f"no second derivative of np.linalg.norm's matrix norm of order "
                               f"{ord!r} (the vector norms and 'fro' have one)")
    x2 = to_rows(x, axis)
    return from_rows(_norm_curvature_rows(x2, rows_vector(a, x2.shape[0]), order(ord)), x, axis)


@overload(norm_curvature)
def _norm_curvature(x, a, ord=None, axis=None):
    if _needs_literal(ord):
        return lambda x, a, ord=None, axis=None: literally(ord)
    if _typed_norm_kind(x, ord, axis) != "vector":
        raise TypingError(f"srcad: no second derivative of np.linalg.norm's matrix norm of "
                          f"order {ord}")

    def vector(x, a, ord=None, axis=None):
        x2 = to_rows(x, axis)
        a1 = rows_vector(a, x2.shape[0])
        return from_rows(_norm_curvature_rows(x2, a1, order(ord)), x, axis)
    return vector


# ---- trace, diag, outer, kron -------------------------------------------------------------

@register_jitable
def trace_adjoint(g, x, offset=0):
    """x̄ = g on the diagonal `offset` of a 2-D x, 0 elsewhere."""
    if x.ndim != 2:
        raise ValueError("srcad: the trace adjoint takes a 2-D array")
    return g * np.eye(x.shape[0], x.shape[1], offset)


@register_jitable
def _on_diagonal(g, shape, k):
    out = np.zeros(shape, g.dtype)
    for i in range(g.size):
        out[i + max(-k, 0), i + max(k, 0)] = g[i]
    return out


def diag_adjoint(g, v, k=0):
    """v̄ of np.diag(v, k): the diagonal k of g when v is a vector (np.diag built a matrix),
    g on the diagonal k of a zero matrix when v is a matrix (np.diag read its diagonal)."""
    if np.ndim(v) == 1:
        return np.diag(g, k).copy()
    return _on_diagonal(np.asarray(g), np.shape(v), k)


@overload(diag_adjoint)
def _diag_adjoint(g, v, k=0):
    if v.ndim == 1:
        return lambda g, v, k=0: np.diag(g, k).copy()
    return lambda g, v, k=0: _on_diagonal(np.ascontiguousarray(g), v.shape, k)


@register_jitable
def outer_adjoint_a(g, a, b):
    """ā = g b (np.outer flattens its arguments)."""
    return np.dot(np.ascontiguousarray(g), np.ascontiguousarray(b).ravel()).reshape(a.shape)


@register_jitable
def outer_adjoint_b(g, a, b):
    """b̄ = g^T a."""
    return np.dot(np.ascontiguousarray(a).ravel(), np.ascontiguousarray(g)).reshape(b.shape)


def kron(a, b):
    """`np.kron(a, b)`, compiled for arrays of any layout (Numba's takes contiguous ones)."""
    return np.kron(a, b)


@overload(kron)
def _kron(a, b):
    def contiguous(v):
        return (lambda v: np.ascontiguousarray(v)) if isinstance(v, types.Array) else \
            (lambda v: v)
    first, second = register_jitable(contiguous(a)), register_jitable(contiguous(b))
    if all(isinstance(v, types.Array) for v in (a, b)) and a.dtype != b.dtype:
        # (Numba's gives the first argument's dtype: an int times a float was truncated)
        common = np.result_type(as_dtype(a.dtype), as_dtype(b.dtype))
        return lambda a, b: np.kron(first(a).astype(common), second(b).astype(common))
    return lambda a, b: np.kron(first(a), second(b))


def _matrix(a):
    if np.ndim(a) not in (1, 2):
        raise ValueError("srcad: kron adjoints take vectors or matrices")
    return np.reshape(a, (1, -1)) if np.ndim(a) == 1 else np.asarray(a)


@overload(_matrix)
def _matrix_compiled(a):
    if a.ndim not in (1, 2):
        raise TypingError("srcad: kron adjoints take vectors or matrices")
    return lambda a: np.ascontiguousarray(a).reshape((-1 if a.ndim == 2 else 1, a.shape[-1]))


def _kron_blocks(g, a, b):
    """g (the adjoint of kron(a, b)) as g4[i, k, j, l], the entry of block (i, j) at (k, l)."""
    a2, b2 = _matrix(a), _matrix(b)
    return np.reshape(g, (a2.shape[0], b2.shape[0], a2.shape[1], b2.shape[1])), a2, b2


def kron_adjoint_a(g, a, b):
    """ā_ij = sum_kl g[i p + k, j q + l] b_kl, with (p, q) the shape of b (vectors are rows)."""
    g4, _, b2 = _kron_blocks(g, a, b)
    return np.einsum("ikjl,kl->ij", g4, b2).reshape(np.shape(a))


def kron_adjoint_b(g, a, b):
    """b̄_kl = sum_ij g[i p + k, j q + l] a_ij."""
    g4, a2, _ = _kron_blocks(g, a, b)
    return np.einsum("ikjl,ij->kl", g4, a2).reshape(np.shape(b))


@register_jitable
def _kron_contract(g, a2, b2, of_a):
    m, n = a2.shape
    p, q = b2.shape
    g2 = np.ascontiguousarray(g).reshape((m * p, n * q))
    out = np.zeros(a2.shape if of_a else b2.shape, g2.dtype)
    for i in range(m):
        for j in range(n):
            for k in range(p):
                for l in range(q):
                    if of_a:
                        out[i, j] += g2[i * p + k, j * q + l] * b2[k, l]
                    else:
                        out[k, l] += g2[i * p + k, j * q + l] * a2[i, j]
    return out


@overload(kron_adjoint_a)
def _kron_adjoint_a(g, a, b):
    return lambda g, a, b: _kron_contract(g, _matrix(a), _matrix(b), True).reshape(a.shape)


@overload(kron_adjoint_b)
def _kron_adjoint_b(g, a, b):
    return lambda g, a, b: _kron_contract(g, _matrix(a), _matrix(b), False).reshape(b.shape)


# ---- tensordot ----------------------------------------------------------------------------
# tensordot(a, b, axes) is the matrix product A B of a as an M x K matrix A (free axes first,
# contracted axes last, in pair order) and b as a K x N matrix B (contracted axes first).

def contracted_axes(axes, ndim_a):
    """The axes of a and of b that np.tensordot(a, b, axes) contracts, as two intp arrays."""
    if np.ndim(axes) == 0:
        return np.arange(ndim_a - axes, ndim_a), np.arange(axes)
    return int_array(axes[0]), int_array(axes[1])


@overload(contracted_axes)
def _contracted_axes(axes, ndim_a):
    if isinstance(axes, types.Integer):
        return lambda axes, ndim_a: (np.arange(ndim_a - axes, ndim_a), np.arange(axes))
    if not isinstance(axes, types.BaseTuple) or len(axes) != 2:
        raise TypingError(f"srcad: tensordot takes axes as an int or a pair, got {axes}")
    return lambda axes, ndim_a: (int_array(axes[0]), int_array(axes[1]))


@register_jitable
def _free_axes_first(perm, contracted, start, ndim):
    """Fill `perm` with the axes not in `contracted`, in order, from position `start`."""
    j = start
    for i in range(ndim):
        if not np.any(contracted == i):
            perm[j] = i
            j += 1


@register_jitable
def tensordot_matrices(a, b, axes):
    """(A, B, the permutation of a's axes giving A, that of b's giving B)."""
    a_axes, b_axes = contracted_axes(axes, a.ndim)
    count = a_axes.size
    if b_axes.size != count:
        raise ValueError("shape-mismatch for sum")
    a_perm = np.empty(a.ndim, np.intp)
    b_perm = np.empty(b.ndim, np.intp)
    a_perm[a.ndim - count:] = a_axes % a.ndim
    b_perm[:count] = b_axes % b.ndim
    _free_axes_first(a_perm, a_perm[a.ndim - count:], 0, a.ndim)
    _free_axes_first(b_perm, b_perm[:count], count, b.ndim)
    k = 1
    for i in range(count):
        if a.shape[a_perm[a.ndim - count + i]] != b.shape[b_perm[i]]:
            raise ValueError("shape-mismatch for sum")
        k *= b.shape[b_perm[i]]
    rows = 1  # (the free extents' products: a.size // k is not one where k is 0)
    for i in range(a.ndim - count):
        rows *= a.shape[a_perm[i]]
    columns = 1
    for i in range(count, b.ndim):
        columns *= b.shape[b_perm[i]]
    return moved(a, a_perm).reshape((rows, k)), moved(b, b_perm).reshape((k, columns)), \
        a_perm, b_perm


@register_jitable
def tensordot_adjoint_a(g, a, b, axes=2):
    """ā = G B^T, as a: G the adjoint of A B."""
    a2, b2, a_perm, _ = tensordot_matrices(a, b, axes)
    g2 = np.ascontiguousarray(np.asarray(g)).reshape((a2.shape[0], b2.shape[1]))
    return unmoved(np.dot(g2, _transpose(b2)), a.shape, a_perm)


@register_jitable
def tensordot_adjoint_b(g, a, b, axes=2):
    """b̄ = A^T G, as b: G the adjoint of A B."""
    a2, b2, _, b_perm = tensordot_matrices(a, b, axes)
    g2 = np.ascontiguousarray(np.asarray(g)).reshape((a2.shape[0], b2.shape[1]))
    return unmoved(np.dot(_transpose(a2), g2), b.shape, b_perm)


def tensordot(a, b, axes=2):
    """`np.tensordot(a, b, axes)` (under Numba: axes a constant int or a pair of tuples)."""
    return np.tensordot(a, b, axes)


def _contracted_count(axes):
    """How many axes pairs tensordot contracts, from the type of `axes` (it sets the rank);
    None for an int that is not a constant."""
    value = constant(axes)
    if isinstance(value, int):
        return value
    if isinstance(axes, types.Integer):
        return None
    if isinstance(axes, types.BaseTuple) and len(axes) == 2:
        counts = [1 if isinstance(t, types.Integer) else len(t) if isinstance(t, types.BaseTuple)
                  else None for t in axes]
        if counts[0] is not None and counts[0] == counts[1]:
            return counts[0]
    raise TypingError("srcad: compiled tensordot takes axes as a constant int or a pair of "
                      f"equally long tuples of ints, got {axes}")


@overload(tensordot, prefer_literal=True)
def _tensordot(a, b, axes=2):
    require_array(a, "a")
    require_array(b, "b")
    count = _contracted_count(axes)
    if count is None:
        return lambda a, b, axes=2: literally(axes)
    rank = a.ndim + b.ndim - 2 * count

    def impl(a, b, axes=2):
        a2, b2, a_perm, b_perm = tensordot_matrices(a, b, axes)
        shape = np.empty(max(rank, 1), np.intp)
        for i in range(a.ndim - count):
            shape[i] = a.shape[a_perm[i]]
        for i in range(count, b.ndim):
            shape[a.ndim - 2 * count + i] = b.shape[b_perm[i]]
        return np.dot(a2, b2).reshape(to_fixed_tuple(shape, rank))
    return impl


# ---- pieces of the tangents (forward mode) -------------------------------------------------
# The tangents of cholesky, eigh and solve_triangular are written in rules.py as compositions
# of these linear maps and differentiable primitives, so that they have derivatives of their
# own (second derivatives run the reverse transform over the forward one). Each map's rule
# names its transpose, here beside it.

@register_jitable
def lower_symmetric(t):
    """The symmetric matrix whose lower triangle is t's: the perturbation cholesky and eigh
    see when their argument moves along t (transpose: lower_triangle_adjoint)."""
    return np.tril(t) + np.triu(_transpose(t), 1)


@register_jitable
def lower_form(x, lower):
    """x for a lower factor, x^T for an upper one: a Cholesky factor's lower form (its own
    transpose)."""
    return np.ascontiguousarray(x) if lower else _transpose(x)


@register_jitable
def gaps(w):
    """d_ij = w_j - w_i (transpose: gaps_adjoint)."""
    return w.reshape((1, -1)) - w.reshape((-1, 1))


@register_jitable
def gaps_adjoint(d):
    """w̄_k = sum_i d_ik - sum_j d_kj, the transpose of `gaps`."""
    return np.sum(d, axis=0) - np.sum(d, axis=1)


@register_jitable
def gap_divide(m, w):
    """m_ij / (w_j - w_i) off the diagonal, 0 on it (and where m_ij is), inf where only the gap
    is 0: the rotation of eigenvectors that the mixing `m` of a perturbation causes."""
    return eigenvector_rotation(m, w, np.zeros_like(w))


@register_jitable
def triangle_operand(u, trans=0, lower=False, unit_diagonal=False):
    """op(the triangle of u that solve_triangular reads), op = transpose when `trans` says
    (transpose: triangle_operand_adjoint)."""
    part = _read_triangle(u, lower, unit_diagonal)
    return _transpose(part) if is_transposed(trans) else part


@register_jitable
def triangle_operand_adjoint(u, trans=0, lower=False, unit_diagonal=False):
    """The transpose of `triangle_operand`."""
    return _read_triangle(_transpose(u) if is_transposed(trans) else np.ascontiguousarray(u),
                          lower, unit_diagonal)
