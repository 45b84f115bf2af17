"""Tensor semantics: construction, operators, NumPy protocols, indexing, in-place operations,
conversions, and the errors PyTorch users expect."""

import operator

import numpy as np
import pytest

import srcad
from srcad.tape import Tensor, no_grad, tensor

from .numeric import numerical_grad


def test_dtypes_follow_torch_with_float64_as_the_default_float():
    data = np.array([1.5, 2])
    t = tensor(data)
    data[0] = 7
    assert t.dtype == np.float64 and t.dtype == srcad.float64 and t.tolist() == [1.5, 2.0]
    assert tensor([1, 2, 3]).dtype == srcad.int64 and tensor([True]).dtype == srcad.bool
    assert tensor([1, 2], dtype=srcad.float32).dtype == np.float32
    assert tensor([1, 2], dtype=np.float64).dtype == srcad.float64
    assert repr(srcad.float32) == "srcad.float32" and tensor(3).shape == () and tensor(3).ndim == 0
    assert isinstance(t, Tensor) and t.is_leaf and t.grad_fn is None and not t.requires_grad
    with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype"):
        tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        tensor([1, 2]).requires_grad_()
    assert np.zeros(2, dtype=srcad.float32).dtype == np.float32  # NumPy takes srcad's dtypes


def test_float32_tensors_keep_their_dtype_through_backward():
    x64 = np.array([0.5, 1.5, -2.0])
    x = tensor(x64, requires_grad=True)
    y = x.float()
    assert y.dtype == srcad.float32 and repr(y.grad_fn) .startswith("<ToCopyBackward0")
    (y.sin() * 3).sum().backward()
    assert x.grad.dtype == srcad.float64
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.cos(x64), rtol=1e-6)
    z = tensor([1.0, 2.0], dtype=srcad.float32, requires_grad=True)
    (z * z).sum().backward()
    assert z.grad.dtype == srcad.float32 and z.grad.tolist() == [2.0, 4.0]
    assert x.double() is x and x.to("cpu") is x and x.to(x) is x


def test_size_shape_and_dim_as_torch():
    x = tensor(np.zeros((2, 3)))
    assert x.shape == (2, 3) and repr(x.shape) == "srcad.Size([2, 3])" and str(x.size()) == repr(x.shape)
    assert x.size(1) == 3 and x.size(-2) == 2 and x.size == 6 and x.numel() == 6 and x.dim() == 2
    assert x.shape.numel() == 6 and x.device == "cpu"


