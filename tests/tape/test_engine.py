"""backward(): the examples from PyTorch's tutorials, accumulation, retain_graph, no_grad,
detach, errors, graphs deeper than Python's recursion limit; higher order (create_graph,
autograd.grad) against differences of first derivatives; hooks."""

import numpy as np
import pytest

from srcad.tape import autograd, enable_grad, is_grad_enabled, no_grad, tensor
from srcad.tape.engine import sum_to_shape

from .numeric import numerical_grad


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


def test_a_retained_gradient_accumulates_into_a_new_tensor_a_leafs_in_place():
    # (found by an attack: the earlier .grad object of a retained non-leaf changed too; torch
    # keeps it, as it keeps a create_graph .grad that is itself being differentiated)
    rng = np.random.default_rng(7)
    v = rng.standard_normal(3)
    x = tensor(v, requires_grad=True)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward(retain_graph=True)
    first, leaf_grad = h.grad, x.grad
    (h * 3).sum().backward()
    np.testing.assert_allclose(first.numpy(), 4 * v)
    np.testing.assert_allclose(h.grad.numpy(), 4 * v + 3)
    assert x.grad is leaf_grad and np.allclose(x.grad.numpy(), 8 * v + 6)
    x = tensor(v, requires_grad=True)
    h = x.exp()
    h.retain_grad()
    (h ** 2).sum().backward(create_graph=True)
    hg = h.grad
    hg.sum().backward()
    np.testing.assert_allclose(hg.detach().numpy(), 2 * np.exp(v))
    np.testing.assert_allclose(h.grad.numpy(), 2 * np.exp(v) + 2)


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


# ---- higher order: backward(create_graph=True) and autograd.grad ----


def composite(x):
    """A function using many ops at once, on a tensor or an array."""
    return (np.sin(x) * np.exp(x[::-1]) + (x**3).sum() * x / (1 + x * x)).sum() + np.tanh(x[0])


def gradient_by_tape(x0):
    x = tensor(x0, requires_grad=True)
    composite(x).backward()
    return x.grad.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hessian_by_create_graph_matches_differences_of_the_gradient(seed):
    x0 = np.random.default_rng(seed).uniform(-1, 1, 4)
    x = tensor(x0, requires_grad=True)
    (g,) = autograd.grad(composite(x), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), numerical_grad(composite, [x0], 0), rtol=1e-6)
    rows = [autograd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(4)]
    expected = [numerical_grad(lambda v, i=i: gradient_by_tape(v)[i], [x0], 0) for i in range(4)]
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows, np.transpose(rows), rtol=1e-10, atol=1e-12)


def test_third_derivative_of_a_power():
    x = tensor(1.5, requires_grad=True)
    (d1,) = autograd.grad(x**4, x, create_graph=True)
    (d2,) = autograd.grad(d1, x, create_graph=True)
    (d3,) = autograd.grad(d2, x)
    assert [d.item() for d in (d1, d2, d3)] == pytest.approx([4 * 1.5**3, 12 * 1.5**2, 24 * 1.5])


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = tensor([1.0, 2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn.name() == "CopyBackwards"
    first = x.grad
    x.grad = None
    first.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0] and not x.grad.requires_grad


def test_grad_touches_no_grad_and_takes_non_leaf_inputs():
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor(3.0, requires_grad=True)
    h = x * w
    y = (h**2).sum()
    gh, gw = autograd.grad(y, [h, w], retain_graph=True)
    assert gh.tolist() == [6.0, 12.0] and gw.item() == pytest.approx(2 * 3 * 5)
    assert x.grad is None and w.grad is None
    (gx,) = autograd.grad([y, h.sum()], x, grad_outputs=[tensor(2.0), None])
    assert gx.tolist() == [2 * 18.0 * 1 + 3, 2 * 18.0 * 2 + 3]


def test_grad_of_unused_inputs_and_inputs_without_grad():
    x, unused = tensor([1.0], requires_grad=True), tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="index 1 appears to not have been used"):
        autograd.grad((x * 2).sum(), [x, unused])
    assert autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad((x * 2).sum(), tensor([1.0]))


def test_grad_runs_only_the_part_of_the_graph_it_needs():
    x, w = tensor(2.0, requires_grad=True), tensor(3.0, requires_grad=True)
    y = x * 5 + w.exp()
    y.backward(retain_graph=True)
    frozen = w.exp()
    z = x * 5 + frozen
    frozen.grad_fn.free()  # as if freed by an earlier backward: grad must not run it
    assert autograd.grad(z, x)[0].item() == 5.0


def test_create_graph_through_a_long_loop_and_indexing():
    x0 = np.array([0.3, -0.4, 0.8])
    x = tensor(x0, requires_grad=True)
    s = 0.0
    for i in range(3):
        for j in range(3):
            s = s + x[i] * x[j] ** 2
    (g,) = autograd.grad(s, x, create_graph=True)
    (gg,) = autograd.grad(g.sum(), x)
    total, squares = x0.sum(), (x0**2).sum()  # s = sum(x) * sum(x^2)

    def gradient_sum(v):
        return np.sum(np.sum(v**2) + 2 * v * np.sum(v))

    np.testing.assert_allclose(gg.numpy(), numerical_grad(gradient_sum, [x0], 0), rtol=1e-6)
    np.testing.assert_allclose(g.detach().numpy(), squares + 2 * x0 * total)


