"""ADBench GMM, the same objective as gmm.py, written the way a NumPy user writes it:
broadcasting over points and components, Q_k (x_i - mu_k) built column by column of the packed
lower triangle, a logsumexp with the max subtracted; no loop over points."""

import math

import numpy as np

# The same function of the same arguments as gmm.py's, so the same inputs, expected values,
# hand adjoint and peer formulations (which are already vectorised).
from bench.workloads.gmm import CHECK_SIZE, PEERS, SIZES, WRT, check, hand_adjoint, make_inputs

__all__ = ["CHECK_SIZE", "PEERS", "SIZES", "WRT", "check", "hand_adjoint", "make_inputs"]

NAME = "gmm_vec"
DESCRIPTION = "ADBench GMM objective, vectorised (broadcasting, logsumexp), d/d(alphas, means, icf)"


def f(alphas, means, icf, x, gamma, m):
    n, d = x.shape
    K = alphas.shape[0]
    q = icf[:, :d]
    qdiag = np.exp(q)
    xc = x[:, None, :] - means[None, :, :]                  # (n, K, d)
    z = qdiag[None, :, :] * xc                              # Q_k (x_i - mu_k): the diagonal,
    idx = d
    for c in range(d - 1):                                  # then the lower part by column
        width = d - 1 - c
        z[:, :, c + 1:] += icf[None, :, idx:idx + width] * xc[:, :, c:c + 1]
        idx += width
    main = alphas[None, :] + np.sum(q, axis=1)[None, :] - 0.5 * np.sum(z * z, axis=2)  # (n, K)
    mx = main[:, 0].copy()  # each point's max over components (Numba's np.max has no axis)
    for k in range(1, K):
        mx = np.maximum(mx, main[:, k])
    lse = mx + np.log(np.sum(np.exp(main - mx[:, None]), axis=1))
    amax = np.max(alphas)
    lse_alphas = amax + np.log(np.sum(np.exp(alphas - amax)))
    prior = 0.5 * gamma * gamma * (np.sum(qdiag * qdiag) + np.sum(icf[:, d:] ** 2)) \
        - m * np.sum(q)
    N = d + m + 1
    lgamma_d = 0.25 * d * (d - 1) * math.log(math.pi)
    for j in range(1, d + 1):
        lgamma_d += math.lgamma(0.5 * N + 0.5 * (1 - j))
    C = N * d * (math.log(gamma) - 0.5 * math.log(2.0)) - lgamma_d
    return -0.5 * n * d * math.log(2.0 * math.pi) + np.sum(lse) - n * lse_alphas + prior - K * C
