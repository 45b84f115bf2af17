"""Explicit Euler integration of the Lotka-Volterra equations; the loss is a function of the
final state, differentiated w.r.t. the four rate parameters and the initial state.

    u' = a u - b u v,   v' = c u v - d v
"""

import numba
import numpy as np

NAME = "euler_ode"
DESCRIPTION = "explicit Euler, Lotka-Volterra, 10k steps, d(final-state loss)/d(params, y0)"
SIZES = {"quick": [10_000], "full": [10_000], "test": [25]}
WRT = (0, 1)


def make_inputs(nsteps):
    p = np.array([1.1, 0.4, 0.1, 0.4])
    y0 = np.array([10.0, 5.0])
    return p, y0, 20.0 / nsteps if nsteps >= 1000 else 0.01, nsteps


def f(p, y0, dt, nsteps):
    u = y0[0]
    v = y0[1]
    for k in range(nsteps):
        du = p[0] * u - p[1] * u * v
        dv = p[2] * u * v - p[3] * v
        u = u + dt * du
        v = v + dt * dv
    return u * u + v * v


@numba.njit(cache=True)
def hand_adjoint(p, y0, dt, nsteps):
    # Forward: the primal loop saving (u, v) before each step (2 * nsteps floats).
    # Reverse: one backward loop; the four parameter adjoints are scalar accumulators.
    a, b, c, d = p[0], p[1], p[2], p[3]
    us = np.empty(nsteps)
    vs = np.empty(nsteps)
    u = y0[0]
    v = y0[1]
    for k in range(nsteps):
        us[k] = u
        vs[k] = v
        du = a * u - b * u * v
        dv = c * u * v - d * v
        u = u + dt * du
        v = v + dt * dv
    value = u * u + v * v
    bu = 2.0 * u
    bv = 2.0 * v
    ba = bb = bc = bd = 0.0
    for k in range(nsteps - 1, -1, -1):
        u = us[k]
        v = vs[k]
        gu = dt * bu  # adjoint of du
        gv = dt * bv  # adjoint of dv
        ba += gu * u
        bb -= gu * u * v
        bc += gv * u * v
        bd -= gv * v
        bu, bv = bu + gu * (a - b * v) + gv * c * v, bv - gu * b * u + gv * (c * u - d)
    return value, (np.array([ba, bb, bc, bd]), np.array([bu, bv]))


def make_jax(p, y0, dt, nsteps):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(p, y0):
        def body(k, uv):
            u, v = uv
            du = p[0] * u - p[1] * u * v
            dv = p[2] * u * v - p[3] * v
            return u + dt * du, v + dt * dv

        u, v = jax.lax.fori_loop(0, nsteps, body, (y0[0], y0[1]))
        return u * u + v * v

    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    pj, yj = jnp.asarray(p), jnp.asarray(y0)
    return lambda: jax.block_until_ready(g(pj, yj))


def _python_loss(p, y0, dt, nsteps):
    u = y0[0]
    v = y0[1]
    for k in range(nsteps):
        du = p[0] * u - p[1] * u * v
        dv = p[2] * u * v - p[3] * v
        u = u + dt * du
        v = v + dt * dv
    return u * u + v * v


def make_autograd(p, y0, dt, nsteps):
    import autograd

    g = autograd.grad(_python_loss, argnum=(0, 1))
    return lambda: g(p, y0, dt, nsteps)


def make_torch(p, y0, dt, nsteps):
    import torch

    pt, yt = torch.from_numpy(p.copy()), torch.from_numpy(y0.copy())

    def grad():
        pr = pt.detach().requires_grad_(True)
        yr = yt.detach().requires_grad_(True)
        return torch.autograd.grad(_python_loss(pr, yr, dt, nsteps), (pr, yr))

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