# ---- hooks ----


def test_hooks_see_and_replace_gradients():
    x = tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(("leaf", g.tolist())))
    h = x * 3
    handle = h.register_hook(lambda g: g * 10)
    h.register_hook(lambda g: seen.append(("h", g.tolist())))
    h.retain_grad()
    (h * h).sum().backward(retain_graph=True)
    assert seen == [("h", [60.0, 120.0]), ("leaf", [180.0, 360.0])]
    assert x.grad.tolist() == [180.0, 360.0] and h.grad.tolist() == [60.0, 120.0]
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    assert x.grad.tolist() == [18.0, 36.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tensor(1.0).register_hook(print)


def test_hooks_may_change_their_gradient_in_place():
    """(A hook on the result of a sum, whose gradient is a read-only broadcast, raised NumPy's
    "assignment destination is read-only"; the values are torch 2.13's.)"""
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    h2 = h * 3.0
    seen = []
    h.register_hook(lambda g: g.mul_(100))
    h.register_hook(lambda g: seen.append(g.tolist()))
    h2.register_hook(lambda g: g.add_(1))
    (h2 * x).sum().backward()
    assert seen == [[600.0, 900.0]] and x.grad.tolist() == [603.0, 906.0]
    y = tensor([3.0, 4.0], requires_grad=True)
    a = x * 2.0
    a.register_hook(lambda g: g.mul_(100))
    x.grad = None
    (a + y * 2.0).sum().backward()  # (one gradient array for both operands of the sum)
    assert x.grad.tolist() == [200.0, 200.0] and y.grad.tolist() == [2.0, 2.0]


def test_attack_findings_behave_as_torch():
    """Found by comparing scripts with torch 2.13 side by side (the values are torch's)."""
    from srcad.tape import logsumexp

    class Square(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x

    # a tensor a Function saved, changed in place before backward: torch's error (srcad used
    # the changed value: a gradient 10x too large)
    leaf = tensor([1.0, 2.0], requires_grad=True)
    x = leaf * 1
    y = Square.apply(x)
    x.mul_(10)
    with pytest.raises(RuntimeError, match="modified by an inplace operation: saved tensor 0"):
        y.sum().backward()
    # logsumexp of a row of -inf is -inf, not NaN
    z = tensor([[-np.inf, -np.inf], [0.0, 1.0]], requires_grad=True)
    np.testing.assert_allclose(logsumexp(z, 1).detach().numpy(), [-np.inf, np.log1p(np.e)])
    # dim 0 or -1 of a 0-d tensor is its one element
    for reduce in (lambda t: t.sum(0), lambda t: t.mean(-1), lambda t: t.max(0)[0],
                   lambda t: t.min(-1).values, lambda t: t.sum(0, keepdim=True)):
        s = tensor(3.0, requires_grad=True)
        out = reduce(s)
        out.backward()
        assert out.shape == () and out.item() == 3.0 and s.grad.item() == 1.0
    # a view taken under no_grad, written with grad mode on: torch's error (srcad lost the
    # gradient of the elements written)
    x = tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    with no_grad():
        v = y[1:3]
    with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
        v.mul_(2)
    # a retained gradient is of the tensor's value after an in-place change, as in torch
    for through_a_view in (False, True):
        x = tensor([1.0, 2.0], requires_grad=True)
        a = x * 2
        a.retain_grad()
        (a[0:1] if through_a_view else a).mul_(3)
        a.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0])
        np.testing.assert_allclose(x.grad.numpy(), [6.0, 2.0] if through_a_view else [6.0, 6.0])
    # .grad takes a tensor of the leaf's dtype and shape only
    w = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="expected to be a Tensor or None"):
        w.grad = [1.0, 2.0]
    with pytest.raises(RuntimeError, match="dtype srcad.int64 to a tensor with dtype srcad.float64"):
        w.grad = tensor([1, 2])
    w.grad = tensor([0.5, 0.5])
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.5, 4.5])


