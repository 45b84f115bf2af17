"""The posterior mode of a Bayesian model of counts: a negative-binomial likelihood (written
with scipy.special.gammaln) with a log-normal prior on its mean and dispersion, maximised with
L-BFGS on srcad's compiled gradient."""

import numpy as np
import scipy.optimize
from scipy.special import gammaln

import srcad


def negative_log_posterior(log_params, counts):
    mean, dispersion = np.exp(log_params[0]), np.exp(log_params[1])
    p = dispersion / (dispersion + mean)
    log_likelihood = np.sum(gammaln(counts + dispersion) - gammaln(dispersion) -
                            gammaln(counts + 1.0) + dispersion * np.log(p) +
                            counts * np.log(1.0 - p))
    log_prior = -0.5 * np.sum(log_params ** 2) / 4.0
    return -(log_likelihood + log_prior)


def main():
    rng = np.random.default_rng(3)
    counts = rng.negative_binomial(n=3.0, p=3.0 / (3.0 + 7.0), size=500).astype(float)
    start = np.array([0.0, 0.0])
    assert srcad.gradcheck(negative_log_posterior, (start, counts), mode="source")
    print("gradient check: ok")
    objective = srcad.value_and_grad(negative_log_posterior, mode="source")
    fit = scipy.optimize.minimize(objective, start, args=(counts,), jac=True,
                                  method="L-BFGS-B")
    mean, dispersion = np.exp(fit.x)
    print(f"posterior mode: mean {mean:.2f} (true 7.00), dispersion {dispersion:.2f} "
          f"(true 3.00)")


if __name__ == "__main__":
    main()
