"""The n-dimensional Rosenbrock function written with whole-array NumPy operations."""

import numpy as np

# The same function as rosenbrock_loop's, so the same hand adjoint: one fused loop with no
# temporaries (the vectorised form's adjoint is g[:-1] = -400 a x[:-1] - 2 b, g[1:] += 200 a).
from bench.workloads.rosenbrock_loop import hand_adjoint  # noqa: F401  (the protocol's name)

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