def test_hooks_and_function_backwards_returning_the_wrong_thing_are_named():
    """A hook or a Function's backward returning another shape, dtype or a number: torch's
    errors, not NumPy's reshape error or an AttributeError (found by an attack)."""
    class Doubled(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return Doubled.wrong

    for hook, error, match in (
            (lambda g: tensor(7.0), RuntimeError, "hook '<lambda>' has changed the size of value"),
            (lambda g: tensor([7, 8]), RuntimeError, "has changed the type of value"),
            (lambda g: 3, TypeError, "expected Variable, but hook '<lambda>' returned 'int'")):
        x = tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.register_hook(hook)
        with pytest.raises(error, match=match):
            y.sum().backward()
    shape_error = (r"invalid gradient at index 0 - got \[3\] "
                   r"but expected shape compatible with \[2\]")
    for wrong, match in ((tensor([1.0, 2.0, 3.0]), shape_error),
                         (1.5, r"expected Variable or None \(got float\)")):
        x = tensor([1.0, 2.0], requires_grad=True)
        out = Doubled.apply(x)
        out.grad_fn  # noqa: B018 (recorded)
        Doubled.wrong = wrong
        with pytest.raises(RuntimeError, match=match):
            out.sum().backward()


def test_a_value_the_recorded_backward_reads_changed_in_place_is_refused():
    """autograd.grad(create_graph=True), then y.mul_(2): the second derivative was computed
    from the changed y (6x became 12x; found by an attack); torch raises, and so does srcad,
    through a view of y too. Unchanged, the second derivative is 6x."""
    def second(change):
        x = tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1.0
        view = y[1:]
        (g,) = autograd.grad((y ** 3).sum(), x, create_graph=True)
        change(y, view)
        return autograd.grad(g.sum(), x)[0]
    np.testing.assert_allclose(second(lambda y, v: None).detach().numpy(), [6.0, 12.0, 18.0])
    for change in (lambda y, v: y.mul_(2), lambda y, v: v.mul_(2)):
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            second(change)


def test_backward_into_chosen_inputs_and_second_order_gradients_keep_their_dtype():
    """backward(inputs=[x]) was a TypeError, and with create_graph=True a float32 input meeting
    float64 got a float64 gradient, torch a float32 one (both found by an attack)."""
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor([3.0, 4.0], requires_grad=True)
    (x ** 2 * w).sum().backward(inputs=[x], create_graph=True)
    np.testing.assert_allclose(x.grad.detach().numpy(), [6.0, 16.0])
    assert w.grad is None and x.grad.requires_grad
    h = x * 2.0
    (h * h).sum().backward(inputs=h)
    np.testing.assert_allclose(h.grad.numpy(), [4.0, 8.0])
    x32 = tensor(np.float32([1.0, 2.0]), requires_grad=True)
    (g,) = autograd.grad((x32 * tensor([1.5, 2.5]) * x32).sum(), x32, create_graph=True)
    assert g.dtype == x32.dtype
    np.testing.assert_allclose(g.detach().numpy(), [3.0, 10.0])
    (x32 ** 3 * tensor([1.0, 1.0])).sum().backward(create_graph=True)
    assert x32.grad.dtype == x32.dtype


def test_a_function_that_saves_its_output_has_a_second_derivative(rng):
    """torch's own example Function saves its output: its second derivative was zero on the
    tape, and a change to the output in place went unseen (found by an attack; torch's
    values)"""
    class Exp(autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            (result,) = ctx.saved_tensors
            return grad_output * result

    values = rng.uniform(-1.0, 1.0, 3)
    x = tensor(values, requires_grad=True)
    (g,) = autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (h,) = autograd.grad((g * g).sum(), x)
    np.testing.assert_allclose(h.numpy(), 2 * np.exp(2 * values), rtol=1e-12)
    y = Exp.apply(x)
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_float_functions_of_integers_compute_in_the_default_float():
    """NumPy's exp of an int8 array is float16 (exp(7) = 1097.0) and reciprocal of integers
    stays integer (0); torch's are in the default float (found by an attack)"""
    from srcad.tape import float32, int8

    small = tensor([3, 7], dtype=int8)
    np.testing.assert_allclose(small.exp().numpy(), np.exp([3.0, 7.0]), rtol=1e-12)
    np.testing.assert_allclose(tensor([2, 4]).reciprocal().numpy(), [0.5, 0.25])
    np.testing.assert_allclose(tensor([True, False]).sigmoid().numpy(),
                               1 / (1 + np.exp([-1.0, 0.0])), rtol=1e-12)
    from srcad.tape import cat
    assert cat([tensor([1, 2]), tensor([0.5], dtype=float32)]).dtype == float32


def test_no_grad_on_a_generator_function_holds_while_it_runs():
    """(found by an attack: the decorator turned grad mode off only while the generator was
    made, so its steps were recorded; torch's holds it during each step)"""
    x = tensor([1.0, 2.0], requires_grad=True)

    @no_grad()
    def scaled(n):
        for i in range(n):
            sent = yield x * i, is_grad_enabled()
            if sent is not None:
                yield sent
        return "done"

    steps = scaled(2)
    y, inside = next(steps)
    assert not y.requires_grad and not inside and is_grad_enabled()
    assert steps.send("sent") == "sent"
    y, inside = next(steps)
    assert not y.requires_grad and not inside
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value == "done"
    z = x * 2.0  # (and outside it, grad mode is on)
    assert z.requires_grad


def test_a_retained_gradient_is_filled_whenever_it_is_computed():
    """torch's retain_grad fills .grad in backward(inputs=...) and autograd.grad too (found by
    an attack: it stayed None there; torch's values)"""
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    h.retain_grad()
    o = (h * h).sum()
    o.backward(inputs=[w], retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 16.0])
    o.backward(inputs=[h], retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), [12.0, 32.0])
    autograd.grad(o, x, retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), [18.0, 48.0])
    autograd.grad(o, h)
    np.testing.assert_allclose(h.grad.numpy(), [24.0, 64.0])
    assert x.grad is None
