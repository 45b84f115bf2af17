"""Explicit 2-D heat equation, written with slices: T steps of
u[1:-1, 1:-1] += kappa * (5-point Laplacian of u) on an n x n grid with fixed boundary values;
the loss is 1/2 sum(u_T^2), differentiated w.r.t. the initial field u0 and the diffusivity."""

import numba
import numpy as np

NAME = "heat"
DESCRIPTION = "2-D heat equation, 5-point stencil with slices over T steps, d/d(u0, kappa)"
# (n, steps)
SIZES = {"quick": [(128, 100)], "full": [(128, 100), (256, 500)], "test": [(6, 3)]}
WRT = (0, 1)


def make_inputs(size):
    n, steps = size
    rng = np.random.default_rng(7)
    return rng.standard_normal((n, n)), 0.2, steps


def f(u0, kappa, steps):
    u = u0.copy()
    for _ in range(steps):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + kappa * lap
    return 0.5 * np.sum(u * u)


@numba.njit(cache=True)
def hand_adjoint(u0, kappa, steps):
    # A step is linear in u, u_{t+1} = A(kappa) u_t, so the reverse sweep needs no forward
    # state at all: bu_t = A^T bu_{t+1}, starting from bu_T = u_T. The kappa derivative is a
    # scalar, so it is carried forward as a tangent instead (du_{t+1} = A du_t + lap(u_t),
    # dkappa = <u_T, du_T>): nothing is saved, three grids are kept, each step touches two
    # in the forward sweep and one in the reverse. Boundary values never change; their
    # adjoint collects what the interior passes them.
    n, m = u0.shape
    u = u0.copy()
    du = np.zeros_like(u0)
    un = u.copy()
    dun = du.copy()
    for _ in range(steps):
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                lap = u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4.0 * u[i, j]
                dlap = (du[i - 1, j] + du[i + 1, j] + du[i, j - 1] + du[i, j + 1]
                        - 4.0 * du[i, j])
                un[i, j] = u[i, j] + kappa * lap
                dun[i, j] = du[i, j] + kappa * dlap + lap
        u, un = un, u
        du, dun = dun, du
    value = 0.0
    dkappa = 0.0
    for i in range(n):
        for j in range(m):
            value += u[i, j] * u[i, j]
            dkappa += u[i, j] * du[i, j]
    b = u  # bu_T = u_T; the forward grids are free now
    bn = un
    for _ in range(steps):
        # bn = A^T b: the identity part everywhere, then each interior cell's kappa * b
        # spread to its four neighbours and taken 4 times from itself
        for i in range(n):
            for j in range(m):
                bn[i, j] = b[i, j]
        for i in range(1, n - 1):
            for j in range(1, m - 1):
                kb = kappa * b[i, j]
                bn[i - 1, j] += kb
                bn[i + 1, j] += kb
                bn[i, j - 1] += kb
                bn[i, j + 1] += kb
                bn[i, j] -= 4.0 * kb
        b, bn = bn, b
    return 0.5 * value, (b, dkappa)


# ---- peers ----

def _laplacian(u):
    return u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]


def make_jax(u0, kappa, steps):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(u0, kappa):
        def body(_, u):
            return u.at[1:-1, 1:-1].add(kappa * _laplacian(u))

        u = jax.lax.fori_loop(0, steps, body, u0)
        return 0.5 * jnp.sum(u * u)

    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    u0j = jnp.asarray(u0)
    return lambda: jax.block_until_ready(g(u0j, kappa))


def make_autograd(u0, kappa, steps):
    import autograd
    import autograd.numpy as anp

    def loss(u0, kappa):  # autograd has no index assignment: rebuild the grid each step
        u = u0
        for _ in range(steps):
            inner = u[1:-1, 1:-1] + kappa * _laplacian(u)
            middle = anp.concatenate([u[1:-1, :1], inner, u[1:-1, -1:]], axis=1)
            u = anp.concatenate([u[:1], middle, u[-1:]], axis=0)
        return 0.5 * anp.sum(u * u)

    g = autograd.grad(loss, argnum=(0, 1))
    return lambda: g(u0, kappa)


def make_torch(u0, kappa, steps):
    import torch

    u0t = torch.from_numpy(u0.copy())

    def grad():
        u0r = u0t.detach().requires_grad_(True)
        kr = torch.tensor(kappa, dtype=torch.float64, requires_grad=True)
        u = u0r.clone()  # a leaf that requires grad cannot be updated in place
        for _ in range(steps):
            u[1:-1, 1:-1] = u[1:-1, 1:-1] + kr * _laplacian(u)
        return torch.autograd.grad(0.5 * torch.sum(u * u), (u0r, kr))

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
