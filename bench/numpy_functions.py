"""Time srcad's compiled gradient of one NumPy/SciPy function at a time against its primal.

    python bench/numpy_functions.py [--out bench/numpy_functions.md]

Each case is a scalar loss around one function of docs/numpy.md, on a vector of 200 or a
60 x 60 matrix. The primal is `numba.njit` of the same loss where Numba compiles it, else NumPy
itself (marked); the gradient is `srcad.value_and_grad(loss, mode="source")`, compiled. Times
are medians of 7 samples after a warm-up call, on one thread; the first call (srcad's
pipeline and Numba's compilation) is reported apart.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.linalg
import scipy.special

import srcad

RNG = np.random.default_rng(0)
x = RNG.uniform(0.5, 1.5, 200)
X = RNG.uniform(-1.0, 1.0, (60, 60))
S = X @ X.T + 60.0 * np.eye(60)
b = RNG.uniform(-1.0, 1.0, 60)
KNOTS = np.linspace(0.0, 2.0, 50)


def sum_keepdims(X):
    return np.sum(np.sum(X, axis=1, keepdims=True) ** 2)


def max_axis(X):
    return np.sum(np.max(X, axis=0))


def var_axis(X):
    return np.sum(np.var(X, axis=0, ddof=1))


def std(x):
    return np.std(x)


def cumprod(x):
    return np.sum(np.cumprod(x / 1.5))


def norm_rows(X):
    return np.sum(np.linalg.norm(X, 1, axis=1))


def logsumexp_rows(X):
    return np.sum(scipy.special.logsumexp(X, axis=1))


def softmax_rows(X):
    return np.sum(scipy.special.softmax(X, axis=1) * X)


def sort(x):
    return np.sum(np.sort(x) * np.arange(200.0))


def median(x):
    return np.median(x)


def quantile(x):
    return np.quantile(x, 0.3)


def solve(S, b):
    return np.sum(np.linalg.solve(S, b) ** 2)


def inv(S):
    return np.sum(np.linalg.inv(S))


def slogdet(S):
    return np.linalg.slogdet(S)[1]


def cholesky(S):
    return np.sum(np.linalg.cholesky(S))


def eigenvalues(S):
    return np.sum(np.linalg.eigh(S)[0] ** 2)


def solve_triangular(S, b):
    return np.sum(scipy.linalg.solve_triangular(S, b, lower=True) ** 2)


def einsum(X):
    return np.sum(np.einsum("ij,jk->ik", X, X) ** 2)


def diff(x):
    return np.sum(np.diff(x) ** 2)


def interp(x):
    return np.sum(np.interp(x, KNOTS, KNOTS ** 2))


def trapezoid(x):
    return np.trapezoid(x * x)


def gammaln(x):
    return np.sum(scipy.special.gammaln(x))


def erf(x):
    return np.sum(scipy.special.erf(x))


def xlogy(x):
    return np.sum(scipy.special.xlogy(x, x + 1.0))


HEADER = """# One NumPy/SciPy function at a time: srcad's compiled gradient against its primal

Written by `python bench/numpy_functions.py --out bench/numpy_functions.md` (one run, 2-core
machine, one thread). The loss wraps one function on a vector of 200 or a 60 x 60 matrix; the
primal is `numba.njit` of the loss where Numba compiles it, else NumPy. srcad's per-call Python
layer costs about 4 µs (issue #12), which still dominates where the primal takes a microsecond
(std, cumprod, median, diff, trapezoid: 8-12x); where the function itself costs tens of
microseconds the gradient is 1.0-3.7x the primal, except cholesky (7x, its adjoint solves two
triangular systems per call), solve_triangular (6.7x) and einsum (4.5x).

"""

CASES = [sum_keepdims, max_axis, var_axis, std, cumprod, norm_rows, logsumexp_rows,
         softmax_rows, sort, median, quantile, solve, inv, slogdet, cholesky, eigenvalues,
         solve_triangular, einsum, diff, interp, trapezoid, gammaln, erf, xlogy]


def _median_time(call, repeat=7):
    call()
    samples = []
    for _ in range(repeat):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.02:
            call()
            count += 1
        samples.append((time.perf_counter() - start) / count)
    return float(np.median(samples))


def main():
    import inspect
    from pathlib import Path

    import numba
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    opts = parser.parse_args()
    numba.set_num_threads(1)
    rows = ["| loss | primal | primal µs | gradient µs | gradient / primal | first call s |",
            "|---|---|---|---|---|---|"]
    print("\n".join(rows), flush=True)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # compiled, or no row
        for fn in CASES:
            args = tuple(globals()[p] for p in inspect.signature(fn).parameters)
            try:
                primal, kind = numba.njit(fn), "Numba"
                primal(*args)
            except numba.core.errors.TypingError:
                primal, kind = fn, "NumPy"
            gradient = srcad.value_and_grad(fn, wrt=0, mode="source")
            start = time.perf_counter()
            gradient(*args)
            first = time.perf_counter() - start
            t_primal = _median_time(lambda p=primal, a=args: p(*a))
            t_grad = _median_time(lambda g=gradient, a=args: g(*a))
            rows.append(f"| {fn.__name__} | {kind} | {1e6 * t_primal:.1f} | "
                        f"{1e6 * t_grad:.1f} | {t_grad / t_primal:.1f} | {first:.1f} |")
            print(rows[-1], flush=True)
    if opts.out:
        Path(opts.out).write_text(HEADER + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
