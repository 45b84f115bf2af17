"""The n-dimensional Rosenbrock function written as a loop over i."""

import numba
import numpy as np

NAME = "rosenbrock_loop"
DESCRIPTION = "n-dimensional Rosenbrock written as a loop"
SIZES = {"quick": [10_000], "full": [10_000], "test": [6]}
WRT = (0,)


def make_inputs(n):
    rng = np.random.default_rng(1)
    return (rng.uniform(-1.5, 1.5, n),)


def f(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        s = s + 100.0 * a * a + b * b
    return s


@numba.njit(cache=True)
def hand_adjoint(x):
    # The sum is linear in its terms, so nothing is saved: one fused loop computes each
    # term and writes g[i] once: term i's partial w.r.t. x[i] plus term i-1's partial
    # w.r.t. x[i] (200 a_{i-1}, carried in a register), so there is no read-modify-write.
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


def jax_loss():
    import jax
    import jax.numpy as jnp

    def loss(x):
        def body(i, s):
            a = x[i + 1] - x[i] * x[i]
            b = 1.0 - x[i]
            return s + 100.0 * a * a + b * b

        return jax.lax.fori_loop(0, x.shape[0] - 1, body, jnp.zeros((), x.dtype))

    return loss


def make_jax(x):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.grad(jax_loss()))
    xj = jnp.asarray(x)
    return lambda: g(xj).block_until_ready()


def make_autograd(x):
    import autograd

    def loss(x):
        s = 0.0
        for i in range(x.shape[0] - 1):
            a = x[i + 1] - x[i] * x[i]
            b = 1.0 - x[i]
            s = s + 100.0 * a * a + b * b
        return s

    g = autograd.grad(loss)
    return lambda: g(x)


def make_torch(x):
    import torch

    xt = torch.from_numpy(x.copy())

    def grad():
        xr = xt.detach().requires_grad_(True)
        s = torch.zeros((), dtype=torch.float64)
        for i in range(xr.shape[0] - 1):
            a = xr[i + 1] - xr[i] * xr[i]
            b = 1.0 - xr[i]
            s = s + 100.0 * a * a + b * b
        (gx,) = torch.autograd.grad(s, xr)
        return gx

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
