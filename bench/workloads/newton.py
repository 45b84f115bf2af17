"""Newton's method with a tolerance stop, per element: solve z^3 + a z - b = 0 (a > 0, so the
root is unique) for 10k (a, b) pairs; the loss sums z^2 and is differentiated w.r.t. a and b.

The iteration count differs per element and is decided by `while abs(dz) > tol`.
"""

import numba
import numpy as np

from bench.workloads import CannotExpress

NAME = "newton"
DESCRIPTION = "Newton iteration with a while/tolerance stop per element, d/d(a, b)"
SIZES = {"quick": [10_000], "full": [10_000], "test": [5]}
WRT = (0, 1)
MAXIT = 100


def make_inputs(n):
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 2.0, n)
    b = rng.uniform(-3.0, 3.0, n)
    return a, b, 1e-12


def f(a, b, tol):
    s = 0.0
    for i in range(a.shape[0]):
        z = 1.0
        dz = 1.0
        while abs(dz) > tol:
            dz = (z * z * z + a[i] * z - b[i]) / (3.0 * z * z + a[i])
            z = z - dz
        s = s + z * z
    return s


@numba.njit(cache=True)
def hand_adjoint(a, b, tol):
    # Reverses the iterations, like srcad does (not the implicit-function theorem; see
    # `hand_adjoint_ift` for that shortcut). The work is in `_reverse_newton`; this wrapper
    # retries with bigger buffers if some element needs more than `cap` iterations
    # (growing a buffer inside the hot loop costs Numba 4x, so it is done out here).
    cap = 64
    while True:
        s, ga, gb, overflow = _reverse_newton(a, b, tol, cap)
        if not overflow:
            return s, (ga, gb)
        cap *= 4


@numba.njit(cache=True)
def _reverse_newton(a, b, tol, cap):
    # Elements are independent, so the forward and reverse sweeps are fused per element:
    # iterate, saving each iterate z_k and step dz_k in two reused buffers of `cap` floats,
    # then walk them backwards. For one step
    #   z' = z - dz,  dz = N / D,  N = z^3 + a z - b,  D = 3 z^2 + a:
    #   dz'/dz = 6 z dz / D,  dz'/da = (dz - z) / D,  dz'/db = 1 / D.
    n = a.shape[0]
    ga = np.empty(n)
    gb = np.empty(n)
    zs = np.empty(cap)
    dzs = np.empty(cap)
    s = 0.0
    for i in range(n):
        ai = a[i]
        bi = b[i]
        z = 1.0
        dz = 1.0
        it = 0
        while abs(dz) > tol:
            if it == cap:
                return s, ga, gb, True
            zs[it] = z
            dz = (z * z * z + ai * z - bi) / (3.0 * z * z + ai)
            dzs[it] = dz
            it += 1
            z = z - dz
        s += z * z
        bz = 2.0 * z
        bai = 0.0
        bbi = 0.0
        for j in range(it - 1, -1, -1):
            z = zs[j]
            rd = 1.0 / (3.0 * z * z + ai)  # independent of bz: off the dependency chain
            r = bz * rd
            bai += r * (dzs[j] - z)
            bbi += r
            bz = bz * (6.0 * z * dzs[j] * rd)
        ga[i] = bai
        gb[i] = bbi
    return s, ga, gb, False


@numba.njit(cache=True)
def hand_adjoint_ift(a, b, tol):
    # The implicit-function-theorem shortcut (not used by the harness): at the root,
    # dz/da = -z / D and dz/db = 1 / D with D = 3 z^2 + a; nothing is saved.
    n = a.shape[0]
    ga = np.empty(n)
    gb = np.empty(n)
    s = 0.0
    for i in range(n):
        z = 1.0
        dz = 1.0
        while abs(dz) > tol:
            dz = (z * z * z + a[i] * z - b[i]) / (3.0 * z * z + a[i])
            z = z - dz
        s += z * z
        den = 3.0 * z * z + a[i]
        ga[i] = -2.0 * z * z / den
        gb[i] = 2.0 * z / den
    return s, (ga, gb)


def make_jax(a, b, tol):
    raise CannotExpress(
        "a tolerance stop needs jax.lax.while_loop, which JAX cannot reverse-differentiate"
    )


def _python_loss(a, b, tol):
    s = 0.0
    for i in range(a.shape[0]):
        z = 1.0
        dz = 1.0
        while abs(dz) > tol:
            dz = (z * z * z + a[i] * z - b[i]) / (3.0 * z * z + a[i])
            z = z - dz
        s = s + z * z
    return s


def make_autograd(a, b, tol):
    import autograd

    g = autograd.grad(_python_loss, argnum=(0, 1))
    return lambda: g(a, b, tol)


def make_torch(a, b, tol):
    import torch

    at, bt = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())

    def grad():
        ar = at.detach().requires_grad_(True)
        br = bt.detach().requires_grad_(True)
        return torch.autograd.grad(_python_loss(ar, br, tol), (ar, br))

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
