"""backward(): the examples from PyTorch's tutorials, accumulation, retain_graph, no_grad,
detach, errors, and graphs deeper than Python's recursion limit."""

import numpy as np
import pytest

from srcad.tape import enable_grad, is_grad_enabled, no_grad, tensor
from srcad.tape.engine import sum_to_shape


def test_vector_jacobian_product_of_a_polynomial():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = tensor([3.0, 4.0], requires_grad=True)
    z = tensor([5.0, 6.0], requires_grad=True)
    e = 2 * x**4 - y**3 + 3 * z**2
    e.backward(tensor([1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.array([1.0, 2.0]) ** 3)
    np.testing.assert_allclose(y.grad.numpy(), -3 * np.array([3.0, 4.0]) ** 2)
    np.testing.assert_allclose(z.grad.numpy(), 6 * np.array([5.0, 6.0]))


def test_tutorial_function_with_numpy_functions_on_tensors():
    x1 = tensor(1.5, requires_grad=True)
    x2 = tensor(0.5, requires_grad=True)
    c = tensor(1.0, requires_grad=True)
    f = (np.sin(x2) + c) / (x2 + np.exp(x1)) + x1 * x2
    f.backward()
    assert [round(t.grad.item(), 4) for t in (x1, x2, c)] == [0.2328, 1.6165, 0.2007]


def test_square_of_a_scalar():
    theta = tensor(1.0, requires_grad=True)
    (theta * theta).backward()
    assert theta.grad.item() == 2.0


def test_gradients_accumulate_until_cleared():
    x = tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad is first and x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_non_scalar_output_needs_a_gradient():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(tensor([1.0, 1.0, 1.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor(1.0).backward()


def test_second_backward_needs_retain_graph():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()
    z = (x * x).sum()
    x.grad = None
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_graph_of_linear_ops_survives_a_second_backward_as_in_torch():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_retained_grad_of_a_non_leaf_accumulates():
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    z = h.sum()
    z.backward(retain_graph=True)
    z.backward()
    assert h.grad.tolist() == [2.0, 2.0] and x.grad.tolist() == [4.0, 8.0]


def test_backward_of_a_leaf():
    x = tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_no_grad_and_enable_grad():
    x = tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = x * 2
        assert not is_grad_enabled()
        with enable_grad():
            assert (x * 2).requires_grad
    assert not y.requires_grad and y.grad_fn is None and is_grad_enabled()

    @no_grad()
    def doubled(t):
        return t * 2

    @no_grad
    def tripled(t):
        return t * 3

    assert not doubled(x).requires_grad and not tripled(x).requires_grad and is_grad_enabled()


def test_detached_values_are_constants():
    x = tensor(2.0, requires_grad=True)
    y = x * x
    z = y.detach() * x  # d/dx = y = 4, not 3 x^2
    z.backward()
    assert x.grad.item() == 4.0


def test_broadcast_gradients_are_summed_to_the_input_shape():
    w = tensor(np.ones((2, 3)), requires_grad=True)
    b = tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = tensor(2.0, requires_grad=True)
    ((w * s + b) ** 2).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), 2 * 2 * (2.0 + np.array([1.0, 2.0, 3.0])))
    np.testing.assert_allclose(s.grad.item(), np.sum(2 * (2.0 + np.array([1.0, 2.0, 3.0])) * 2))
    assert sum_to_shape(np.ones((4, 2, 3)), (2, 1)).tolist() == [[12.0], [12.0]]


def test_a_value_used_twice_gets_both_contributions():
    x = tensor(3.0, requires_grad=True)
    a = x * 2
    (a * a + a).backward()  # d/dx (4x^2 + 2x) = 8x + 2
    assert x.grad.item() == 26.0


def test_graph_deeper_than_the_recursion_limit():
    x = tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**5000)


def test_reading_every_element_accumulates_into_one_gradient():
    x = tensor(np.arange(200.0), requires_grad=True)
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] * x[i] + x[i]
    s.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.arange(200.0) + 1)
