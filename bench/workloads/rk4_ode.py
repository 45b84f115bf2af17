"""Classical RK4 integration of a damped Duffing oscillator, x'' = -c x' - k x - e x^3.

The loss sums x^2 dt over the trajectory; it is differentiated w.r.t. p = (c, k, e).
"""

import numba
import numpy as np

NAME = "rk4_ode"
DESCRIPTION = "RK4, damped Duffing oscillator, 10k steps, d(sum over trajectory)/d(params)"
SIZES = {"quick": [10_000], "full": [10_000], "test": [20]}
WRT = (0,)


def make_inputs(nsteps):
    p = np.array([0.3, 1.0, 0.5])
    y0 = np.array([1.0, 0.0])
    return p, y0, 0.001 if nsteps >= 1000 else 0.05, nsteps


def f(p, y0, dt, nsteps):
    c = p[0]
    k = p[1]
    e = p[2]
    x = y0[0]
    v = y0[1]
    loss = 0.0
    for i in range(nsteps):
        k1x = v
        k1v = -c * v - k * x - e * x * x * x
        x2 = x + 0.5 * dt * k1x
        v2 = v + 0.5 * dt * k1v
        k2x = v2
        k2v = -c * v2 - k * x2 - e * x2 * x2 * x2
        x3 = x + 0.5 * dt * k2x
        v3 = v + 0.5 * dt * k2v
        k3x = v3
        k3v = -c * v3 - k * x3 - e * x3 * x3 * x3
        x4 = x + dt * k3x
        v4 = v + dt * k3v
        k4x = v4
        k4v = -c * v4 - k * x4 - e * x4 * x4 * x4
        x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        loss = loss + x * x * dt
    return loss


@numba.njit(cache=True)
def hand_adjoint(p, y0, dt, nsteps):
    # Forward: the primal loop, saving the state (x, v) at the start of each step
    # (2 * nsteps floats). Reverse: per step, recompute the four stage points from the saved
    # state, then run the stages' adjoints backwards (k4, k3, k2, k1). For a stage at point
    # (xs, vs) with adjoints (bkx, bkv) of (kx, kv) = (vs, -c vs - k xs - e xs^3):
    #   bxs = -bkv (k + 3 e xs^2),  bvs = bkx - c bkv,  bc -= vs bkv, bk -= xs bkv, be -= xs^3 bkv.
    c, k, e = p[0], p[1], p[2]
    xs = np.empty(nsteps)
    vs = np.empty(nsteps)
    x = y0[0]
    v = y0[1]
    loss = 0.0
    for i in range(nsteps):
        xs[i] = x
        vs[i] = v
        k1x = v
        k1v = -c * v - k * x - e * x * x * x
        x2 = x + 0.5 * dt * k1x
        v2 = v + 0.5 * dt * k1v
        k2x = v2
        k2v = -c * v2 - k * x2 - e * x2 * x2 * x2
        x3 = x + 0.5 * dt * k2x
        v3 = v + 0.5 * dt * k2v
        k3x = v3
        k3v = -c * v3 - k * x3 - e * x3 * x3 * x3
        x4 = x + dt * k3x
        v4 = v + dt * k3v
        k4x = v4
        k4v = -c * v4 - k * x4 - e * x4 * x4 * x4
        x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        loss = loss + x * x * dt
    bx = 0.0
    bv = 0.0
    bc = bk = be = 0.0
    h6 = dt / 6.0
    for i in range(nsteps - 1, -1, -1):
        # recompute the stage points of step i
        x = xs[i]
        v = vs[i]
        k1x = v
        k1v = -c * v - k * x - e * x * x * x
        x2 = x + 0.5 * dt * k1x
        v2 = v + 0.5 * dt * k1v
        k2v = -c * v2 - k * x2 - e * x2 * x2 * x2
        x3 = x + 0.5 * dt * v2
        v3 = v + 0.5 * dt * k2v
        k3v = -c * v3 - k * x3 - e * x3 * x3 * x3
        x4 = x + dt * v3
        v4 = v + dt * k3v
        # loss += x_new^2 dt, with x_new the state after step i
        if i + 1 < nsteps:
            xnew = xs[i + 1]
        else:
            xnew = x + h6 * (v + 2.0 * v2 + 2.0 * v3 + v4)
        bx += 2.0 * xnew * dt
        # x_new = x + h6 (k1x + 2 k2x + 2 k3x + k4x), same for v
        bk1x, bk1v = h6 * bx, h6 * bv
        bk2x, bk2v = 2.0 * bk1x, 2.0 * bk1v
        bk3x, bk3v = bk2x, bk2v
        bk4x, bk4v = bk1x, bk1v
        # stage 4 at (x4, v4); x4 = x + dt k3x, v4 = v + dt k3v
        bx4 = -bk4v * (k + 3.0 * e * x4 * x4)
        bv4 = bk4x - c * bk4v
        bc -= v4 * bk4v
        bk -= x4 * bk4v
        be -= x4 * x4 * x4 * bk4v
        bx += bx4
        bv += bv4
        bk3x += dt * bx4
        bk3v += dt * bv4
        # stage 3 at (x3, v3); x3 = x + dt/2 k2x
        bx3 = -bk3v * (k + 3.0 * e * x3 * x3)
        bv3 = bk3x - c * bk3v
        bc -= v3 * bk3v
        bk -= x3 * bk3v
        be -= x3 * x3 * x3 * bk3v
        bx += bx3
        bv += bv3
        bk2x += 0.5 * dt * bx3
        bk2v += 0.5 * dt * bv3
        # stage 2 at (x2, v2); x2 = x + dt/2 k1x
        bx2 = -bk2v * (k + 3.0 * e * x2 * x2)
        bv2 = bk2x - c * bk2v
        bc -= v2 * bk2v
        bk -= x2 * bk2v
        be -= x2 * x2 * x2 * bk2v
        bx += bx2
        bv += bv2
        bk1x += 0.5 * dt * bx2
        bk1v += 0.5 * dt * bv2
        # stage 1 at (x, v)
        bx += -bk1v * (k + 3.0 * e * x * x)
        bv += bk1x - c * bk1v
        bc -= v * bk1v
        bk -= x * bk1v
        be -= x * x * x * bk1v
    return loss, (np.array([bc, bk, be]),)


