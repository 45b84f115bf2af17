"""has_aux=True: the function returns (value, aux); aux is passed through as in JAX. Any
other tuple return is an error naming the return statement."""

import numpy as np
import pytest

import srcad
from srcad.errors import UserCodeError
from tests.structured_helpers import (assert_tree_close, compiled, mode,  # noqa: F401
                                      numeric_grad, options)


def with_stats(x, a):
    h = np.tanh(x * a)
    loss = np.sum(h ** 2)
    return loss, (h, np.mean(h), 3)


def loss_only(x, a):
    return with_stats(x, a)[0]


def test_grad_value_and_grad_vjp(mode, rng):
    x, a = rng.standard_normal(4), 0.7
    expected_aux = with_stats(x, a)[1]
    g = srcad.grad(with_stats, wrt=(0, 1), has_aux=True, **options(mode))
    (gx, ga), aux = (compiled(g) if mode[0] == "auto" else g)(x, a)
    assert_tree_close((gx, ga), (numeric_grad(loss_only, (x, a), 0),
                                 numeric_grad(loss_only, (x, a), 1)))
    assert_tree_close(aux, expected_aux, rtol=1e-14)
    assert isinstance(aux[1], float) and aux[2] == 3 and isinstance(aux[2], int)

    (value, aux), gx = srcad.value_and_grad(with_stats, has_aux=True, **options(mode))(x, a)
    assert value == pytest.approx(loss_only(x, a), rel=1e-14)
    assert_tree_close(aux, expected_aux, rtol=1e-14)

    value, pullback, aux = srcad.vjp(with_stats, x, a, has_aux=True, **options(mode))
    assert_tree_close(aux, expected_aux, rtol=1e-14)
    assert_tree_close(pullback(2.0), 2.0 * numeric_grad(loss_only, (x, a), 0))


def early_return(x):
    if x[0] > 0:
        return np.sum(x ** 2), x[0]
    y = np.sin(x)
    return np.sum(y), -1.0


def test_several_returns(mode, rng):
    for x in (np.abs(rng.standard_normal(3)), -np.abs(rng.standard_normal(3))):
        g, aux = srcad.grad(early_return, has_aux=True, **options(mode))(x)
        assert aux == early_return(x)[1]
        assert_tree_close(g, numeric_grad(lambda x: early_return(x)[0], (x,), 0))


def overwritten_in_a_loop(x):
    y = restored_output(x)  # (inlined: its writes into y are the caller's)
    return np.sum(np.sin(y)), y


def test_aux_holds_the_final_values_of_arrays_the_reverse_sweep_restores(mode, rng):
    x = rng.standard_normal(3)
    g, aux = srcad.grad(overwritten_in_a_loop, has_aux=True, **options(mode))(x)
    np.testing.assert_allclose(aux, overwritten_in_a_loop(x)[1], rtol=1e-14)
    assert_tree_close(g, numeric_grad(lambda x: overwritten_in_a_loop(x)[0], (x,), 0))


def returns_pair(a, b):
    return a * b, a + b


def returns_tuple_variable(a, b):
    t = (a * b, a + b)
    return t


def returns_three(a, b):
    return a * b, a, b


@pytest.mark.parametrize("name", ["source", "auto"])
def test_a_tuple_return_without_has_aux_names_the_return(name):
    line = returns_pair.__code__.co_firstlineno + 1
    with pytest.raises(TypeError, match=rf"test_aux.py:{line}: returns_pair returns a tuple.*"
                                        "has_aux=True"):
        srcad.grad(returns_pair, mode=name)(1.0, 2.0)
    line = returns_tuple_variable.__code__.co_firstlineno + 2
    with pytest.raises(UserCodeError, match=rf"test_aux.py:{line}: returns_tuple_variable "
                                            r"returns a tuple \(\(float, float\)\)"):
        srcad.grad(returns_tuple_variable, mode=name)(1.0, 2.0)


def test_a_tuple_return_on_the_tape_says_has_aux():
    with pytest.raises(TypeError, match="returned a tuple.*has_aux=True"):
        srcad.grad(returns_pair, mode="tape")(1.0, 2.0)


def test_has_aux_needs_a_pair(mode):
    with pytest.raises(TypeError, match="must return a pair"):
        srcad.grad(returns_three, has_aux=True, **options(mode))(1.0, 2.0)


def restored_output(x):
    y = np.zeros(3)
    total = 0.0
    for i in range(3):
        y[i] = x[i] * x[i]
        total = total + np.sin(y[i])
        y[i] = total
    return y


def test_vjp_value_of_an_array_the_reverse_sweep_restores(mode, rng):
    # (regression: the value was read after the reverse sweep had restored y's elements)
    x = rng.standard_normal(3)
    value, pullback = srcad.vjp(restored_output, x, **options(mode))
    np.testing.assert_allclose(value, restored_output(x), rtol=1e-14)
    ct = rng.standard_normal(3)
    assert_tree_close(pullback(ct), numeric_grad(lambda x: restored_output(x) @ ct, (x,), 0))
