"""SciPy's special functions and triangular solvers, callable from Numba nopython code.

Importing this module registers a `numba.extending.overload` for each SciPy function itself,
so generated code calls `scipy.special.gammaln(x)` or `scipy.linalg.solve_triangular(a, b)`
and Numba compiles it; in plain Python the same call is SciPy's. How each reaches Numba:

- SciPy's C implementations, exported through `scipy.special.cython_special` and called as
  external symbols (the same numbers as SciPy): gammaln, psi (digamma), erf, erfc, erfinv,
  erfcinv, betaln, beta, ndtr, log_ndtr, ndtri, gamma, i0, i0e, i1, i1e, iv, ive, entr,
  kl_div, rel_entr, huber.
- BLAS `?trsm` from `scipy.linalg.cython_blas`: solve_triangular, cho_solve.
- Numba code: expit, logit, log_expit, xlogy, xlog1py (SciPy's formulas), polygamma (SciPy
  exports no Hurwitz zeta), logsumexp, softmax, log_softmax (rows kernels), and
  scipy.linalg.cholesky (NumPy's, through Numba).

The external symbols are registered with LLVM at import, which is what lets Numba cache the
compiled code to disk; so this module must be imported before Numba loads cached code that
calls these functions (Numba would otherwise jump to an unresolved symbol).

Scalars and float arrays of any rank broadcast as the ufuncs do, with the ufunc's result dtype
(float32 where SciPy has a float32 loop); complex arguments are a typing error.
"""

import ctypes
import math

import llvmlite.binding as llvm
import numpy as np
import scipy.linalg
import scipy.special
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import get_cython_function_address, overload, register_jitable
from numba.np.numpy_support import as_dtype, from_dtype
from scipy.special import cython_special

from .kernels.reductions import (
    log_softmax_line,
    logsumexp_along,
    map_lines,
    row_log_softmax,
    row_softmax,
    softmax_line,
)
from .kernels.rows import constant, from_rows, is_array, to_rows

# ---- SciPy's C exports --------------------------------------------------------------------

_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]


def _external(module, name, symbol, signature):
    """Register the exported function `name` of Cython `module` as LLVM symbol `symbol`."""
    address = get_cython_function_address(module, name)
    llvm.add_symbol(symbol, address)
    return types.ExternalFunction(symbol, signature)


def _c_special(name, nargs):
    """SciPy's C `double name(double, ...)`, as a function Numba calls (of `nargs` floats)."""
    wanted = "double (" + "double, " * nargs + "int __pyx_skip_dispatch)"
    exports = [export for export in (name, "__pyx_fuse_0" + name, "__pyx_fuse_1" + name)
               if export in cython_special.__pyx_capi__ and
               _capsule_name(cython_special.__pyx_capi__[export]).decode() == wanted]
    if not exports:  # (the fused variants' numbering differs between SciPy versions)
        raise ImportError(f"srcad.special: scipy.special.cython_special exports no `{wanted}` "
                          f"for {name}")
    c_function = _external("scipy.special.cython_special", exports[0], "srcad_" + name,
                           types.float64(*[types.float64] * nargs, types.intc))
    if nargs == 1:
        return register_jitable(lambda x: c_function(x, 0))
    return register_jitable(lambda x, y: c_function(x, y, 0))


_gammaln = _c_special("gammaln", 1)
_psi = _c_special("psi", 1)
_erf = _c_special("erf", 1)
_erfc = _c_special("erfc", 1)
_erfinv = _c_special("erfinv", 1)
_erfcinv = _c_special("erfcinv", 1)
_betaln = _c_special("betaln", 2)
_ndtr = _c_special("ndtr", 1)
_log_ndtr = _c_special("log_ndtr", 1)
_ndtri = _c_special("ndtri", 1)
_gamma = _c_special("gamma", 1)
_i0 = _c_special("i0", 1)
_i0e = _c_special("i0e", 1)
_i1 = _c_special("i1", 1)
_i1e = _c_special("i1e", 1)
_iv = _c_special("iv", 2)
_ive = _c_special("ive", 2)
_entr = _c_special("entr", 1)
_kl_div = _c_special("kl_div", 2)
_rel_entr = _c_special("rel_entr", 2)
_huber = _c_special("huber", 2)
_beta = _c_special("beta", 2)


# ---- functions written for Numba ----------------------------------------------------------

@register_jitable
def _expit(x):
    return 1.0 / (1.0 + math.exp(-x))


@register_jitable
def _logit(x):
    if 0.3 <= x <= 0.65:  # (log(x / (1 - x)) loses digits near 1/2)
        s = 2.0 * (x - 0.5)
        return math.log1p(s) - math.log1p(-s)
    return math.log(x / (1.0 - x))