def _rhs(c, k, e, x, v):
    return v, -c * v - k * x - e * x * x * x


def _step(p, x, v, dt):
    c, k, e = p[0], p[1], p[2]
    k1x, k1v = _rhs(c, k, e, x, v)
    k2x, k2v = _rhs(c, k, e, x + 0.5 * dt * k1x, v + 0.5 * dt * k1v)
    k3x, k3v = _rhs(c, k, e, x + 0.5 * dt * k2x, v + 0.5 * dt * k2v)
    k4x, k4v = _rhs(c, k, e, x + dt * k3x, v + dt * k3v)
    x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
    v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
    return x, v


def _python_loss(p, y0, dt, nsteps):
    x, v = y0[0], y0[1]
    loss = 0.0
    for i in range(nsteps):
        x, v = _step(p, x, v, dt)
        loss = loss + x * x * dt
    return loss


def make_jax(p, y0, dt, nsteps):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(p):
        def body(carry, _):
            x, v, s = carry
            x, v = _step(p, x, v, dt)
            return (x, v, s + x * x * dt), None

        (_, _, s), _ = jax.lax.scan(body, (y0[0], y0[1], 0.0), None, length=nsteps)
        return s

    g = jax.jit(jax.grad(loss))
    pj = jnp.asarray(p)
    return lambda: g(pj).block_until_ready()


def make_autograd(p, y0, dt, nsteps):
    import autograd

    g = autograd.grad(_python_loss)
    return lambda: g(p, y0, dt, nsteps)


def make_torch(p, y0, dt, nsteps):
    import torch

    pt = torch.from_numpy(p.copy())

    def grad():
        pr = pt.detach().requires_grad_(True)
        (gp,) = torch.autograd.grad(_python_loss(pr, y0, dt, nsteps), pr)
        return gp

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
