"""Gaussian-process regression: choose the kernel's hyperparameters by maximising the
marginal likelihood, written with NumPy and SciPy as usual (np.linalg.cholesky,
scipy.linalg.solve_triangular), its gradient compiled by srcad."""

import numpy as np
import scipy.linalg
import scipy.optimize

import srcad


def negative_log_marginal_likelihood(log_params, x, y):
    lengthscale, signal, noise = np.exp(log_params[0]), np.exp(log_params[1]), \
        np.exp(log_params[2])
    sq_dist = (x[:, None] - x[None, :]) ** 2
    K = signal * np.exp(-0.5 * sq_dist / lengthscale ** 2) + noise * np.eye(len(x))
    L = np.linalg.cholesky(K)
    alpha = scipy.linalg.solve_triangular(L, y, lower=True)
    return 0.5 * np.sum(alpha ** 2) + np.sum(np.log(np.diag(L))) + \
        0.5 * len(x) * np.log(2.0 * np.pi)


def main():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0.0, 10.0, 40))
    y = np.sin(x) + 0.1 * rng.normal(size=x.size)
    start = np.log(np.array([2.0, 0.5, 0.5]))
    assert srcad.gradcheck(negative_log_marginal_likelihood, (start, x, y), mode="source")
    print("gradient check: ok")
    objective = srcad.value_and_grad(negative_log_marginal_likelihood, mode="source")
    fit = scipy.optimize.minimize(objective, start, args=(x, y), jac=True, method="L-BFGS-B")
    lengthscale, signal, noise = np.exp(fit.x)
    print(f"lengthscale {lengthscale:.2f}, signal variance {signal:.2f}, noise variance "
          f"{noise:.4f}; -log p(y) = {fit.fun:.2f}")


if __name__ == "__main__":
    main()
