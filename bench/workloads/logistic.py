"""L2-regularised logistic-regression loss, vectorised:
sum(log1p(exp(-y * (X @ w)))) + lam/2 |w|^2, differentiated w.r.t. the weights w."""

import numba
import numpy as np

NAME = "logistic"
DESCRIPTION = "logistic-regression loss, X @ w, np.log1p(np.exp(.)), w @ w"
SIZES = {"quick": [(1_000, 100)], "full": [(10_000, 100)], "test": [(20, 5)]}
WRT = (0,)


def make_inputs(size):
    m, n = size
    rng = np.random.default_rng(2)
    X = rng.standard_normal((m, n)) / np.sqrt(n)
    w_true = rng.standard_normal(n)
    y = np.where(X @ w_true + 0.3 * rng.standard_normal(m) > 0, 1.0, -1.0)
    w = 0.5 * rng.standard_normal(n)
    return w, X, y, 0.1


def f(w, X, y, lam):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z))) + 0.5 * lam * (w @ w)


@numba.njit(cache=True)
def hand_adjoint(w, X, y, lam):
    # Forward: z = X @ w (BLAS gemv); one loop over samples computes the loss and the
    # adjoint of z, dz = -y * t / (1 + t) with t = exp(-y z), reusing t.
    # Reverse: g = dz @ X (a second gemv) + lam * w.  Saves z only.
    z = X @ w
    m = z.shape[0]
    dz = np.empty(m)
    s = 0.0
    for i in range(m):
        t = np.exp(-y[i] * z[i])
        s += np.log1p(t)
        dz[i] = -y[i] * t / (1.0 + t)
    g = dz @ X + lam * w
    return s + 0.5 * lam * (w @ w), (g,)


def _loss(np_, log1p, matvec):
    def loss(w, X, y, lam):
        z = matvec(X, w)
        return np_.sum(log1p(np_.exp(-y * z))) + 0.5 * lam * np_.sum(w * w)

    return loss


def make_jax(w, X, y, lam):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.grad(_loss(jnp, jnp.log1p, jnp.matmul)))
    args = [jnp.asarray(a) for a in (w, X, y)]
    return lambda: g(*args, lam).block_until_ready()


def make_autograd(w, X, y, lam):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(_loss(anp, anp.log1p, anp.dot))
    return lambda: g(w, X, y, lam)


def make_torch(w, X, y, lam):
    import torch

    wt, Xt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in (w, X, y))
    loss = _loss(torch, torch.log1p, torch.mv)

    def grad():
        wr = wt.detach().requires_grad_(True)
        (gw,) = torch.autograd.grad(loss(wr, Xt, yt, lam), wr)
        return gw

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
