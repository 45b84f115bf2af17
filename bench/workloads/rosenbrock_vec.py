"""The n-dimensional Rosenbrock function written with whole-array NumPy operations."""

import numba
import numpy as np

NAME = "rosenbrock_vec"
DESCRIPTION = "n-dimensional Rosenbrock, vectorised numpy (slices, **, np.sum)"
SIZES = {"quick": [10_000], "full": [10_000], "test": [6]}
WRT = (0,)


def make_inputs(n):
    rng = np.random.default_rng(1)
    return (rng.uniform(-1.5, 1.5, n),)


def f(x):
    a = x[1:] - x[:-1] ** 2
    b = 1.0 - x[:-1]
    return np.sum(100.0 * a * a + b * b)


@numba.njit(cache=True)
def hand_adjoint(x):
    # Written as one fused loop with no temporaries (the vectorised form's adjoint is
    # g[:-1] = -400 a x[:-1] - 2 b, g[1:] += 200 a): g[i] is written once, term i-1's
    # partial w.r.t. x[i] (200 a_{i-1}) carried in a register. Nothing is saved.
    n = x.shape[0]
    g = np.empty(n)
    s = 0.0
    a_prev = 0.0
    for i in range(n - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        s += 100.0 * a * a + b * b
        g[i] = 200.0 * a_prev - 400.0 * a * x[i] - 2.0 * b
        a_prev = a
    g[n - 1] = 200.0 * a_prev
    return s, (g,)


def _loss(np_):
    def loss(x):
        a = x[1:] - x[:-1] ** 2
        b = 1.0 - x[:-1]
        return np_.sum(100.0 * a * a + b * b)

    return loss


def make_jax(x):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.grad(_loss(jnp)))
    xj = jnp.asarray(x)
    return lambda: g(xj).block_until_ready()


def make_autograd(x):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(_loss(anp))
    return lambda: g(x)


def make_torch(x):
    import torch

    xt = torch.from_numpy(x.copy())
    loss = _loss(torch)

    def grad():
        xr = xt.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(loss(xr), xr)
        return gx

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
