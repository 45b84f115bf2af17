"""A small neural-network classifier whose parameters are a dict, trained by gradient
descent: srcad.grad returns a dict of gradients with the same keys, from compiled code."""

import numpy as np

import srcad


def loss(params, X, labels):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    logits = hidden @ params["W2"] + params["b2"]
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_p = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(log_p * labels, axis=1))


def accuracy(params, X, y):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    return np.mean(np.argmax(hidden @ params["W2"] + params["b2"], axis=1) == y)


def main():
    rng = np.random.default_rng(2)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = rng.integers(0, 3, 300)
    X = centers[y] + 0.7 * rng.normal(size=(300, 2))
    labels = np.eye(3)[y]
    params = {"W1": 0.5 * rng.normal(size=(2, 16)), "b1": np.zeros(16),
              "W2": 0.5 * rng.normal(size=(16, 3)), "b2": np.zeros(3)}
    assert srcad.gradcheck(loss, (params, X, labels), mode="source")
    print("gradient check: ok")
    grad = srcad.grad(loss, mode="source")
    for step in range(200):
        g = grad(params, X, labels)
        params = {name: value - 0.5 * g[name] for name, value in params.items()}
    print(f"loss {loss(params, X, labels):.3f}, training accuracy "
          f"{accuracy(params, X, y):.2f}")


if __name__ == "__main__":
    main()
