"""A 2-hidden-layer tanh MLP's mean squared error on a batch, written with np.dot,
differentiated w.r.t. every weight and bias."""

import numba
import numpy as np

NAME = "mlp"
DESCRIPTION = "2-hidden-layer tanh MLP, mean squared error on a batch (np.dot, np.tanh)"
# (batch, inputs, hidden, outputs)
SIZES = {"quick": [(256, 32, 64, 8)], "full": [(256, 32, 64, 8), (2048, 64, 256, 10)],
         "test": [(5, 3, 4, 2)]}
WRT = (0, 1, 2, 3, 4, 5)


def make_inputs(size):
    batch, inputs, hidden, outputs = size
    rng = np.random.default_rng(5)

    def layer(fan_in, fan_out):
        return (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in),
                0.1 * rng.standard_normal(fan_out))

    W1, b1 = layer(inputs, hidden)
    W2, b2 = layer(hidden, hidden)
    W3, b3 = layer(hidden, outputs)
    X = rng.standard_normal((batch, inputs))
    Y = rng.standard_normal((batch, outputs))
    return W1, b1, W2, b2, W3, b3, X, Y


def f(W1, b1, W2, b2, W3, b3, X, Y):
    h1 = np.tanh(np.dot(X, W1) + b1)
    h2 = np.tanh(np.dot(h1, W2) + b2)
    err = np.dot(h2, W3) + b3 - Y
    return 0.5 * np.sum(err * err) / X.shape[0]


@numba.njit(cache=True)
def hand_adjoint(W1, b1, W2, b2, W3, b3, X, Y):
    # Forward: three gemms; the bias and tanh of a layer are fused into one loop over the
    # gemm's output in place, so h1 and h2 are the only saved values (tanh' = 1 - h^2).
    # Reverse: per layer one loop turns the incoming adjoint into the pre-activation's
    # (times 1 - h^2) while summing the bias gradient, then two gemms: dW = h_prev^T bz and
    # the adjoint passed down, bz W^T (skipped for the input layer: X is data).
    n = X.shape[0]
    h1 = np.dot(X, W1)
    _bias_tanh(h1, b1)
    h2 = np.dot(h1, W2)
    _bias_tanh(h2, b2)
    err = np.dot(h2, W3)
    loss = 0.0
    scale = 1.0 / n
    for i in range(n):
        for j in range(err.shape[1]):
            e = err[i, j] + b3[j] - Y[i, j]
            loss += e * e
            err[i, j] = e * scale  # from here on: the adjoint of the output
    db3 = np.sum(err, axis=0)
    dW3 = np.dot(h2.T, err)
    bz2 = np.dot(err, W3.T)
    db2 = _through_tanh(bz2, h2)
    dW2 = np.dot(h1.T, bz2)
    bz1 = np.dot(bz2, W2.T)
    db1 = _through_tanh(bz1, h1)
    dW1 = np.dot(X.T, bz1)
    return 0.5 * loss * scale, (dW1, db1, dW2, db2, dW3, db3)


@numba.njit(cache=True)
def _bias_tanh(z, b):
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = np.tanh(z[i, j] + b[j])


@numba.njit(cache=True)
def _through_tanh(bh, h):
    # bh (the adjoint of h = tanh(z)) becomes the adjoint of z in place; returns its column
    # sums, the gradient of the bias added to z
    db = np.zeros(bh.shape[1])
    for i in range(bh.shape[0]):
        for j in range(bh.shape[1]):
            v = bh[i, j] * (1.0 - h[i, j] * h[i, j])
            bh[i, j] = v
            db[j] += v
    return db


# ---- peers ----

def _loss(np_, dot):
    def loss(W1, b1, W2, b2, W3, b3, X, Y):
        h1 = np_.tanh(dot(X, W1) + b1)
        h2 = np_.tanh(dot(h1, W2) + b2)
        err = dot(h2, W3) + b3 - Y
        return 0.5 * np_.sum(err * err) / X.shape[0]

    return loss


def make_jax(*args):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.grad(_loss(jnp, jnp.dot), argnums=WRT))
    arrays = [jnp.asarray(a) for a in args]
    return lambda: jax.block_until_ready(g(*arrays))


def make_autograd(*args):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(_loss(anp, anp.dot), argnum=WRT)
    return lambda: g(*args)


def make_torch(*args):
    import torch

    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in args]
    loss = _loss(torch, torch.matmul)

    def grad():
        params = [t.detach().requires_grad_(True) for t in tensors[:6]]
        return torch.autograd.grad(loss(*params, *tensors[6:]), params)

    return grad


PEERS = {"jax": make_jax, "autograd": make_autograd, "torch": make_torch}