@register_jitable
def _log_expit(x):
    if x < 0:  # (log(1 / (1 + exp(-x))) overflows or cancels in a tail)
        return x - math.log1p(math.exp(x))
    return -math.log1p(math.exp(-x))


@register_jitable
def _xlogy(x, y):
    if x == 0 and not math.isnan(y):
        return 0.0
    return x * math.log(y)


@register_jitable
def _xlog1py(x, y):
    if x == 0 and not math.isnan(y):
        return 0.0
    return x * math.log1p(y)


# (2k)! / B_2k, the Euler-Maclaurin coefficients of the Hurwitz zeta tail
_EULER_MACLAURIN = np.array([
    12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
    -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
    1.8152105401943546773e17, -7.1661652561756670113e18])


@register_jitable
def hurwitz_zeta(s, q):
    """zeta(s, q) = sum_k (q + k)^-s for an integer s > 1 (q may be negative, not an integer):
    the first terms summed until q + k > 9, the tail by Euler-Maclaurin."""
    if q <= 0 and q == math.floor(q):
        return math.inf
    if q == math.inf:
        return 0.0
    total = q ** -s
    a = q
    i = 0
    term = total
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        term = a ** -s
        total += term
        if abs(term) < 1.1e-16 * abs(total):  # (no division: the sum may pass through 0)
            return total
    total += term * a / (s - 1.0) - 0.5 * term
    rising = 1.0
    k = 0.0
    for c in _EULER_MACLAURIN:
        rising *= s + k
        term /= a
        correction = rising * term / c
        total += correction
        if abs(correction) < 1.1e-16 * abs(total):
            break
        k += 1.0
        rising *= s + k
        term /= a
        k += 1.0
    return total


@register_jitable
def _polygamma(n, x):
    if n == 0:
        return _psi(x)
    if n < 0 or n != math.floor(n):
        return math.nan
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * math.gamma(n + 1.0) * hurwitz_zeta(n + 1.0, x)


# ---- elementwise functions over scalars and arrays ----------------------------------------

def _dummy(t):
    """A stand-in value of Numba type `t` for asking NumPy a result dtype (a Python scalar for a
    float64 or integer scalar, so float32 arrays keep float32, as with NEP 50)."""
    if is_array(t):
        return np.zeros(0, as_dtype(t.dtype))
    if isinstance(t, types.Boolean):
        return False
    if isinstance(t, types.Integer):
        return 0
    if isinstance(t, types.Float):
        return np.float32(0) if t == types.float32 else 0.0
    raise TypingError(f"srcad: scipy.special functions take real numbers or arrays, got {t}")


def _result_dtype(python, argtypes):
    for t in argtypes:
        if is_array(t) and not isinstance(t.dtype, (types.Float, types.Integer, types.Boolean)):
            raise TypingError(f"srcad: {python.__name__} of {t} is not supported (real only)")
    if not isinstance(python, np.ufunc):
        return types.float64
    with np.errstate(all="ignore"):
        return from_dtype(np.asarray(python(*[_dummy(t) for t in argtypes])).dtype)


def _unary(python, scalar):
    """Numba's form of the one-argument ufunc `python`, computing `scalar` elementwise."""
    @overload(python)
    def _compiled(x):
        # (the arguments taken in the result's dtype: -u of a uint8 u wrapped in expit)
        dtype = _result_dtype(python, (x,))
        if not is_array(x):
            return lambda x: dtype(scalar(dtype(x)))

        def each(x):
            flat = np.ascontiguousarray(x).reshape(x.size)
            out = np.empty(x.size, dtype)
            for k in range(x.size):
                out[k] = scalar(dtype(flat[k]))
            return out.reshape(x.shape)
        return each


def _binary(python, scalar):
    """Numba's form of the two-argument ufunc `python`, broadcasting as NumPy does."""
    @overload(python)
    def _compiled(x, y):
        dtype = _result_dtype(python, (x, y))
        if not is_array(x) and not is_array(y):
            return lambda x, y: dtype(scalar(dtype(x), dtype(y)))
        if not is_array(y):
            def scalar_y(x, y):
                xs = np.ascontiguousarray(x).reshape(x.size)
                out = np.empty(x.size, dtype)
                for k in range(x.size):
                    out[k] = scalar(dtype(xs[k]), dtype(y))
                return out.reshape(x.shape)
            return scalar_y
        if not is_array(x):
            def scalar_x(x, y):
                ys = np.ascontiguousarray(y).reshape(y.size)
                out = np.empty(y.size, dtype)
                for k in range(y.size):
                    out[k] = scalar(dtype(x), dtype(ys[k]))
                return out.reshape(y.shape)
            return scalar_x

        def both(x, y):
            shape = np.broadcast_shapes(x.shape, y.shape)
            xs = np.ascontiguousarray(np.broadcast_to(x, shape)).ravel()
            ys = np.ascontiguousarray(np.broadcast_to(y, shape)).ravel()
            out = np.empty(xs.size, dtype)
            for k in range(xs.size):
                out[k] = scalar(dtype(xs[k]), dtype(ys[k]))
            return out.reshape(shape)
        return both


