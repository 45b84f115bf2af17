"""Second derivatives on the tape through every differentiable primitive of srcad.rules: the
Hessian-vector product the tape records (backward(create_graph=True), then differentiated)
against central differences of the tape's gradient, for each case of tests/rule_cases.py
wrapped in sin() so that a linear primitive is differentiated twice too."""

import numpy as np
import pytest
import scipy.linalg

import srcad
from srcad import rules
from srcad.tape import run
from tests.rule_cases import make_args, rule_cases, short_name, write_module

CASES = [case for case in rule_cases() if case[1] is not None and
         rules.REGISTRY[case[0]].section != rules.HELPERS]


# first derivatives only (their adjoint kernels have no derivative in the matrix): the tape
# refuses the second by name, as the source transform does
FIRST_ORDER = {"matrix_power": "a", "pinv": "a", "singular_values": "a", "lstsq_solution": "a",
               "qr_q": "a", "qr_r": "a"}  # (the arguments refused)


def _fd_hvp(fn, args, index, v, eps=1e-6):
    def grad_at(shift):
        moved = list(args)
        moved[index] = args[index] + shift * v
        return np.asarray(run.value_and_grad(fn, tuple(moved), (index,))[1][0], float)
    return (grad_at(eps) - grad_at(-eps)) / (2 * eps)


@pytest.mark.parametrize(("key", "expr", "shapes"), CASES,
                         ids=[f"{short_name(k)}:{e}:{s}" for k, e, s in CASES])
def test_hvp_on_the_tape_matches_differences_of_its_gradient(key, expr, shapes, tmp_path):
    args = make_args(key, expr, shapes, seed=5)
    fn = write_module(tmp_path, expr, shapes, curved=True)
    rng = np.random.default_rng(6)
    for index, name in enumerate(shapes):
        if name not in rules.REGISTRY[key].partials:
            continue
        v = rng.uniform(-1, 1, np.shape(args[index]))
        v = float(v) if np.ndim(args[index]) == 0 else v
        if name in FIRST_ORDER.get(short_name(key), ""):
            with pytest.raises(TypeError, match="no second derivative through"):
                run.hvp(fn, tuple(args), index, v)
            continue
        product = run.hvp(fn, tuple(args), index, v)
        np.testing.assert_allclose(product, _fd_hvp(fn, args, index, v), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{expr} along {name}")


def _fd_hessian_product(fn, x, v, eps=1e-6):
    grad = srcad.grad(fn, mode="tape")
    return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)


@pytest.mark.parametrize("fn", [
    lambda x: np.sum(np.kron(x, x) ** 2),  # (a product of two linear arguments: cross terms)
    lambda x: np.sum(np.tensordot(x, np.sin(x), axes=1) ** 2),
    lambda x: np.sum(np.sort(x * x[::-1], axis=0) ** 3),
    lambda x: np.trapezoid(x[0] ** 2, np.cumsum(x[1] ** 2)),
    lambda x: np.sum(np.pad(x, 1, constant_values=x[0, 0]) ** 3),
    lambda x: np.sum(np.linalg.cholesky(x @ x.T + np.eye(3)) ** 3),
    lambda x: np.sum(scipy.linalg.solve_triangular(x + 3.0 * np.eye(3), np.sin(x), trans=2,
                                                   unit_diagonal=True) ** 2),
    lambda x: np.sum(scipy.linalg.solve_triangular(x + 3.0 * np.eye(3), x[0], lower=True) ** 2),
    lambda x: np.sum(np.linalg.eigh(x + x.T)[0] ** 3) + np.sum(np.linalg.eigh(x @ x.T)[1][0]),
    lambda x: np.sum(scipy.linalg.cho_solve((np.linalg.cholesky(x @ x.T + np.eye(3)), True),
                                            x[0]) ** 2),
    lambda x: np.sum(scipy.linalg.cho_solve((scipy.linalg.cholesky(x @ x.T + np.eye(3)), False),
                                            np.sin(x[1])) ** 2),
], ids=["kron", "tensordot", "sort", "trapezoid", "pad", "cholesky", "solve_triangular_unit",
        "solve_triangular_lower", "eigh", "cho_solve_lower", "cho_solve_upper"])
def test_hessians_through_primitives_entered_twice(fn, rng):
    x = rng.uniform(0.5, 1.5, (3, 3))
    v = rng.uniform(-1, 1, (3, 3))
    product = run.hvp(fn, (x,), 0, v)
    np.testing.assert_allclose(product, _fd_hessian_product(fn, x, v), rtol=1e-5, atol=1e-6)


def test_third_derivative_through_a_sort_on_the_tape(rng):
    """grad of grad of grad: the transposed partial's own derivative is recorded too."""
    x = rng.uniform(-1, 1, 4)
    t = srcad.tensor(x, requires_grad=True)
    y = (np.sort(t) ** 4 * np.arange(1.0, 5.0)).sum()
    (g,) = srcad.autograd.grad(y, t, create_graph=True)
    (h,) = srcad.autograd.grad(g.sum(), t, create_graph=True)
    (third,) = srcad.autograd.grad(h.sum(), t)
    order = np.argsort(x, kind="stable")
    expected = np.empty(4)
    expected[order] = 24.0 * np.sort(x) * np.arange(1.0, 5.0)
    np.testing.assert_allclose(third.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 1])
def test_third_derivative_through_a_cumprod_on_the_tape(rng, axis):
    """(found by an attack: the second derivative's own kernel had no rule)"""
    x = rng.uniform(-1.5, 1.5, (2, 3))
    w, u, v = (rng.uniform(-1, 1, s) for s in ((6,) if axis is None else (2, 3), (2, 3), (2, 3)))

    def along_u_and_v(x, third=False):
        t = srcad.tensor(x, requires_grad=True)
        (g,) = srcad.autograd.grad((np.cumprod(t, axis) * w).sum(), t, create_graph=True)
        (h,) = srcad.autograd.grad((g * u).sum(), t, create_graph=third)
        return srcad.autograd.grad((h * v).sum(), t)[0].numpy() if third else \
            float((h * v).sum())

    eps = 1e-5
    expected = np.empty(x.shape)
    for i in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[i] = eps
        expected[i] = (along_u_and_v(x + step) - along_u_and_v(x - step)) / (2 * eps)
    np.testing.assert_allclose(along_u_and_v(x, third=True), expected, rtol=1e-6, atol=1e-8)


def test_eigenvectors_at_a_repeated_eigenvalue_have_no_second_derivative_on_the_tape():
    t = srcad.tensor(np.diag([1.0, 1.0, 2.0]), requires_grad=True)
    y = (np.linalg.eigh(t)[1][:, 2] ** 2 * np.array([1.0, 2.0, 3.0])).sum()
    with pytest.raises(TypeError, match="no second derivative.*repeated eigenvalue"):
        srcad.autograd.grad(y, t, create_graph=True)
    (g,) = srcad.autograd.grad(y, t)  # (the first derivative exists: a function of one vector)
    np.testing.assert_allclose(g.numpy(), 0.0, atol=1e-12)