def test_repr_looks_like_torch():
    x = tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * x) == "tensor([1., 4.], grad_fn=<MulBackward0>)"
    assert repr((x * x).sum()) == "tensor(5., grad_fn=<SumBackward0>)"
    assert repr(tensor(0.232834)) == "tensor(0.2328)" and repr(tensor(2.5)) == "tensor(2.5000)"
    assert repr(tensor([1, 2, 3])) == "tensor([1, 2, 3])" and repr(tensor(5)) == "tensor(5)"
    assert repr(tensor([True, False])) == "tensor([ True, False])"
    assert repr(tensor([1.5, -2.25])) == "tensor([ 1.5000, -2.2500])"
    assert repr(tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert repr(tensor([1e9, 1.0])) == "tensor([1.0000e+09, 1.0000e+00])"
    assert repr(tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(tensor([1.5], dtype=srcad.float32)) == "tensor([1.5000], dtype=srcad.float32)"
    assert repr(tensor([])) == "tensor([])" and repr(tensor([1.0, np.inf])) == "tensor([1., inf])"
    assert f"{tensor(1.23456):.2f}" == "1.23"


# what PyTorch 2.13 prints as grad_fn (and its inputs' next_functions), recorded from torch
GRAD_FN_NAMES = {
    "x * 2": (lambda x, m: x * 2, "MulBackward0", ["AccumulateGrad", None]),
    "2 * x": (lambda x, m: 2 * x, "MulBackward0", ["AccumulateGrad", None]),
    "x - 2": (lambda x, m: x - 2, "SubBackward0", ["AccumulateGrad", None]),
    "2 - x": (lambda x, m: 2 - x, "RsubBackward1", ["AccumulateGrad"]),
    "2 / x": (lambda x, m: 2 / x, "MulBackward0", ["ReciprocalBackward0", None]),
    "x / 2": (lambda x, m: x / 2, "DivBackward0", ["AccumulateGrad", None]),
    "x ** 2": (lambda x, m: x**2, "PowBackward0", ["AccumulateGrad"]),
    "2 ** x": (lambda x, m: 2**x, "PowBackward2", ["AccumulateGrad"]),
    "x ** x": (lambda x, m: x**x, "PowBackward1", ["AccumulateGrad", "AccumulateGrad"]),
    "-x": (lambda x, m: -x, "NegBackward0", ["AccumulateGrad"]),
    "x @ x": (lambda x, m: x @ x, "DotBackward0", ["AccumulateGrad", "AccumulateGrad"]),
    "m @ x": (lambda x, m: m @ x, "MvBackward0", ["AccumulateGrad", "AccumulateGrad"]),
    "m @ m": (lambda x, m: m @ m, "MmBackward0", ["AccumulateGrad", "AccumulateGrad"]),
    "x[0]": (lambda x, m: x[0], "SelectBackward0", ["AccumulateGrad"]),
    "x[1:]": (lambda x, m: x[1:], "SliceBackward0", ["AccumulateGrad"]),
    "x[[0, 1]]": (lambda x, m: x[[0, 1]], "IndexBackward0", ["AccumulateGrad"]),
    "m[:, 1]": (lambda x, m: m[:, 1], "SelectBackward0", ["AccumulateGrad"]),
    "x[None]": (lambda x, m: x[None], "UnsqueezeBackward0", ["AccumulateGrad"]),
    "x.sum()": (lambda x, m: x.sum(), "SumBackward0", ["AccumulateGrad"]),
    "m.sum(0)": (lambda x, m: m.sum(0), "SumBackward1", ["AccumulateGrad"]),
    "x.mean()": (lambda x, m: x.mean(), "MeanBackward0", ["AccumulateGrad"]),
    "m.mean(1)": (lambda x, m: m.mean(1), "MeanBackward1", ["AccumulateGrad"]),
    "x.max()": (lambda x, m: x.max(), "MaxBackward1", ["AccumulateGrad"]),
    "m.max(0).values": (lambda x, m: m.max(0).values, "MaxBackward0", ["AccumulateGrad"]),
    "x.sigmoid()": (lambda x, m: x.sigmoid(), "SigmoidBackward0", ["AccumulateGrad"]),
    "x.relu()": (lambda x, m: x.relu(), "ReluBackward0", ["AccumulateGrad"]),
    "m.reshape(9)": (lambda x, m: m.reshape(9), "ViewBackward0", ["AccumulateGrad"]),
    "m.view(-1)": (lambda x, m: m.view(-1), "ViewBackward0", ["AccumulateGrad"]),
    "m.t()": (lambda x, m: m.t(), "TBackward0", ["AccumulateGrad"]),
    "m.T": (lambda x, m: m.T, "PermuteBackward0", ["AccumulateGrad"]),
    "m.transpose(0, 1)": (lambda x, m: m.transpose(0, 1), "TransposeBackward0", ["AccumulateGrad"]),
    "x.unsqueeze(0)": (lambda x, m: x.unsqueeze(0), "UnsqueezeBackward0", ["AccumulateGrad"]),
    "x[None].squeeze()": (lambda x, m: x[None].squeeze(), "SqueezeBackward0", ["UnsqueezeBackward0"]),
    "x[None].squeeze(0)": (lambda x, m: x[None].squeeze(0), "SqueezeBackward1", ["UnsqueezeBackward0"]),
    "x.clamp(min=0)": (lambda x, m: x.clamp(min=0), "ClampBackward1", ["AccumulateGrad"]),
    "x.std()": (lambda x, m: x.std(), "StdBackward0", ["AccumulateGrad"]),
    "x.var()": (lambda x, m: x.var(), "VarBackward0", ["AccumulateGrad"]),
    "x.norm()": (lambda x, m: x.norm(), "LinalgVectorNormBackward0", ["AccumulateGrad"]),
    "cat": (lambda x, m: srcad.cat([x, x]), "CatBackward0", ["AccumulateGrad"] * 2),
    "stack": (lambda x, m: srcad.stack([x, x]), "StackBackward0", ["AccumulateGrad"] * 2),
    "x.float()": (lambda x, m: x.float(), "ToCopyBackward0", ["AccumulateGrad"]),
    "srcad.exp(x)": (lambda x, m: srcad.exp(x), "ExpBackward0", ["AccumulateGrad"]),
    "x.expand(2, 3)": (lambda x, m: x.expand(2, 3), "ExpandBackward0", ["AccumulateGrad"]),
    "where": (lambda x, m: srcad.where(x > 1, x, 0.0), "WhereBackward0", ["AccumulateGrad", None]),
    "x.square()": (lambda x, m: x.square(), "PowBackward0", ["AccumulateGrad"]),
    "x.cumsum(0)": (lambda x, m: x.cumsum(0), "CumsumBackward0", ["AccumulateGrad"]),
}


@pytest.mark.parametrize("expression", sorted(GRAD_FN_NAMES))
def test_grad_fn_and_next_functions_as_pytorch_prints_them(expression):
    f, name, inputs = GRAD_FN_NAMES[expression]
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = tensor(np.ones((3, 3)), requires_grad=True)
    grad_fn = f(x, m).grad_fn
    assert grad_fn.name() == name and repr(grad_fn).startswith(f"<{name} object at 0x")
    assert [fn and fn.name() for fn, _ in grad_fn.next_functions] == inputs
    assert all(index == 0 for _, index in grad_fn.next_functions)


def test_accumulate_grad_nodes_hold_their_leaf_once():
    x = tensor([1.0, 2.0], requires_grad=True)
    (first, _), (second, _) = (x * x).grad_fn.next_functions
    assert first is second and first.variable is x and first.next_functions == ()
    y = (x * 2).sum()
    assert y.grad_fn.next_functions[0][0].next_functions[0][0].variable is x


OPERATORS = {
    "tensor + scalar": lambda x, a: x + 2.5,
    "scalar + tensor": lambda x, a: 2.5 + x,
    "array - tensor": lambda x, a: a - x,
    "tensor - array": lambda x, a: x - a,
    "tensor * array": lambda x, a: x * a,
    "array * tensor": lambda x, a: a * x,
    "scalar / tensor": lambda x, a: 3.0 / x,
    "tensor / array": lambda x, a: x / a,
    "tensor ** scalar": lambda x, a: x**3,
    "scalar ** tensor": lambda x, a: 2.0**x,
    "tensor ** tensor": lambda x, a: abs(x) ** x,
    "np.float64 * tensor": lambda x, a: np.float64(2.0) * x,
    "-tensor": lambda x, a: -x,
    "abs": lambda x, a: abs(x),
    "broadcast row + column": lambda x, a: x.reshape(3, 1) * a.reshape(1, 3),
    "matrix @ tensor": lambda x, a: np.outer(a, a) @ x,
    "tensor @ matrix": lambda x, a: x @ np.outer(a, a),
    "tensor.dot(tensor)": lambda x, a: x.dot(x),
}


@pytest.mark.parametrize("expression", sorted(OPERATORS))
def test_operators_with_numbers_arrays_and_tensors_on_both_sides(expression):
    f = OPERATORS[expression]
    rng = np.random.default_rng(1)
    x0, a = rng.uniform(0.5, 2.0, 3), rng.uniform(-2.0, 2.0, 3)
    x = tensor(x0, requires_grad=True)
    out = f(x, a)
    assert isinstance(out, Tensor) and out.requires_grad
    np.testing.assert_allclose(out.detach().numpy(), f(x0, a))
    out.sum().backward()
    expected = numerical_grad(lambda v: np.sum(f(v, a)), [x0], 0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def test_comparisons_are_not_tracked_and_give_bool_tensors():
    x = tensor([1.0, 3.0], requires_grad=True)
    assert (x > 2).tolist() == [False, True] and (x > 2).dtype == srcad.bool
    assert not (x > 2).requires_grad and repr(x.eq(tensor([1.0, 2.0]))) == "tensor([ True, False])"
    assert bool(x[0] < x[1]) and bool(x[0] == 1.0) and not bool(x[0] != 1.0)
    assert (np.array([2.0, 2.0]) >= x).tolist() == [True, False]
    assert max(x[0], x[1]).item() == 3.0 and bool(x[1] > 0)
    assert x[x > 2].tolist() == [3.0] and x.ne(x).tolist() == [False, False]
    assert ((x > 0) & (x < 2)).tolist() == [True, False] and (~(x > 2)).tolist() == [True, False]


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_as_methods_and_numpy_functions(reduce, axis):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 4))
    reference = getattr(np, reduce)
    for call in (
        lambda t: getattr(t, reduce)(axis=axis),
        lambda t: reference(t, axis=axis),
    ):
        x = tensor(a, requires_grad=True)
        out = call(x)
        np.testing.assert_allclose(out.detach().numpy(), reference(a, axis=axis))
        out.sum().backward()
        expected = numerical_grad(lambda v, axis=axis: np.sum(reference(v, axis=axis)), [a], 0)
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_torch_spelling_of_reduction_arguments():
    x = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.sum(dim=0).tolist() == [4.0, 6.0]
    assert x.mean(dim=1, keepdim=True).shape == (2, 1)


def test_numpy_functions_are_tracked():
    x = tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = np.where(x > 0, np.exp(x), np.maximum(x, -0.5)) + np.dot(x, x) + np.sum(np.cos(x))
    assert isinstance(y, Tensor)
    y.sum().backward()

    def f(v):
        return np.where(v > 0, np.exp(v), np.maximum(v, -0.5)) + np.dot(v, v) + np.sum(np.cos(v))

    np.testing.assert_allclose(
        x.grad.numpy(), numerical_grad(lambda v: np.sum(f(v)), [x.detach().numpy()], 0), rtol=1e-6
    )


def test_composite_numpy_functions():
    rng = np.random.default_rng(3)
    a, m = rng.normal(size=3), np.eye(3) * 2 + rng.uniform(-0.5, 0.5, (3, 3))

    def f(v, m):
        return (
            np.linalg.norm(v)
            + np.sum(np.logaddexp(v, 2 * v))
            + np.linalg.det(m * v[0])
            + np.sum(np.linalg.solve(m, v) * np.linalg.inv(m) @ v)
            + np.sum(np.outer(v, v))
            + np.var(v) * np.std(np.hstack([v, v**2]), ddof=1)
            + np.sum(np.vstack([v, 2 * v]) * np.cross(v, np.array([1.0, -2.0, 0.5])))
        )

    x, w = tensor(a, requires_grad=True), tensor(m, requires_grad=True)
    y = f(x, w)
    np.testing.assert_allclose(y.item(), f(a, m))
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), numerical_grad(f, [a, m], 0), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), numerical_grad(f, [a, m], 1), rtol=1e-6)