_unary(scipy.special.gammaln, _gammaln)
_unary(scipy.special.psi, _psi)  # (scipy.special.digamma is the same ufunc)
_unary(scipy.special.erf, _erf)
_unary(scipy.special.erfc, _erfc)
_unary(scipy.special.erfinv, _erfinv)
_unary(scipy.special.erfcinv, _erfcinv)
_unary(scipy.special.ndtr, _ndtr)
_unary(scipy.special.log_ndtr, _log_ndtr)
_unary(scipy.special.ndtri, _ndtri)
_unary(scipy.special.gamma, _gamma)
_unary(scipy.special.expit, _expit)
_unary(scipy.special.logit, _logit)
_unary(scipy.special.log_expit, _log_expit)
_unary(scipy.special.i0, _i0)
_unary(scipy.special.i0e, _i0e)
_unary(scipy.special.i1, _i1)
_unary(scipy.special.i1e, _i1e)
_unary(scipy.special.entr, _entr)
_binary(scipy.special.kl_div, _kl_div)
_binary(scipy.special.rel_entr, _rel_entr)
_binary(scipy.special.huber, _huber)
_binary(scipy.special.beta, _beta)
_binary(scipy.special.iv, _iv)
_binary(scipy.special.ive, _ive)
_binary(scipy.special.betaln, _betaln)
_binary(scipy.special.xlogy, _xlogy)
_binary(scipy.special.xlog1py, _xlog1py)
_binary(scipy.special.polygamma, _polygamma)


# ---- logsumexp, softmax, log_softmax ------------------------------------------------------

@overload(scipy.special.logsumexp, prefer_literal=True)
def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    if constant(b) is not None or constant(return_sign) is not False:
        raise TypingError("srcad: scipy.special.logsumexp compiles without `b` and "
                          "`return_sign` only")
    return lambda a, axis=None, b=None, keepdims=False, return_sign=False: \
        logsumexp_along(a, axis, keepdims)


@overload(scipy.special.softmax)
def _softmax(x, axis=None):
    if is_array(x) and isinstance(x.dtype, (types.Integer, types.Boolean)):  # (in float64)
        return lambda x, axis=None: scipy.special.softmax(x.astype(np.float64), axis)
    if isinstance(x, types.Float):
        return lambda x, axis=None: row_softmax(np.full((1, 1), x))[0, 0]
    if is_array(x) and x.ndim == 2 and isinstance(axis, types.Integer):
        return map_lines(softmax_line, 1)
    return lambda x, axis=None: from_rows(row_softmax(to_rows(x, axis)), x, axis)


@overload(scipy.special.log_softmax)
def _log_softmax(x, axis=None):
    if is_array(x) and isinstance(x.dtype, (types.Integer, types.Boolean)):  # (in float64)
        return lambda x, axis=None: scipy.special.log_softmax(x.astype(np.float64), axis)
    if isinstance(x, types.Float):
        return lambda x, axis=None: row_log_softmax(np.full((1, 1), x))[0, 0]
    if is_array(x) and x.ndim == 2 and isinstance(axis, types.Integer):
        return map_lines(log_softmax_line, 1)
    return lambda x, axis=None: from_rows(row_log_softmax(to_rows(x, axis)), x, axis)


# ---- triangular and Cholesky solves -------------------------------------------------------

_L, _R, _U, _N, _T = (ord(c) for c in "LRUNT")  # (BLAS takes its options as characters)


def _trsm(dtype):
    name = "strsm" if dtype == types.float32 else "dtrsm"
    return _external("scipy.linalg.cython_blas", name, "srcad_" + name,
                     types.void(*[types.voidptr] * 11))


_TRSM = {types.float64: _trsm(types.float64), types.float32: _trsm(types.float32)}


def solve_in_place(a, x, lower, transposed, unit_diagonal):
    """Overwrite `x` (C-contiguous, 1-D or 2-D) with op(a)^-1 x, reading one triangle of `a`."""
    raise NotImplementedError("solve_in_place is for compiled code")


@overload(solve_in_place)
def _solve_in_place(a, x, lower, transposed, unit_diagonal):
    trsm = _TRSM[x.dtype]

    def impl(a, x, lower, transposed, unit_diagonal):
        n = a.shape[0]
        if n == 0:
            return
        m = x.size // n
        # C-ordered a and x are the Fortran-ordered a^T and x^T, so solve x^T op(a)^T = b^T
        chars = np.empty(4, np.uint8)
        chars[0] = _R
        chars[1] = _U if lower else _L
        chars[2] = _T if transposed else _N
        chars[3] = _U if unit_diagonal else _N
        sizes = np.array([m, n, n, m], np.int32)
        alpha = np.ones(1, x.dtype)
        trsm(chars[0:].ctypes, chars[1:].ctypes, chars[2:].ctypes, chars[3:].ctypes,
             sizes[0:].ctypes, sizes[1:].ctypes, alpha.ctypes, a.ctypes, sizes[2:].ctypes,
             x.ctypes, sizes[3:].ctypes)
    return impl


