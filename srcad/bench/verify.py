"""Checking a gradient before it is timed: against the hand adjoint (relative to each
gradient's largest entry) or, without one, against central finite differences (srcad.check).

Each check returns text for the table: "ok ..." or "MISMATCH ...".
"""

import inspect

import numpy as np

from .. import check

RTOL = 1e-6


def value_and_grads(out, wrt):
    """A tool's `(value, grads)` -> (value, tuple of float arrays), whatever the tool returns
    for a single gradient (the array itself or a 1-tuple)."""
    value, grads = out
    if len(wrt) == 1 and not (isinstance(grads, tuple) and len(grads) == 1):
        grads = (grads,)
    return value, to_numpy(tuple(grads))


def to_numpy(grads):
    out = []
    for g in grads:
        if hasattr(g, "detach"):  # a torch tensor
            g = g.detach().cpu().numpy()
        out.append(np.asarray(g, dtype=float))
    return tuple(out)


def compare(got, ref, what, rtol=RTOL):
    """"ok" or "MISMATCH vs <what>: ..." for (value, grads) against (value, grads); a value
    of None is not compared."""
    value, grads = got
    rvalue, rgrads = ref[0], to_numpy(ref[1])
    problems = []
    if value is not None:
        v, rv = float(value), float(rvalue)
        if not abs(v - rv) <= rtol * max(abs(rv), 1e-8):
            problems.append(f"value {v:.10g} vs {rv:.10g}")
    if len(grads) != len(rgrads):
        return f"MISMATCH: {len(grads)} gradients vs {len(rgrads)} from the {what}"
    for k, (g, r) in enumerate(zip(grads, rgrads, strict=True)):
        if g.shape != r.shape:
            problems.append(f"grad {k} shape {g.shape} vs {r.shape}")
            continue
        scale = max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-8)
        err = float(np.max(np.abs(g - r))) / scale if r.size else 0.0
        if not err <= rtol:  # also catches NaN
            problems.append(f"grad {k} relative error {err:.2g}")
    return f"MISMATCH vs {what}: " + "; ".join(problems) if problems else "ok"


def against_finite_differences(f, args, wrt, grads):
    """"ok (finite differences)" or "MISMATCH vs finite differences: ..."."""
    params = list(inspect.signature(getattr(f, "py_func", f)).parameters)
    indices = [params.index(w) if isinstance(w, str) else w % len(params) for w in wrt]
    try:
        check.compare(f, args, indices, grads, rtol=1e-4, atol=1e-6)
    except AssertionError as exc:
        return f"MISMATCH vs finite differences: {str(exc).splitlines()[0]}"
    return "ok (finite differences)"