METHODS = {
    "exp log sqrt": lambda t: t.exp() + t.log() + t.sqrt(),
    "sin cos tan tanh": lambda t: t.sin() * t.cos() + t.tan() - t.tanh(),
    "abs pow": lambda t: (t - 1.0).abs() + t.pow(3),
    "clamp clip": lambda t: t.clamp(min=0.8) + t.clip(0.7, 1.2),
    "cumsum flatten view": lambda t: t.reshape(2, 2).cumsum(axis=0).flatten().view(4),
    "copy astype ravel": lambda t: t.copy().astype(np.float64).ravel() * 2,
}


@pytest.mark.parametrize("methods", sorted(METHODS))
def test_torch_and_numpy_methods(methods):
    f = METHODS[methods]
    a = np.array([0.6, 0.9, 1.1, 1.4])
    x = tensor(a, requires_grad=True)
    f(x).sum().backward()
    expected = numerical_grad(lambda v: np.sum(f(tensor(v)).numpy()), [a], 0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)
    assert x.argmax() == 3 and x.argmin() == 0 and x.astype(int).tolist() == [0, 0, 1, 1]
    assert x.numel() == 4 and x.dim() == 1


def test_shape_methods_and_attributes():
    x = tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.T.shape == (3, 2) and x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,)
    assert len(x) == 2 and x.size == 6 and x.shape == (2, 3) and x.ndim == 2
    assert [row.tolist() for row in x] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    (x.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)
    with pytest.raises(TypeError):
        len(tensor(1.0))


