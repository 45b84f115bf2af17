"""A Poisson regression fitted by a trust-region Newton method: scipy.optimize.minimize with
method="trust-ncg" takes the gradient from srcad.grad and Hessian-vector products from
srcad.hvp (reverse mode over srcad's generated forward mode, compiled as one function), so the
Hessian is never formed. The log-likelihood is a plain loop over the data."""

import math

import numpy as np
import scipy.optimize

import srcad


def neg_log_likelihood(w, X, counts):
    total = 0.0
    for i in range(X.shape[0]):
        eta = 0.0
        for j in range(X.shape[1]):
            eta += X[i, j] * w[j]
        total += math.exp(eta) - counts[i] * eta
    return total + 0.5e-3 * np.dot(w, w)


def main():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(500), rng.normal(size=(500, 3))])
    true_w = np.array([0.5, -0.3, 0.8, 0.1])
    counts = rng.poisson(np.exp(X @ true_w)).astype(float)

    gradient = srcad.grad(neg_log_likelihood, mode="source")
    hvp = srcad.hvp(neg_log_likelihood)
    w0 = np.zeros(4)
    assert srcad.gradcheck(neg_log_likelihood, (w0, X, counts), mode="source")
    v, eps = rng.normal(size=4), 1e-6
    by_differences = (gradient(w0 + eps * v, X, counts) - gradient(w0 - eps * v, X, counts)) / \
        (2 * eps)
    np.testing.assert_allclose(hvp(w0, X, counts, v), by_differences, rtol=1e-6)
    print("gradient check: ok; Hessian-vector product check: ok")

    result = scipy.optimize.minimize(
        neg_log_likelihood, w0, args=(X, counts), method="trust-ncg", jac=gradient,
        hessp=lambda w, p, X, counts: hvp(w, X, counts, p))
    print(f"converged: {result.success} in {result.nit} Newton steps; "
          f"w = {np.array2string(result.x, precision=3)} (true {true_w})")


if __name__ == "__main__":
    main()
