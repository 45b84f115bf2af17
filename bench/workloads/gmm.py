"""ADBench GMM: Gaussian-mixture log-likelihood with a Wishart prior (see the ADBench README,
shared/data/adbench/README.md section 1), differentiated w.r.t. (alphas, means, icf).

Each icf row holds the d log-diagonal entries of the lower-triangular Q_k, then its
d(d-1)/2 strictly-lower entries packed column by column.
"""

import math

import numba
import numpy as np

from bench.workloads import _adbench

NAME = "gmm"
DESCRIPTION = "ADBench GMM objective (loops), d/d(alphas, means, icf)"
SIZES = {
    "quick": ["1k/gmm_d2_K5", "1k/gmm_d10_K25"],
    "full": ["1k/gmm_d2_K5", "1k/gmm_d10_K25", "1k/gmm_d20_K50", "1k/gmm_d64_K10",
             "10k/gmm_d10_K25"],
    "test": ["test"],
}
WRT = (0, 1, 2)
CHECK_SIZE = "test"


def make_inputs(size):
    return _adbench.read_gmm(f"gmm/{size}.txt")


def f(alphas, means, icf, x, gamma, m):
    n, d = x.shape
    K = alphas.shape[0]
    Qdiag = np.exp(icf[:, :d])
    sum_qs = np.sum(icf[:, :d], axis=1)
    # log-likelihood: logsumexp over components for each point
    main = np.empty(K)
    xc = np.empty(d)
    Qxc = np.empty(d)
    total = 0.0
    for i in range(n):
        for k in range(K):
            # Qxc = Q_k (x_i - mu_k), Q_k lower-triangular, off-diagonals packed by column
            for r in range(d):
                xc[r] = x[i, r] - means[k, r]
                Qxc[r] = Qdiag[k, r] * xc[r]
            idx = d
            for c in range(d):
                for r in range(c + 1, d):
                    Qxc[r] += icf[k, idx] * xc[c]
                    idx += 1
            sqnorm = 0.0
            for r in range(d):
                sqnorm += Qxc[r] * Qxc[r]
            main[k] = alphas[k] + sum_qs[k] - 0.5 * sqnorm
        mx = np.max(main)
        se = 0.0
        for k in range(K):
            se += math.exp(main[k] - mx)
        total += mx + math.log(se)
    # - n * logsumexp(alphas)
    amax = np.max(alphas)
    lse_alphas = amax + math.log(np.sum(np.exp(alphas - amax)))
    # Wishart prior
    prior = 0.0
    for k in range(K):
        for r in range(d):
            prior += 0.5 * gamma * gamma * Qdiag[k, r] * Qdiag[k, r] - m * icf[k, r]
        for j in range(d, icf.shape[1]):
            prior += 0.5 * gamma * gamma * icf[k, j] * icf[k, j]
    # constants: -n d/2 log(2 pi) and K times the Wishart normaliser C
    N = d + m + 1
    lgamma_d = 0.25 * d * (d - 1) * math.log(math.pi)
    for j in range(1, d + 1):
        lgamma_d += math.lgamma(0.5 * N + 0.5 * (1 - j))
    C = N * d * (math.log(gamma) - 0.5 * math.log(2.0)) - lgamma_d
    return -0.5 * n * d * math.log(2.0 * math.pi) + total - n * lse_alphas + prior - K * C


@numba.njit(cache=True)
def hand_adjoint(alphas, means, icf, x, gamma, m):
    # Two matrix products (BLAS gemm through np.dot) for all components at once, points
    # innermost elsewhere. With QT = [Q_1^T ... Q_K^T] (d x Kd):
    # Forward: Z = X QT (n x Kd), then z_ik = Q_k x_i - Q_k mu_k in place (no x_i - mu_k
    #   is ever formed); per point main_k = alpha_k + sum(q_k) - |z_ik|^2 / 2 and the
    #   logsumexp over k; the responsibilities w_ik turn Z in place into its adjoint -w z.
    # Reverse: G = Z^T X (Kd x d, one gemm) is sum_i bz_ik x_i^T, so the gradient of Q_k's
    #   entries is G_k - (sum_i bz_ik) mu_k^T (its lower triangle), dmu_k = -(sum_i bz_ik) Q_k,
    #   dalpha_k = sum_i w_ik - n softmax(alpha)_k, plus the log-det and Wishart terms.
    n, d = x.shape
    K = alphas.shape[0]
    T = icf.shape[1]
    QT = np.zeros((d, K * d))
    sumq = np.zeros(K)
    qmu = np.zeros((K, d))
    for k in range(K):
        idx = d
        for c in range(d):
            QT[c, k * d + c] = math.exp(icf[k, c])
            sumq[k] += icf[k, c]
            for r in range(c + 1, d):
                QT[c, k * d + r] = icf[k, idx]
                idx += 1
        for r in range(d):
            acc = 0.0
            for c in range(r + 1):
                acc += QT[c, k * d + r] * means[k, c]
            qmu[k, r] = acc
    Z = np.dot(x, QT)
    w = np.empty((n, K))
    total = 0.0
    for i in range(n):
        mx = -np.inf
        for k in range(K):
            sq = 0.0
            for r in range(d):
                v = Z[i, k * d + r] - qmu[k, r]
                Z[i, k * d + r] = v
                sq += v * v
            main = alphas[k] + sumq[k] - 0.5 * sq
            w[i, k] = main
            mx = max(mx, main)
        se = 0.0
        for k in range(K):
            e = math.exp(w[i, k] - mx)
            w[i, k] = e
            se += e
        total += mx + math.log(se)
        inv = 1.0 / se
        for k in range(K):
            wik = w[i, k] * inv
            w[i, k] = wik
            for r in range(d):
                Z[i, k * d + r] *= -wik
    amax = np.max(alphas)
    ea = np.exp(alphas - amax)
    sea = np.sum(ea)
    lse_alphas = amax + math.log(sea)

    G = np.dot(Z.T, x)
    sbz = np.zeros(K * d)
    wsum = np.zeros(K)
    for i in range(n):
        for k in range(K):
            wsum[k] += w[i, k]
        for j in range(K * d):
            sbz[j] += Z[i, j]
    g2 = gamma * gamma
    dalphas = -n * ea / sea + wsum
    dmeans = np.empty((K, d))
    dicf = np.empty((K, T))
    prior = 0.0
    for k in range(K):
        for c in range(d):
            acc = 0.0
            for r in range(c, d):
                acc += sbz[k * d + r] * QT[c, k * d + r]
            dmeans[k, c] = -acc
        idx = d
        for c in range(d):
            # the exp(q) chain factor, log det (wsum), and the prior 1/2 g^2 exp(2q) - m q
            qe = QT[c, k * d + c]
            dq = G[k * d + c, c] - sbz[k * d + c] * means[k, c]
            dicf[k, c] = dq * qe + wsum[k] + g2 * qe * qe - m
            prior += 0.5 * g2 * qe * qe - m * icf[k, c]
            for r in range(c + 1, d):
                lv = icf[k, idx]
                dicf[k, idx] = G[k * d + r, c] - sbz[k * d + r] * means[k, c] + g2 * lv
                prior += 0.5 * g2 * lv * lv
                idx += 1
    N = d + m + 1
    lgamma_d = 0.25 * d * (d - 1) * math.log(math.pi)
    for j in range(1, d + 1):
        lgamma_d += math.lgamma(0.5 * N + 0.5 * (1 - j))
    C = N * d * (math.log(gamma) - 0.5 * math.log(2.0)) - lgamma_d
    value = -0.5 * n * d * math.log(2.0 * math.pi) + total - n * lse_alphas + prior - K * C
    return value, (dalphas, dmeans, dicf)


