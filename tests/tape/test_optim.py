"""optim.SGD: a linear model trained the PyTorch way, momentum and zero_grad."""

import numpy as np
import pytest

from srcad.tape import optim, tensor


def test_linear_model_loss_goes_down():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(100, 3))
    targets = inputs @ np.array([1.5, -2.0, 0.5]) + 0.3
    w = tensor(np.zeros(3), requires_grad=True)
    b = tensor(0.0, requires_grad=True)
    optimizer = optim.SGD([w, b], lr=0.1)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = ((inputs @ w + b - targets) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w.detach().numpy(), [1.5, -2.0, 0.5], atol=0.02)
    assert w.is_leaf and w.requires_grad


def test_momentum_follows_torch_formula():
    p = tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    (p * 2).sum().backward()
    optimizer.step()  # v = 2, p = 1 - 0.2
    optimizer.step()  # v = 0.9 * 2 + 2 (grad not cleared), p = 0.8 - 0.38
    np.testing.assert_allclose(p.tolist(), [0.42])


def test_zero_grad_and_params_without_grad():
    p, q = tensor([1.0], requires_grad=True), tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([p, q], lr=1.0)
    (p * 3).sum().backward()
    optimizer.step()
    assert p.tolist() == [-2.0] and q.tolist() == [1.0]
    optimizer.zero_grad(set_to_none=False)
    assert p.grad.tolist() == [0.0] and q.grad is None
    optimizer.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1.0)
