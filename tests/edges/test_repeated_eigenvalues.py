"""Derivatives through np.linalg.eigh where an eigenvalue is repeated: LAPACK's basis of its
eigenspace is arbitrary, so a function of that basis has no derivative (inf), while a function
of the other eigenvectors or of the eigenspace itself does, to every order (found by an
attack: the Hessian of a simple eigenvector's function was wrong by 5% and not symmetric, the
rotation within the repeated eigenspace divided by a gap of 4e-16)."""

import numpy as np
import pytest

import srcad


def top_eigenvector(x):  # eigenvalue 2 twice, the largest once
    w, V = np.linalg.eigh(np.outer(x, x) + 2.0 * np.eye(x.shape[0]))
    return np.sum(V[:, -1] ** 4)


def repeated_eigenspace(x, C):  # its projector I - x x^T / |x|^2, whatever basis LAPACK gives
    w, V = np.linalg.eigh(np.outer(x, x) + 2.0 * np.eye(x.shape[0]))
    P = np.dot(V[:, :-1], V[:, :-1].T)
    return np.sum(P * C)


def one_of_the_repeated_eigenvectors(x):
    w, V = np.linalg.eigh(np.outer(x, x) + 2.0 * np.eye(x.shape[0]))
    return np.sum(V[:, 0])


def _fd_of_gradient(g, x, eps=1e-5):
    return np.array([(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(x.size)])


@pytest.mark.parametrize("jit", [True, False])
def test_second_derivatives_of_a_simple_eigenvector(jit):
    rng = np.random.default_rng(3)
    for n in (3, 4):
        x = rng.uniform(-1.0, 1.0, n)
        H = srcad.hessian(top_eigenvector, jit=jit)(x)
        np.testing.assert_allclose(H, H.T, atol=1e-12)
        expected = _fd_of_gradient(srcad.grad(top_eigenvector, jit=jit), x)
        np.testing.assert_allclose(H, expected, rtol=1e-5, atol=1e-7)
        v = rng.standard_normal(n)
        np.testing.assert_allclose(srcad.hvp(top_eigenvector, jit=jit)(x, v), H @ v,
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("jit", [True, False])
def test_a_function_of_the_repeated_eigenspace(jit):
    rng = np.random.default_rng(4)
    x, C = rng.uniform(-1.0, 1.0, 3), rng.standard_normal((3, 3))
    got = srcad.grad(repeated_eigenspace, jit=jit)(x, C)
    # P = I - x x^T / s, s = |x|^2: dP/dx_k = -(e_k x^T + x e_k^T) / s + 2 x_k x x^T / s^2
    s = x @ x
    expected = -(C @ x + C.T @ x) / s + 2.0 * x * (x @ C @ x) / s ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    H = srcad.hessian(repeated_eigenspace, jit=jit)(x, C)
    np.testing.assert_allclose(H, _fd_of_gradient(
        lambda y: srcad.grad(repeated_eigenspace, jit=jit)(y, C), x), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("jit", [True, False])
def test_a_function_of_the_basis_has_no_derivative(jit):
    x = np.array([0.3, -0.5, 0.9])
    assert not np.all(np.isfinite(srcad.grad(one_of_the_repeated_eigenvectors, jit=jit)(x)))
