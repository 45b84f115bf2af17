"""np.einsum with constant subscripts (implicit output too), lowered to a kernel of srcad.kernels.einsum (a loop nest
per subscripts when compiled); its numbers are walked with every rule (tests/rule_cases.py)."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check


@pytest.mark.parametrize("subscripts,what", [("iij->j", "repeats an index"),
                                             ("...i->i", "'...' are not supported")])
def test_einsum_forms_srcad_cannot_compile_are_refused_by_name(make_module, subscripts, what):
    module = make_module("einsum_forms", f"""
        import numpy as np

        def f(A):
            return np.sum(np.einsum("{subscripts}", A{', A' if ',' in subscripts else ''}))
    """)
    with pytest.raises(srcad.UnsupportedError, match=what):
        srcad.grad(module.f, mode="source")(np.ones((3, 3, 3) if "iij" in subscripts else (3, 3)))


def traces_and_diagonals(w, v):
    return np.einsum("ii", w @ w.T) + np.sum(np.einsum("ii->i", w) ** 2) + \
        np.einsum("ii,i->", w, v) + np.sum(np.einsum("jj,k->k", w, w[0]) ** 2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_matrix_term_of_one_label_twice_is_its_diagonal(mode, jit, rng):
    """(a helper's probe: np.einsum('ii', a), the trace, was refused in every engine)"""
    args = (rng.normal(size=(3, 3)), rng.normal(size=3))
    value, grads = srcad.value_and_grad(traces_and_diagonals, wrt=(0, 1), mode=mode,
                                        jit=jit)(*args)
    assert value == pytest.approx(traces_and_diagonals(*args), rel=1e-12)
    check.compare(traces_and_diagonals, args, [0, 1], grads)
    if mode == "source":
        tangents = (rng.normal(size=(3, 3)), rng.normal(size=3))
        assert srcad.jvp(traces_and_diagonals, args, tangents, jit=jit)[1] == \
            pytest.approx(check.along(traces_and_diagonals, list(args), list(tangents)), rel=1e-6)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_one_label_twice_on_a_matrix_that_is_not_square_is_numpy_s_error(mode, jit, rng):
    """(found by an attack: the diagonal of the shorter side was taken, where NumPy raises)"""
    w = rng.normal(size=(2, 3))
    with pytest.raises(ValueError, match="collapsing index"):
        np.einsum("ii->i", w)
    with pytest.raises(ValueError, match="collapsing index"):
        srcad.value_and_grad(traces_and_diagonals, mode=mode, jit=jit)(w, rng.normal(size=2))


def contractions(A, B, v):
    M = np.einsum("ij,jk", A, B)  # (implicit: "ij,jk->ik")
    return np.einsum("ik,ik->", M, M) + np.sum(np.einsum("ij,j->i", A, v) ** 3) + \
        np.einsum("ij,j,ij->", A, v, A)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_chained_contractions_match_finite_differences(mode, jit, rng):
    args = (rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=4))
    grads = srcad.grad(contractions, wrt=(0, 1, 2), mode=mode, jit=jit)(*args)
    check.compare(contractions, args, [0, 1, 2], grads)


@pytest.mark.parametrize("subscripts", ["ij->ji", "ij->ij", "ij"])
@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_write_into_a_one_operand_permutation_reaches_the_operand(subscripts, mode, rng):
    """np.einsum of one operand that only permutes its axes returns a view, as np.transpose
    does: a write into it changes the operand (the tape's einsum made a new array)."""
    def f(A):
        z = np.einsum(subscripts, A)
        z[0, 1] = 1.0
        return np.sum(z * A * A)

    A = rng.uniform(0.5, 0.9, (3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)  # (the source refuses the view)
        value, grad = srcad.value_and_grad(f, mode=mode)(A)
    assert value == pytest.approx(f(A.copy()), rel=1e-12)
    check.compare(f, [A], [0], [grad])


def test_second_derivatives_through_einsum_on_the_tape(rng):
    """The tape's einsum vjp is itself recorded (create_graph): an hvp on the tape."""
    def f(A, B):
        return np.sum(np.sin(np.einsum("ij,jk->ik", A, B)) ** 2) + np.einsum("ij->", A) ** 2

    A, B, v = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(3, 4))
    from srcad.tape import run
    product = run.hvp(f, (A, B), 0, v)
    g = srcad.grad(f, mode="tape")
    eps = 1e-6
    np.testing.assert_allclose(product, (g(A + eps * v, B) - g(A - eps * v, B)) / (2 * eps),
                               rtol=1e-5, atol=1e-7)


def broadcast_products(x, c):
    a, b = x[:3].reshape(3, 1), x[3:6].reshape(1, 3)
    return np.sum(np.einsum("ij,ij->ij", a, b) ** 2) + np.sum(np.einsum("ij,jk->ik", a, c) ** 2) \
        + np.einsum("ij,ij->", b, c[:1])


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_an_index_of_length_1_in_one_operand_broadcasts_in_every_transform(mode, jit, rng):
    """(found by attacks: compiled, such an einsum raised 'index has two lengths' in grad, jvp,
    jacobian and hessian, where NumPy broadcasts; the compiled loop nest now does)"""
    x, c = rng.normal(size=6), rng.normal(size=(1, 3))
    value, grads = srcad.value_and_grad(broadcast_products, wrt=(0, 1), mode=mode, jit=jit)(x, c)
    assert value == pytest.approx(broadcast_products(x, c), rel=1e-12)
    check.compare(broadcast_products, [x, c], [0, 1], grads)
    if mode == "source":
        dx = rng.normal(size=6)
        assert srcad.jvp(broadcast_products, (x, c), (dx, 0 * c), jit=jit)[1] == pytest.approx(
            check.along(broadcast_products, [x, c], [dx, 0 * c]), rel=1e-6)
        eps, h = 1e-5, srcad.hessian(broadcast_products, jit=jit)(x, c)
        g = srcad.grad(broadcast_products, jit=jit)
        np.testing.assert_allclose(h @ dx, (g(x + eps * dx, c) - g(x - eps * dx, c)) / (2 * eps),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="broadcast"):
        srcad.grad(broadcast_products, mode=mode, jit=jit)(x, rng.normal(size=(1, 4)))
