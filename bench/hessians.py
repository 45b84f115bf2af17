"""Second order side by side: srcad, JAX and a hand-written Numba Hessian.

    python -m bench.hessians [--quick] [--budget 0.5] [--out bench/hessians.md]

Two problems, as #13 asks: the 100-dimensional Rosenbrock function written as a loop, and the
L2-regularised logistic loss of bench/workloads/logistic.py on 10,000 x 100 data (w.r.t. the
100 weights). For each: a Hessian-vector product (srcad.hvp; jax.jit of jax.jvp of jax.grad; a
hand-written Numba H @ v) and the whole Hessian (srcad.hessian; jax.jit(jax.hessian); a hand-
written Numba Hessian). Medians of repeats after a warm-up, one thread everywhere, the first
call (compilation) apart. Every result is checked against the hand-written one (relative 1e-8)
before it is timed.
"""

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

import srcad
from bench.workloads import logistic, rosenbrock_loop
from srcad.bench import timing

RTOL = 1e-8


# ---- hand-written second derivatives -------------------------------------------------------

@numba.njit(cache=True)
def rosenbrock_hvp(x, v):
    # Term i, 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, touches x[i] and x[i+1] only: its Hessian
    # is the 2 x 2 block [[1200 x_i^2 - 400 x_{i+1} + 2, -400 x_i], [-400 x_i, 200]].
    n = x.shape[0]
    hv = np.zeros(n)
    for i in range(n - 1):
        a = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        b = -400.0 * x[i]
        hv[i] += a * v[i] + b * v[i + 1]
        hv[i + 1] += b * v[i] + 200.0 * v[i + 1]
    return hv


@numba.njit(cache=True)
def rosenbrock_hessian(x):
    n = x.shape[0]
    H = np.zeros((n, n))
    for i in range(n - 1):
        b = -400.0 * x[i]
        H[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = b
        H[i + 1, i] = b
        H[i + 1, i + 1] += 200.0
    return H


@numba.njit(cache=True)
def _logistic_weights(w, X, y):
    # d^2/dz^2 log1p(exp(-y z)) = s (1 - s) with s = sigmoid(y z) (y = +-1)
    z = X @ w
    d = np.empty(z.shape[0])
    for i in range(z.shape[0]):
        s = 1.0 / (1.0 + np.exp(-y[i] * z[i]))
        d[i] = s * (1.0 - s)
    return d


@numba.njit(cache=True)
def logistic_hvp(w, X, y, lam, v):
    return (_logistic_weights(w, X, y) * (X @ v)) @ X + lam * v


@numba.njit(cache=True)
def logistic_hessian(w, X, y, lam):
    d = _logistic_weights(w, X, y)
    H = X.T @ (X * d.reshape(-1, 1))  # one gemm
    for j in range(w.shape[0]):
        H[j, j] += lam
    return H


# ---- JAX -------------------------------------------------------------------------------

def jax_logistic():
    import jax.numpy as jnp

    return logistic._loss(jnp, jnp.log1p, jnp.matmul)


def jax_second_order(loss, args):
    """(hvp(v), hessian()) of `loss` w.r.t. its first argument, jitted."""
    import jax
    import jax.numpy as jnp

    first, rest = jnp.asarray(args[0]), tuple(jnp.asarray(a) for a in args[1:])
    hvp = jax.jit(lambda x, v, *rest: jax.jvp(lambda x: jax.grad(loss)(x, *rest), (x,), (v,))[1])
    hessian = jax.jit(jax.hessian(loss))
    return (lambda v: hvp(first, jnp.asarray(v), *rest).block_until_ready(),
            lambda: hessian(first, *rest).block_until_ready())


# ---- the table -------------------------------------------------------------------------------

PROBLEMS = {  # name -> (f, inputs(quick), hand hvp, hand Hessian, JAX loss)
    "rosenbrock_loop": (rosenbrock_loop.f, lambda quick: rosenbrock_loop.make_inputs(100),
                        rosenbrock_hvp, rosenbrock_hessian, rosenbrock_loop.jax_loss),
    "logistic": (logistic.f, lambda quick: logistic.make_inputs((1_000 if quick else 10_000, 100)),
                 logistic_hvp, logistic_hessian, jax_logistic),
}


def _first(fn):
    t0 = time.perf_counter()
    out = fn()
    return np.asarray(out), time.perf_counter() - t0


def _check(got, expected, who):
    error = np.max(np.abs(np.asarray(got) - expected)) / max(np.max(np.abs(expected)), 1e-300)
    if not error <= RTOL:
        raise AssertionError(f"{who} differs from the hand-written result: relative {error:.1e}")


def measure(name, budget, quick):
    f, inputs, hand_hvp, hand_hessian, jax_loss = PROBLEMS[name]
    args = tuple(inputs(quick))
    v = np.random.default_rng(0).normal(size=np.shape(args[0]))
    product, hessian = srcad.hvp(f), srcad.hessian(f)
    jax_hvp, jax_hessian = jax_second_order(jax_loss(), args)
    tools = {"hvp": {"hand Numba": lambda: hand_hvp(*args, v),
                     "srcad": lambda: product(*args, v),
                     "JAX": lambda: jax_hvp(v)},
             "Hessian": {"hand Numba": lambda: hand_hessian(*args),
                         "srcad": lambda: hessian(*args),
                         "JAX": jax_hessian}}
    rows = []
    for what, calls in tools.items():
        reference = None
        for tool, call in calls.items():
            out, first = _first(call)
            if reference is None:
                reference = out
            _check(out, reference, f"{tool}'s {what}")
            cell = timing.timed(call, budget, warm=True)
            size = " x ".join(str(n) for n in np.shape(args[1] if len(args) > 1 else args[0]))
            rows.append((f"{name} ({size})", what, tool, cell["median_s"], first))
    return rows


def fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= 0.9995 * scale:  # (999.7 ms is 1 s, not "1e+03 ms")
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def table(rows):
    lines = ["| problem | derivative | tool | median | / hand | first call |",
             "|---|---|---|---:|---:|---:|"]
    hand = {(r[0], r[1]): r[3] for r in rows if r[2] == "hand Numba"}
    for problem, what, tool, median, first in rows:
        lines.append(f"| {problem} | {what} | {tool} | {fmt(median)} | "
                     f"{median / hand[problem, what]:.2f}x | {fmt(first)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="logistic on 1000 x 100 data")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of calls per cell")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    opts = parser.parse_args(argv)
    timing.pin_threads()  # (before JAX starts its threads)
    import jax
    jax.config.update("jax_enable_x64", True)
    rows = [row for name in PROBLEMS for row in measure(name, opts.budget, opts.quick)]
    text = table(rows)
    print(text)
    if opts.out:
        Path(opts.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
