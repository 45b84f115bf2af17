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
    # Per component k the points form a matrix, so the work is two small matrix products
    # (BLAS gemm through np.dot) per component, points innermost:
    # Forward: Y = X - mu_k (n x d), Z_k = Y Q_k^T, main[k, i] = alpha_k + sum(q_k) - |z_i|^2/2;
    #   Z_k is saved (K x n x d: cheaper than a second gemm in the reverse at most sizes).
    #   Per point the logsumexp over k; main becomes the responsibilities w[k, i].
    # Reverse, per k: bZ = -w * Z_k (the adjoint of -|z|^2/2), dQ_k = bZ^T Y (one gemm; its
    #   lower triangle is the gradient of Q_k's entries), dmu_k = -(sum_i bz_i) Q_k,
    #   dalpha_k = sum_i w[k, i] - n softmax(alpha)_k, and the log-det and Wishart terms.
    n, d = x.shape
    K = alphas.shape[0]
    T = icf.shape[1]
    Q = np.zeros((K, d, d))
    sumq = np.zeros(K)
    for k in range(K):
        idx = d
        for c in range(d):
            Q[k, c, c] = math.exp(icf[k, c])
            sumq[k] += icf[k, c]
            for r in range(c + 1, d):
                Q[k, r, c] = icf[k, idx]
                idx += 1
    Z = np.empty((K, n, d))
    Y = np.empty((n, d))
    main = np.empty((K, n))
    for k in range(K):
        for i in range(n):
            for r in range(d):
                Y[i, r] = x[i, r] - means[k, r]
        Zk = np.dot(Y, Q[k].T)
        Z[k] = Zk
        for i in range(n):
            sq = 0.0
            for r in range(d):
                sq += Zk[i, r] * Zk[i, r]
            main[k, i] = alphas[k] + sumq[k] - 0.5 * sq
    total = 0.0
    for i in range(n):
        mx = main[0, i]
        for k in range(1, K):
            mx = max(mx, main[k, i])
        se = 0.0
        for k in range(K):
            e = math.exp(main[k, i] - mx)
            main[k, i] = e
            se += e
        total += mx + math.log(se)
        inv = 1.0 / se
        for k in range(K):
            main[k, i] *= inv
    amax = np.max(alphas)
    ea = np.exp(alphas - amax)
    sea = np.sum(ea)
    lse_alphas = amax + math.log(sea)

    g2 = gamma * gamma
    dalphas = -n * ea / sea
    dmeans = np.empty((K, d))
    dicf = np.empty((K, T))
    prior = 0.0
    bZ = np.empty((n, d))
    sbz = np.empty(d)
    for k in range(K):
        for i in range(n):
            for r in range(d):
                Y[i, r] = x[i, r] - means[k, r]
        wsum = 0.0
        sbz[:] = 0.0
        for i in range(n):
            w = main[k, i]
            wsum += w
            for r in range(d):
                b = -w * Z[k, i, r]
                bZ[i, r] = b
                sbz[r] += b
        dQ = np.dot(bZ.T, Y)
        dalphas[k] += wsum
        for c in range(d):
            acc = 0.0
            for r in range(c, d):
                acc += sbz[r] * Q[k, r, c]
            dmeans[k, c] = -acc
        idx = d
        for c in range(d):
            # the exp(q) chain factor, log det (wsum), and the prior 1/2 g^2 exp(2q) - m q
            qe = Q[k, c, c]
            dicf[k, c] = dQ[c, c] * qe + wsum + g2 * qe * qe - m
            prior += 0.5 * g2 * qe * qe - m * icf[k, c]
            for r in range(c + 1, d):
                lv = icf[k, idx]
                dicf[k, idx] = dQ[r, c] + g2 * lv
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