def _real_dtype(*args):
    dtypes = [as_dtype(a.dtype) for a in args]
    if any(not np.issubdtype(d, np.floating) and not np.issubdtype(d, np.integer)
           for d in dtypes):
        raise TypingError(f"srcad: real float arrays expected, got {args}")
    return types.float32 if all(d == np.float32 for d in dtypes) else types.float64


def is_transposed(trans):
    """Whether `trans` (0, 1, 2 or 'N', 'T', 'C') of solve_triangular asks for a^T (for real
    matrices 'C' is 'T')."""
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise ValueError("trans must be 0, 1, 2, 'N', 'T' or 'C'")
    return trans not in (0, "N")


@overload(is_transposed)
def _is_transposed(trans):
    if constant(trans) in (0, "N"):
        return lambda trans: False
    if isinstance(trans, (types.UnicodeType, types.StringLiteral)):
        def from_string(trans):
            if trans != "N" and trans != "T" and trans != "C":
                raise ValueError("trans must be 0, 1, 2, 'N', 'T' or 'C'")
            return trans != "N"
        return from_string

    def from_int(trans):
        if trans != 0 and trans != 1 and trans != 2:
            raise ValueError("trans must be 0, 1, 2, 'N', 'T' or 'C'")
        return trans != 0
    return from_int


@register_jitable
def _check_finite(a):
    for value in a.flat:
        if not np.isfinite(value):
            raise ValueError("array must not contain infs or NaNs")


@register_jitable
def _check_square_and_finite(a, b, check_finite):
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("expected square matrix")
    if a.shape[0] != b.shape[0]:
        raise ValueError("shapes of a and b are incompatible")
    if check_finite:
        _check_finite(a)
        _check_finite(b)


@register_jitable
def _check_diagonal(a):
    for i in range(a.shape[0]):
        if a[i, i] == 0:
            raise np.linalg.LinAlgError("singular matrix: resolution failed at a zero diagonal")


@overload(scipy.linalg.solve_triangular)
def _solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                      check_finite=True):
    if not is_array(a) or not is_array(b) or a.ndim != 2 or b.ndim not in (1, 2):
        raise TypingError("srcad: solve_triangular compiles for a 2-D `a` and a 1-D or 2-D `b`")
    dtype = _real_dtype(a, b)

    def impl(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
             check_finite=True):
        _check_square_and_finite(a, b, check_finite)
        if not unit_diagonal:
            _check_diagonal(a)
        x = np.ascontiguousarray(b.astype(dtype))  # (a new C-contiguous array)
        solve_in_place(np.ascontiguousarray(a.astype(dtype)), x, lower, is_transposed(trans),
                       unit_diagonal)
        return x
    return impl


@overload(scipy.linalg.cho_solve)
def _cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    if not isinstance(c_and_lower, types.BaseTuple) or len(c_and_lower) != 2:
        raise TypingError("srcad: cho_solve takes (c, lower) as its first argument")
    c = c_and_lower[0]
    if not is_array(c) or not is_array(b) or c.ndim != 2 or b.ndim not in (1, 2):
        raise TypingError("srcad: cho_solve compiles for a 2-D `c` and a 1-D or 2-D `b`")
    dtype = _real_dtype(c, b)

    def impl(c_and_lower, b, overwrite_b=False, check_finite=True):
        c, lower = c_and_lower
        _check_square_and_finite(c, b, check_finite)
        factor = np.ascontiguousarray(c.astype(dtype))
        x = np.ascontiguousarray(b.astype(dtype))
        solve_in_place(factor, x, lower, not lower, False)  # L y = b, or U^T y = b
        solve_in_place(factor, x, lower, lower, False)      # L^T x = y, or U x = y
        return x
    return impl


@overload(scipy.linalg.cholesky)
def _cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    if not is_array(a) or a.ndim != 2:
        raise TypingError("srcad: scipy.linalg.cholesky compiles for a 2-D array")

    def impl(a, lower=False, overwrite_a=False, check_finite=True):
        if check_finite:
            _check_finite(a)
        if lower:
            return np.linalg.cholesky(a)
        # SciPy's upper factor reads the upper triangle: the lower factor of a^T, transposed
        return np.ascontiguousarray(np.linalg.cholesky(np.ascontiguousarray(a.T)).T)
    return impl