def check(value, grads):
    exp = _adbench.expected("gmm", "test.txt")
    flat = np.concatenate([np.ravel(g) for g in grads])
    assert abs(value - exp["objective"]) <= 1e-8, (value, exp["objective"])
    err = np.max(np.abs(flat - np.array(exp["gradient"])))
    assert err <= 1e-8, f"GMM gradient differs from ADBench's by {err:.3g}"


# ---- peers: the vectorised formulation a user of an array library writes ----

def _tril_gather(d):
    # position (r, c) of Q's strictly-lower part -> 1 + its index in l; 0 elsewhere
    g = np.zeros((d, d), dtype=np.int64)
    idx = 0
    for c in range(d):
        for r in range(c + 1, d):
            g[r, c] = idx + 1
            idx += 1
    return g.ravel()


def _constants(n, d, K, gamma, m):
    N = d + m + 1
    lgamma_d = 0.25 * d * (d - 1) * math.log(math.pi)
    lgamma_d += sum(math.lgamma(0.5 * N + 0.5 * (1 - j)) for j in range(1, d + 1))
    C = N * d * (math.log(gamma) - 0.5 * math.log(2.0)) - lgamma_d
    return -0.5 * n * d * math.log(2.0 * math.pi) - K * C


def _vector_loss(np_, logsumexp, x, gamma, m, asarray=np.asarray):
    n, d = x.shape
    gather = asarray(_tril_gather(d))
    eye = asarray(np.eye(d))

    def loss(alphas, means, icf):
        K = alphas.shape[0]
        q = icf[:, :d]
        lower = icf[:, d:]
        lpad = np_.concatenate([np_.zeros((K, 1), dtype=icf.dtype), lower], 1)
        Q = np_.reshape(lpad[:, gather], (K, d, d)) + np_.exp(q)[:, :, None] * eye
        xc = x[:, None, :] - means[None, :, :]                      # (n, K, d)
        Qxc = np_.einsum("kij,nkj->nki", Q, xc)                     # (n, K, d)
        main = alphas + np_.sum(q, 1) - 0.5 * np_.sum(Qxc * Qxc, -1)  # (n, K)
        prior = (0.5 * gamma * gamma * (np_.sum(np_.exp(q) ** 2) + np_.sum(lower * lower))
                 - m * np_.sum(q))
        return (np_.sum(logsumexp(main)) - n * logsumexp(alphas) + prior
                + _constants(n, d, K, gamma, m))

    return loss


def make_jax(alphas, means, icf, x, gamma, m):
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    jax.config.update("jax_enable_x64", True)
    loss = _vector_loss(jnp, lambda a: logsumexp(a, axis=-1), jnp.asarray(x), gamma, m)
    g = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    args = [jnp.asarray(a) for a in (alphas, means, icf)]
    return lambda: jax.block_until_ready(g(*args))


def make_autograd(alphas, means, icf, x, gamma, m):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    loss = _vector_loss(anp, lambda a: logsumexp(a, axis=-1), x, gamma, m)
    g = autograd.grad(loss, argnum=(0, 1, 2))
    return lambda: g(alphas, means, icf)


def make_torch(alphas, means, icf, x, gamma, m):
    import torch

    xt = torch.from_numpy(x)
    loss = _vector_loss(torch, lambda a: torch.logsumexp(a, -1), xt, gamma, m, torch.from_numpy)
    ts = [torch.from_numpy(a.copy()) for a in (alphas, means, icf)]

    def grad():
        rs = [t.detach().requires_grad_(True) for t in ts]
        return torch.autograd.grad(loss(*rs), rs)

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