def test_indexing_reads():
    x0 = np.arange(1.0, 7.0)
    x = tensor(x0, requires_grad=True)
    y = x[1:3].sum() * 2 + x[np.array([0, 0, 5])].sum() + x[x0 > 4].sum() * 10 + x[-1]
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0, 0.0, 10.0, 12.0])


def test_item_float_and_numpy():
    x = tensor([2.5], requires_grad=True)
    assert float(x) == 2.5 and x.item() == 2.5 and int(tensor(3.7)) == 3
    assert isinstance(x.item(), float)
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        x.numpy()
    assert x.detach().numpy().tolist() == [2.5]


def test_converting_a_tracked_tensor_to_an_array_raises():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="drop its gradient"):
        np.asarray(x * 2)
    y = np.zeros(3)
    with pytest.raises(ValueError) as raised:  # NumPy re-raises our error as its cause
        y[0] = x[0] * 2
    assert "y[i] = t" in str(raised.value.__cause__)
    with pytest.raises(RuntimeError, match="drop its gradient"):
        y[0:2] = x * 2
    with no_grad():
        assert np.asarray(x * 2).tolist() == [2.0, 4.0]
    assert np.asarray(tensor([1.0])).tolist() == [1.0]


def test_numpy_function_without_derivative_raises_only_when_tracked():
    x = tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"no derivative for numpy\.unwrap"):
        np.unwrap(x)
    with pytest.raises(TypeError, match=r"no derivative for numpy\.add\.at"):
        np.add.at(np.zeros(2), [0, 1], x)
    assert np.prod(x.detach()) == 12.0
    assert np.argmax(x) == 1 and np.shape(x) == (2,) and np.floor(x).tolist() == [3.0, 4.0]


