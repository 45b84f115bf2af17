"""Logistic regression on more rows than one chunk holds, fitted with L-BFGS, its value and
gradient summed over chunks of rows on a Dask cluster: a LocalCluster of one worker process
per core, or the cluster whose scheduler's address is given,

    python examples/gallery/dask_logistic.py [tcp://scheduler:8786]
"""

import sys

import distributed
import numpy as np
import scipy.optimize

import srcad
import srcad.dask


def loss(w, X, y):
    """The negative log-likelihood: a sum over rows, as srcad.dask needs."""
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z)))


def main(address=None):
    client = None if address is None else distributed.Client(address)
    rng = np.random.default_rng(4)
    n, d = 200_000, 8
    X = np.hstack([rng.normal(size=(n, d - 1)), np.ones((n, 1))])
    w_true = rng.normal(size=d)
    y = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-X @ w_true)), 1.0, -1.0)
    with srcad.dask.value_and_grad(loss, data={"X": X, "y": y}, chunk_rows=25_000,
                                   client=client) as g:
        w0 = np.zeros(d)
        value, grad = g(w0)  # the same as the gradient over all rows at once
        whole = srcad.value_and_grad(loss)(w0, X, y)
        assert np.isclose(value, whole[0]) and np.allclose(grad, whole[1], rtol=1e-10)
        assert srcad.gradcheck(loss, (w0, X[:500], y[:500]), mode="source")
        print("gradient check: ok")
        fit = scipy.optimize.minimize(g, w0, jac=True, method="L-BFGS-B")
    print(f"{n} rows in {int(np.ceil(n / 25_000))} chunks: converged {fit.success} in "
          f"{fit.nit} iterations, largest error in w {np.max(np.abs(fit.x - w_true)):.2f}")
    if client is not None:
        client.close()


if __name__ == "__main__":
    main(*sys.argv[1:2])
