"""torch's functions and tensor methods the tape writes with NumPy's (tril, roll, kron, cross,
hypot, fmod, sinc, logit, lerp, dist, addcmul, addcdiv, einsum, tensordot, take_along_dim: an
attack found them missing): gradients against central differences, and values and gradients
against torch where it is installed."""

import numpy as np
import pytest

import srcad

from .numeric import numerical_grad

CASES = {
    "tril": lambda T, a, b: a.tril(-1).sum() + T.tril(a, 1).sum() * 2 + (a.triu(1) * b).sum(),
    "diag": lambda T, a, b: (T.diag(a) ** 2).sum() + T.diag(a[0], 1).sum(),
    "roll": lambda T, a, b: (a.roll(1, 0) * b).sum() + (T.roll(a, (1, 2), (0, 1)) * b).sum(),
    "kron": lambda T, a, b: (T.kron(a, b) ** 2).sum(),
    "cross": lambda T, a, b: (T.cross(a, b, dim=0) * b).sum() + (a.cross(b, dim=1) ** 2).sum(),
    "hypot_fmod_sinc": lambda T, a, b: (T.hypot(a, b) + T.fmod(a * 5, b) + T.sinc(a)).sum(),
    "logit": lambda T, a, b: T.logit(a).sum() + a.logit(eps=0.3).sum(),
    "lerp": lambda T, a, b: (T.lerp(a, b, b) ** 2).sum() + (a.lerp(b, 0.3) ** 2).sum(),
    "dist": lambda T, a, b: T.dist(a, b) + a.dist(b, 1) + T.dist(a, b * b, 3),
    "addcmul_addcdiv": lambda T, a, b: (T.addcmul(a, b, a, value=0.5) ** 2).sum() +
    (T.addcdiv(a, b, a, value=2) ** 2).sum(),
    "einsum": lambda T, a, b: T.einsum("ij,jk->ik", a, b).sum() + T.einsum("ij,ij->", [a, b]),
    "einsum_broadcasting": lambda T, a, b: T.einsum("ij,ij->", a[:, :1], b) +  # (length 1 of
    (T.einsum("ij,jk->ik", a[:, :1], b[:1]) ** 2).sum(),  # an index: its backward raised)
    "tensordot": lambda T, a, b: (T.tensordot(a, b, dims=1) ** 2).sum() + T.tensordot(a, b),
    "take_along_dim": lambda T, a, b: (T.take_along_dim(a, T.tensor([[0, 2, 1]]), dim=0) ** 2)
    .sum() + T.take_along_dim(a, T.tensor([4, 0])).sum() + a.take_along_dim(T.tensor([[1], [0],
                                                                                [2]]), -1).sum(),
}


def _run(T, fn, a, b):
    ta, tb = (T.tensor(v, requires_grad=True) for v in (a, b))
    y = fn(T, ta, tb)
    y.backward()
    return float(y.detach()), [np.zeros((3, 3)) if t.grad is None else t.grad.numpy()
                               for t in (ta, tb)]


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_central_differences(name, rng):
    a, b = rng.uniform(0.2, 0.8, (3, 3)), rng.uniform(0.2, 0.8, (3, 3))
    fn = CASES[name]
    value, grads = _run(srcad, fn, a, b)

    def plain(a, b):
        with srcad.no_grad():
            return float(fn(srcad, srcad.tensor(a), srcad.tensor(b)))
    assert value == pytest.approx(plain(a, b), rel=1e-14)
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(grad, numerical_grad(plain, (a, b), i), rtol=1e-6,
                                   atol=1e-8)


def test_a_tuple_of_shifts_needs_dims_as_torch_s():
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        srcad.roll(srcad.arange(5.0), (1, 2))


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_are_torch_s(name, rng):
    torch = pytest.importorskip("torch")
    a, b = rng.uniform(0.2, 0.8, (3, 3)), rng.uniform(0.2, 0.8, (3, 3))
    value, grads = _run(srcad, CASES[name], a, b)
    torch_value, torch_grads = _run(torch, CASES[name], a, b)
    assert value == pytest.approx(torch_value, rel=1e-12)
    for grad, expected in zip(grads, torch_grads, strict=True):
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-14)