def test_in_place_operations_on_non_leaves_are_recorded():
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.add_(1)
    h.mul_(x)
    h += 2
    h[0] = h[0] * 10
    assert h.grad_fn.name() == "CopySlices"
    h.sum().backward()
    # h = [10 * (3 x0^2 + x0 + 2), 3 x1^2 + x1 + 2]
    np.testing.assert_allclose(x.grad.numpy(), [10 * (6 * 1.0 + 1), 6 * 2.0 + 1])


def test_zero_and_in_place_on_plain_tensors():
    t = tensor([1.0, 2.0])
    alias = t
    t += 1
    assert alias.tolist() == [2.0, 3.0] and t.zero_().tolist() == [0.0, 0.0]


def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = tensor([1.0, 2.0], requires_grad=True)
    message = "a leaf Variable that requires grad is being used in an in-place operation."
    for change in (
        lambda: x.add_(1),
        lambda: x.mul_(2),
        lambda: x.zero_(),
        lambda: x.__setitem__(0, 1.0),
    ):
        with pytest.raises(RuntimeError, match=message):
            change()
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        m = tensor(np.ones((2, 2)), requires_grad=True)
        m[0][1] = 5.0
    with no_grad():
        x -= 0.5
    assert x.tolist() == [0.5, 1.5] and x.is_leaf and x.requires_grad


