"""The same PyTorch-style script, run with torch and with srcad.tape, prints the same numbers."""

import re

import numpy as np
import pytest

import srcad.tape


def pytorch_style_script(torch, print):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0], requires_grad=True)
    z = torch.tensor([5.0, 6.0], requires_grad=True)
    e = 2 * x**4 - y**3 + 3 * z**2
    e.backward(torch.tensor([1.0, 1.0]))
    print("vjp", x.grad, y.grad, z.grad)

    theta = torch.tensor(1.0, requires_grad=True)
    (theta * theta).backward()
    print("theta", theta.grad)

    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    h = (w * w).exp()
    h.retain_grad()
    loss = h.sum() + (w.sin() * w).mean()
    loss.backward(retain_graph=True)
    print("first", loss.item(), w.grad, h.grad)
    loss.backward()
    print("accumulated", w.grad, h.grad)
    w.grad.zero_()
    with torch.no_grad():
        v = w * 2
    print("no_grad", v.requires_grad, w.requires_grad, w.is_leaf)
    (w.detach() * w).sum().backward()
    print("detach", w.grad)
    try:
        loss.backward()
    except RuntimeError:
        print("second backward raised")

    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    t = torch.tensor([1.0, 2.0, 3.0])
    m = torch.tensor([0.0, 0.0], requires_grad=True)
    optimizer = torch.optim.SGD([m], lr=0.01, momentum=0.9)
    for _ in range(20):
        optimizer.zero_grad()
        mse = ((a @ m - t) ** 2).mean()
        mse.backward()
        optimizer.step()
    print("trained", mse.item(), m, m.grad)

    q = torch.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    r = q[0] * q[:, 1] + q.max() + q.clamp(min=0.0).sum() + q.T[1, 0] ** 2
    s = r * 1.0
    s.add_(1)
    s.mul_(q[1])
    s.sum().backward()
    print("indexing and in-place", q.grad)
    try:
        q.add_(1)
    except RuntimeError:
        print("leaf in-place raised")


def run(module):
    lines = []
    pytorch_style_script(module, lambda *args: lines.append(" ".join(map(str, args))))
    return "\n".join(lines)


NUMBER = r"-?\d+\.?\d*(?:e[-+]?\d+)?"


def test_same_printed_gradients_as_torch():
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        expected = run(torch)
    finally:
        torch.set_default_dtype(default)
    printed = run(srcad.tape)
    assert re.sub(NUMBER, "#", printed).split() == re.sub(NUMBER, "#", expected).split()
    np.testing.assert_allclose(
        [float(n) for n in re.findall(NUMBER, printed)],
        [float(n) for n in re.findall(NUMBER, expected)],
        rtol=2e-4,  # both print 4 significant decimals
        atol=1e-4,
    )
