"""Central finite differences, the reference every gradient test in tests/tape compares with."""

import numpy as np

from srcad.tape import value_and_grad

EPS = 1e-6


def numerical_grad(f, args, i, cotangent=None):
    """d/d args[i] of sum(cotangent * f(*args)) (cotangent 1 for a scalar f), by central
    differences; a float for a number argument, an array shaped like it otherwise."""
    x = np.array(args[i], dtype=np.float64)
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        values = []
        for step in (EPS, -EPS):
            shifted = x.copy()
            shifted[k] += step
            moved = list(args)
            moved[i] = shifted if isinstance(args[i], np.ndarray) else float(shifted)
            out = np.asarray(f(*moved), dtype=np.float64)
            values.append(np.sum(out if cotangent is None else cotangent * out))
        grad[k] = (values[0] - values[1]) / (2 * EPS)
    return grad if isinstance(args[i], np.ndarray) else float(grad)


def check(f, args, wrt, rtol=1e-6):
    """The tape's value_and_grad(f) agrees with f and with central differences."""
    value, grads = value_and_grad(f, args, wrt)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    for i, grad in zip(wrt, grads, strict=True):
        expected = numerical_grad(f, args, i)
        assert type(grad) is type(expected)
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=1e-8)