def test_writing_through_a_row_writes_into_the_matrix():
    x = tensor([2.0, 3.0], requires_grad=True)
    a = tensor(np.zeros((2, 2)))
    a[1][0] = x[0] * x[1]
    row = a[0]
    row[1] = x[1]
    row += 1.0
    assert a.tolist() == [[1.0, 4.0], [6.0, 0.0]]
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_modifying_a_saved_value_in_place_is_found_at_backward():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y**2
    y.add_(1)
    with pytest.raises(
        RuntimeError, match="modified by an inplace operation.*version 1; expected version 0"
    ):
        z.sum().backward()
    c = tensor([1.0, 1.0])
    w = x * c
    c.mul_(3)  # c is a constant, but MulBackward saved it for x's gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()
    u = x + 1
    v = u.sum()
    u.mul_(2)  # AddBackward and SumBackward read no values: as in torch, this is fine
    v.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_grad_of_a_non_leaf_warns_and_retain_grad_keeps_it():
    x = tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    with pytest.warns(UserWarning, match=r"retain_grad\(\)"):
        assert h.grad is None
    k = x * x
    k.retain_grad()
    (k * 3).sum().backward()
    assert k.grad.tolist() == [3.0, 3.0]


def test_detach_requires_grad_and_their_rules():
    x = tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.tolist() == [2.0, 4.0]
    assert x.requires_grad_(False) is x and not (x * 2).requires_grad
    x.requires_grad = True
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad = False
    assert y.detach_() is y and y.is_leaf and not y.requires_grad
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        tensor(1.0).retain_grad()


def test_repeat_tiles_as_torch_s_outside_numpy_code():
    """(inside a NumPy function run on the tape, x.repeat is NumPy's: tests/tape/test_numpy_code)"""
    t = tensor([1.0, 2.0], requires_grad=True)
    out = t.repeat(2)
    assert out.tolist() == [1.0, 2.0, 1.0, 2.0]
    (out * tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert t.grad.tolist() == [4.0, 6.0]


def test_a_view_in_the_graph_is_not_detached_in_place():
    """torch refuses it: the view's base stays in the graph, so a write through the detached
    view would change a value the gradient does not follow (found by an attack: accepted)"""
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        y[:2].detach_()
    with no_grad():
        view = y[:2]
    assert view.detach_() is view and not view.requires_grad


def test_an_unbiased_spread_of_too_few_values_is_nan():
    """(torch's and NumPy's nan; the tape gave -0.0 for an empty tensor: 0 / -1, found by a
    helper's attack)"""
    for x in (srcad.tape.zeros(0), srcad.tape.zeros(1)):
        assert np.isnan(x.var().item()) and np.isnan(x.std().item())
    assert np.isnan(srcad.tape.zeros((0, 2)).var(0).numpy()).all()


def test_a_0d_float64_operand_of_a_float32_op_is_rounded_first_as_torch_does():
    """(the product was computed in float64 and rounded: 0.32999998 where torch's is
    0.33000001, found by a helper's attack)"""
    a = tensor(np.array([1.1, 2.2, 3.3], np.float32), requires_grad=True)
    for op in (operator.mul, operator.add, operator.sub, operator.truediv):
        out = op(a, tensor(np.float64(0.1))).detach().numpy()
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, op(a.detach().numpy(), np.float32(0.1)))
