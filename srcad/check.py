"""Central finite differences, the checker behind srcad.gradcheck (and srcad's own tests).

Small arguments are checked entry by entry; large ones along a few random directions
(the directional derivative of f must equal the dot product of the gradient with the
direction), which costs two evaluations per direction whatever the size.
"""

import numpy as np

FULL_CHECK_LIMIT = 64


def numeric_grad(fn, args, index, eps=1e-6, directions=None):
    """Central-difference gradient of fn w.r.t. args[index] (entrywise)."""
    x = args[index]
    if np.ndim(x) == 0:
        return (_at(fn, args, index, x + eps) - _at(fn, args, index, x - eps)) / (2 * eps)
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += eps
        down[k] -= eps
        out[k] = (_at(fn, args, index, up) - _at(fn, args, index, down)) / (2 * eps)
    return out


def along(fn, args, tangents, eps=1e-6):
    """Central difference of `fn` at `args` along `tangents` (one per argument, None for one
    held constant): what a Jacobian-vector product must return (an array for an array
    output)."""
    def at(step):
        moved = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        for k, t in enumerate(tangents):
            if t is not None:
                moved[k] = np.asarray(moved[k], dtype=np.float64) + step * np.asarray(t) \
                    if np.ndim(moved[k]) else moved[k] + step * t
        return np.asarray(fn(*moved), dtype=np.float64)
    return (at(eps) - at(-eps)) / (2 * eps)


def _at(fn, args, index, value):
    new = list(args)
    new[index] = value
    return float(fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in new]))


def compare(fn, args, indices, grads, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0, labels=None):
    """Assert each gradient in `grads` matches finite differences of fn at args (`labels`:
    how messages name each argument)."""
    rng = np.random.default_rng(seed)
    for index, g in zip(indices, grads, strict=True):
        x = args[index]
        label = f"argument {index}" if labels is None else labels[index]
        if np.ndim(x) == 0 or np.size(x) <= FULL_CHECK_LIMIT:
            expected = numeric_grad(fn, args, index, eps)
            if np.shape(g) != np.shape(expected):
                raise AssertionError(f"gradient w.r.t. {label} has shape "
                                     f"{np.shape(g)}, expected {np.shape(expected)}")
            _assert_close(g, expected, rtol, atol, label)
        else:
            for _ in range(3):
                d = rng.standard_normal(np.shape(x))
                direction = [d if k == index else None for k in range(len(args))]
                _assert_close(np.sum(np.asarray(g) * d), along(fn, args, direction, eps),
                              rtol, atol, f"{label} along a random direction")
    return True


def _assert_close(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
    with np.errstate(invalid="ignore"):  # (where both are nan or the same infinity, they agree)
        same = (actual == expected) | np.isnan(actual) & np.isnan(expected)
        err = np.where(same, 0.0, np.abs(actual - expected))
    if not np.all(same | (err <= atol * scale + rtol * np.abs(expected))):
        worst = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
        raise AssertionError(f"gradient w.r.t. {what} differs from finite differences: "
                             f"max abs error {np.max(err):.3g} at {worst} "
                             f"(srcad {actual[worst] if err.ndim else actual}, "
                             f"numeric {expected[worst] if err.ndim else expected})")
