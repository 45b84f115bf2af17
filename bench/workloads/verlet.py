"""Velocity-Verlet integration of N particles in 3-D: a harmonic trap plus a soft Gaussian
pair repulsion, U = K/2 sum |x_i|^2 + sum_{i<j} exp(-|x_i - x_j|^2).

The loss is the sum of squared final positions, differentiated w.r.t. the initial positions.
Forces are recomputed from the positions at the top of each step; the `if step > 0` half-kick
completes the previous step's velocity update, so each step evaluates the forces once.
"""

import math

import numba
import numpy as np

NAME = "verlet"
DESCRIPTION = "velocity Verlet, 64 particles, pair forces, d(final positions loss)/d(x0)"
SIZES = {"quick": [(64, 100)], "full": [(64, 1000)], "test": [(4, 3)]}
WRT = (0,)
K = 0.5


def make_inputs(size):
    n, nsteps = size
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((n, 3)) * 1.5
    v0 = rng.standard_normal((n, 3)) * 0.1
    return x0, v0, 0.01, nsteps


def f(x0, v0, dt, nsteps):
    n = x0.shape[0]
    x = x0.copy()
    v = v0.copy()
    for step in range(nsteps):
        a = -0.5 * x
        for i in range(n):
            for j in range(i + 1, n):
                d0 = x[i, 0] - x[j, 0]
                d1 = x[i, 1] - x[j, 1]
                d2 = x[i, 2] - x[j, 2]
                s = 2.0 * math.exp(-(d0 * d0 + d1 * d1 + d2 * d2))
                a[i, 0] += s * d0
                a[i, 1] += s * d1
                a[i, 2] += s * d2
                a[j, 0] -= s * d0
                a[j, 1] -= s * d1
                a[j, 2] -= s * d2
        if step > 0:
            v = v + 0.5 * dt * a
        v = v + 0.5 * dt * a
        x = x + dt * v
    return np.sum(x * x)


@numba.njit(cache=True)
def hand_adjoint(x0, v0, dt, nsteps):
    # Forward: the primal, saving the positions at the top of every step (nsteps x n x 3)
    # and each pair's s = 2 exp(-|d|^2) (nsteps x n(n-1)/2: reading it back is cheaper than
    # recomputing the exp). Velocities never need saving: the loss depends on them linearly.
    # Reverse, per step: bv += dt bx (drift); ba = (1 or 2) * dt/2 * bv (kicks); then the
    # force adjoint, pair by pair: with d = x_i - x_j, s = 2 exp(-|d|^2), q = ba_i - ba_j,
    # bd = s q - 2 s (q . d) d, bx_i += bd, bx_j -= bd; and the trap term bx -= K ba.
    n = x0.shape[0]
    xs = np.empty((nsteps, n, 3))
    ss = np.empty((nsteps, n * (n - 1) // 2))
    x = x0.copy()
    v = v0.copy()
    a = np.empty((n, 3))
    for step in range(nsteps):
        xs[step] = x
        for i in range(n):
            for c in range(3):
                a[i, c] = -K * x[i, c]
        sstep = ss[step]
        pair = 0
        for i in range(n):
            for j in range(i + 1, n):
                d0 = x[i, 0] - x[j, 0]
                d1 = x[i, 1] - x[j, 1]
                d2 = x[i, 2] - x[j, 2]
                s = 2.0 * math.exp(-(d0 * d0 + d1 * d1 + d2 * d2))
                sstep[pair] = s
                pair += 1
                a[i, 0] += s * d0
                a[i, 1] += s * d1
                a[i, 2] += s * d2
                a[j, 0] -= s * d0
                a[j, 1] -= s * d1
                a[j, 2] -= s * d2
        kick = dt if step > 0 else 0.5 * dt
        for i in range(n):
            for c in range(3):
                v[i, c] += kick * a[i, c]
                x[i, c] += dt * v[i, c]
    value = 0.0
    bx = np.empty((n, 3))
    for i in range(n):
        for c in range(3):
            value += x[i, c] * x[i, c]
            bx[i, c] = 2.0 * x[i, c]
    bv = np.zeros((n, 3))
    ba = np.empty((n, 3))
    for step in range(nsteps - 1, -1, -1):
        kick = dt if step > 0 else 0.5 * dt
        for i in range(n):
            for c in range(3):
                bv[i, c] += dt * bx[i, c]
                ba[i, c] = kick * bv[i, c]
                bx[i, c] -= K * ba[i, c]
        x = xs[step]
        sstep = ss[step]
        pair = 0
        for i in range(n):
            for j in range(i + 1, n):
                d0 = x[i, 0] - x[j, 0]
                d1 = x[i, 1] - x[j, 1]
                d2 = x[i, 2] - x[j, 2]
                s = sstep[pair]
                pair += 1
                q0 = ba[i, 0] - ba[j, 0]
                q1 = ba[i, 1] - ba[j, 1]
                q2 = ba[i, 2] - ba[j, 2]
                t = 2.0 * s * (q0 * d0 + q1 * d1 + q2 * d2)
                b0 = s * q0 - t * d0
                b1 = s * q1 - t * d1
                b2 = s * q2 - t * d2
                bx[i, 0] += b0
                bx[i, 1] += b1
                bx[i, 2] += b2
                bx[j, 0] -= b0
                bx[j, 1] -= b1
                bx[j, 2] -= b2
    return value, (bx,)


def _accel(np_, x):
    # vectorised forces, as a user of an array library writes them
    d = x[:, None, :] - x[None, :, :]
    s = 2.0 * np_.exp(-np_.sum(d * d, axis=-1))
    return -K * x + np_.sum(s[:, :, None] * d, axis=1)


def _python_loss(np_, x0, v0, dt, nsteps):
    x, v = x0, v0
    for step in range(nsteps):
        a = _accel(np_, x)
        kick = dt if step > 0 else 0.5 * dt
        v = v + kick * a
        x = x + dt * v
    return np_.sum(x * x)


def make_jax(x0, v0, dt, nsteps):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(x0):
        # the first half-kick is peeled off so the loop body is uniform
        v = v0 + 0.5 * dt * _accel(jnp, x0)
        x = x0 + dt * v

        def body(step, xv):
            x, v = xv
            v = v + dt * _accel(jnp, x)
            return x + dt * v, v

        x, v = jax.lax.fori_loop(1, nsteps, body, (x, v))
        return jnp.sum(x * x)

    g = jax.jit(jax.grad(loss))
    xj = jnp.asarray(x0)
    return lambda: g(xj).block_until_ready()


def make_autograd(x0, v0, dt, nsteps):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(lambda x: _python_loss(anp, x, v0, dt, nsteps))
    return lambda: g(x0)


def make_torch(x0, v0, dt, nsteps):
    import torch

    xt, vt = torch.from_numpy(x0.copy()), torch.from_numpy(v0.copy())

    def grad():
        xr = xt.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(_python_loss(torch, xr, vt, dt, nsteps), xr)
        return gx

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
