"""`srcad bench --transform jvp|hvp`: forward mode against the Numba primal, and Hessian-vector
products against srcad's own gradient, on the suite's workloads or a module.py:func.

jvp: a random tangent for every differentiated argument; the tangent is checked against the
directional derivative srcad's gradient gives (<grad, t>). hvp: with respect to the first
differentiated argument along a random direction, checked against central differences of
srcad's gradient. Each cell reports the median call and the first call (compilation)."""

import inspect
import time
import types
import warnings

import numpy as np

from . import timing
from .report import fmt_ratio, fmt_time
from .workloads import FunctionTarget, key_str

TRANSFORMS = ("grad", "jvp", "hvp")
CHECKS = {"jvp": "srcad's jvp vs <grad, t> from srcad's gradient, relative 1e-8 (an array "
                 "output's vs central differences along t, 1e-5)",
          "hvp": "srcad's hvp vs central differences of srcad's gradient, relative 1e-4"}


def run(jobs, opts, progress):
    """Rows of figures, one per workload and size."""
    rows = []
    for job in jobs:
        if job.error:
            rows.append({"workload": job.name, "size": "-", "error": job.error})
            continue
        if isinstance(job, FunctionTarget):
            job = _as_workload(job)
        for size in job.sizes(opts.sizes):
            progress(job.name, key_str(size), opts.transform)
            row = {"workload": job.name, "size": key_str(size)}
            try:
                measure(row, job, size, opts)
            except Exception as exc:  # (a workload that fails is a cell, not the end of the run)
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            rows.append(row)
    return rows


def _first(fn):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
    return out, time.perf_counter() - t0


def _as_workload(target):
    """A module.py:func target as `measure` reads a workload: its function, its --args at
    every size, and --wrt as argument indices."""
    f, args = target.load()  # (which checks --wrt against f's parameters)
    params = list(inspect.signature(f).parameters)
    wrt = tuple(params.index(w) if isinstance(w, str) else w for w in target.wrt)
    module = types.SimpleNamespace(f=f, make_inputs=lambda size: args)
    return types.SimpleNamespace(name=target.name, module=module,
                                 wrt=tuple(w % len(params) for w in wrt),
                                 sizes=lambda spec: [target.args_expr])


def measure(row, job, size, opts):
    import numba

    import srcad

    W, wrt, budget = job.module, job.wrt, opts.budget
    args = tuple(W.make_inputs(size))
    rng = np.random.default_rng(0)
    if opts.transform == "jvp":
        primal = numba.njit(W.f, fastmath=bool(opts.fastmath))
        row["base"] = timing.timed(lambda: primal(*args), budget)
        tangents = [rng.normal(size=np.shape(a)) if k in wrt and np.ndim(a) else
                    float(rng.normal()) if k in wrt else None for k, a in enumerate(args)]
        (value, tangent), row["first_s"] = _first(lambda: srcad.jvp(W.f, args, tangents,
                                                                     cache=False))
        row["transform"] = timing.timed(lambda: srcad.jvp(W.f, args, tangents, cache=False),
                                        budget, warm=True)
        if np.ndim(value):  # (an array's tangent: against differences along the tangents)
            eps = 1e-6
            moved = [[a if t is None else a + step * t for a, t in zip(args, tangents,
                                                                        strict=True)]
                     for step in (eps, -eps)]
            expected = (np.asarray(W.f(*moved[0])) - np.asarray(W.f(*moved[1]))) / (2 * eps)
            row["verified"] = _close(tangent, expected, 1e-5, "differences along t")
        else:
            grads = srcad.grad(W.f, wrt=tuple(wrt), cache=False)(*args)
            expected = sum(float(np.sum(np.asarray(g) * t)) for g, t in
                           zip(grads, (tangents[k] for k in wrt), strict=True))
            row["verified"] = _close(tangent, expected, 1e-8, "<grad, t>")
    else:
        k = wrt[0]
        gradient = srcad.grad(W.f, wrt=k, cache=False)
        row["base"] = timing.timed(lambda: gradient(*args), budget)
        v = rng.normal(size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.normal())
        product = srcad.hvp(W.f, wrt=k)
        hv, row["first_s"] = _first(lambda: product(*args, v))
        row["transform"] = timing.timed(lambda: product(*args, v), budget, warm=True)
        eps = 1e-6 * max(1.0, float(np.max(np.abs(args[k]))))
        moved = [list(args), list(args)]
        moved[0][k], moved[1][k] = args[k] + eps * v, args[k] - eps * v
        expected = (np.asarray(gradient(*moved[0])) - np.asarray(gradient(*moved[1]))) / \
            (2 * eps)
        row["verified"] = _close(hv, expected, 1e-4, "differences of the gradient")
    for cell in (row["base"], row["transform"]):
        cell.pop("_out", None)


def _close(got, expected, rtol, what):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-12)
    error = float(np.max(np.abs(got - expected), initial=0.0)) / scale
    return f"ok vs {what}" if error <= rtol else f"MISMATCH vs {what}: relative {error:.1e}"


def format_table(rows, transform):
    base = "numba primal" if transform == "jvp" else "srcad grad"
    head = ["workload", "size", base, f"srcad {transform}", f"{transform}/{base.split()[-1]}",
            "first call", "check"]
    table = [head]
    for r in rows:
        if "error" in r:
            table.append([r["workload"], r["size"], r["error"], "", "", "", ""])
            continue
        b, t = r["base"].get("median_s"), r["transform"].get("median_s")
        table.append([r["workload"], r["size"], fmt_time(b), fmt_time(t),
                      fmt_ratio(t / b) if b and t else "-", fmt_time(r["first_s"]),
                      r["verified"]])
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     .rstrip() for row in table)


def failures(rows):
    return [f"{r['workload']} {r['size']}: {r.get('error') or r['verified']}" for r in rows
            if "error" in r or not r["verified"].startswith("ok")]
