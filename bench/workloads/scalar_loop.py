"""A nonlinear scalar recurrence over n elements: s <- 0.9 s + sin(x_i + s) x_i.

Every step depends on the previous s through sin, so a reverse sweep needs each step's s
(a plain recurrence: the adjoint cannot be computed without saving or recomputing the chain).
"""

import math

import numba
import numpy as np

from bench.workloads import CannotExpress  # noqa: F401  (part of the protocol)

NAME = "scalar_loop"
DESCRIPTION = "scalar recurrence s = 0.9*s + sin(x[i] + s)*x[i] over n elements"
SIZES = {"quick": [10_000], "full": [100_000], "test": [7]}
WRT = (0,)


def make_inputs(n):
    rng = np.random.default_rng(0)
    return (rng.uniform(-1.0, 1.0, n),)


def f(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = 0.9 * s + math.sin(x[i] + s) * x[i]
    return s


@numba.njit(cache=True)
def hand_adjoint(x):
    # Forward: the primal loop, also computing cos (LLVM fuses sin and cos of the same
    # argument) and saving the two local partials of each step, ds_new/dx[i] (written
    # straight into the gradient array) and ds_new/ds (n floats).
    # Reverse: a multiply-only backward loop, no transcendentals:
    #   g[i] = bs * ds_new/dx[i];  bs = bs * ds_new/ds.
    n = x.shape[0]
    g = np.empty(n)
    dsds = np.empty(n)
    s = 0.0
    for i in range(n):
        u = x[i] + s
        sn = math.sin(u)
        c = math.cos(u) * x[i]
        g[i] = c + sn
        dsds[i] = 0.9 + c
        s = 0.9 * s + sn * x[i]
    bs = 1.0
    for i in range(n - 1, -1, -1):
        g[i] *= bs
        bs *= dsds[i]
    return s, (g,)


def make_jax(x):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(x):
        def step(s, xi):
            return 0.9 * s + jnp.sin(xi + s) * xi, None

        s, _ = jax.lax.scan(step, jnp.zeros((), x.dtype), x)
        return s

    g = jax.jit(jax.grad(loss))
    xj = jnp.asarray(x)
    return lambda: g(xj).block_until_ready()


def make_autograd(x):
    import autograd
    import autograd.numpy as anp

    def loss(x):
        s = 0.0
        for i in range(x.shape[0]):
            s = 0.9 * s + anp.sin(x[i] + s) * x[i]
        return s

    g = autograd.grad(loss)
    return lambda: g(x)


def make_torch(x):
    import torch

    xt = torch.from_numpy(x.copy())

    def grad():
        xr = xt.detach().requires_grad_(True)
        s = torch.zeros((), dtype=torch.float64)
        for i in range(xr.shape[0]):
            s = 0.9 * s + torch.sin(xr[i] + s) * xr[i]
        (gx,) = torch.autograd.grad(s, xr)
        return gx

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
