"""Views on the tape share memory with their base wherever NumPy's (and torch's) do: a write
through either one is seen by the other, with the gradient that goes with it."""

import numpy as np
import pytest

import srcad
from srcad.tape import tensor

from .numeric import check


def reads_a_view_after_its_base_was_written(x):
    y = x.copy()
    v = y[1:]
    y[1] = 5.0
    return np.sum(v * v)


def writes_through_the_transpose(A):
    B = A.copy()
    T = B.T
    T[0, 1] = 0.0
    T[1] *= A[0, 0]
    return np.sum(B * B)


def writes_through_reshape_and_ravel(A):
    B = A * 1.0
    flat = B.reshape(-1)
    flat[2] = flat[0] * flat[3]
    line = B.ravel()
    line[1:3] += np.sin(line[4:6])
    return np.sum(B**2) + np.sum(flat * line)


def writes_through_a_view_of_a_view(A):
    B = A * 2.0
    inner = B[1:][0]
    inner[1:] = inner[:-1] * A[0, :2]
    return np.sum(B * A)


def writes_into_a_reshaped_copy(A):
    B = A * 1.0
    copy = B.T.reshape(-1)  # B.T is not contiguous: NumPy's reshape copies
    copy[0] = 100.0
    return np.sum(B * B) + np.sum(copy)


def keeps_a_saved_view_when_the_base_changes(x):
    y = x * 1.0
    v = y[:2]
    w = v * v  # saves v
    y[0] = np.exp(x[2])  # v[0] changes; w must not
    return np.sum(w) + np.sum(v * x[:2])


def writes_a_row_in_a_loop(A, x):
    out = np.zeros_like(A)
    for i in range(len(A)):
        row = out[i]
        row[:] = A[i] * x
        row *= x[i % 2]
    return np.sum(out * out)


@pytest.mark.parametrize(
    "f",
    [
        reads_a_view_after_its_base_was_written,
        keeps_a_saved_view_when_the_base_changes,
    ],
)
def test_views_of_vectors(f):
    check(f, (np.random.default_rng(0).uniform(0.5, 1.5, 4),), (0,))


@pytest.mark.parametrize(
    "f",
    [
        writes_through_the_transpose,
        writes_through_reshape_and_ravel,
        writes_through_a_view_of_a_view,
        writes_into_a_reshaped_copy,
    ],
)
def test_views_of_matrices(f):
    check(f, (np.random.default_rng(1).uniform(0.5, 1.5, (2, 3)),), (0,))


def test_rows_written_in_a_loop():
    rng = np.random.default_rng(2)
    check(writes_a_row_in_a_loop, (rng.normal(size=(3, 2)), rng.normal(size=2)), (0, 1))


def test_writing_through_a_broadcast_view_raises_as_numpy_does():
    def f(x):
        y = np.broadcast_to(x * 1.0, (2, 3))
        y[0, 0] = 1.0
        return np.sum(y)

    with pytest.raises(ValueError, match="read-only"):
        check(f, (np.ones(3),), (0,))


def test_in_place_errors_are_runtime_errors_as_torch_s():
    # (found by a helper's attack: ValueError where torch raises RuntimeError)
    a = srcad.zeros(3)
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the "
                                           r"broadcast shape \[2, 3\]"):
        a += srcad.ones(2, 3)
    x = srcad.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="read-only"):
        (x * 1).expand(3).add_(1)


def test_torch_style_views_follow_their_base():
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    v = y[1:]
    y[1] = x[0] * 10
    assert v.tolist() == [10.0, 6.0] and v.grad_fn.name() == "SliceBackward0"
    v.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 0.0, 2.0])


def overlapping_updates(x):
    y = x * 1.0
    y[1:] += y[:-1]  # NumPy reads y[:-1] as it was before the write
    y[:-1] = y[1:] * x[0]
    return np.sum(y * y)


def writes_through_several_views(x):
    A = np.zeros((3, 3))
    A[0] = x
    A.T[1] = x * 2
    diagonal = A.reshape(9)[::4]
    diagonal[:] = 1.5 * x
    return np.sum(A * np.arange(9.0).reshape(3, 3)) + np.sum(diagonal[1:] ** 2)


@pytest.mark.parametrize("f", [overlapping_updates, writes_through_several_views])
def test_overlapping_and_chained_views(f):
    check(f, (np.array([0.3, 0.7, 1.1]),), (0,))


# ---- NumPy's functions and methods that return views (probe round 2, F16/F17/F18) ----

VIEWS = {
    "np.squeeze": lambda c: np.squeeze(c),  # (4,): NumPy returns c itself
    "x.squeeze()": lambda c: c.squeeze(),
    "np.squeeze(axis)": lambda c: np.squeeze(c[None, :, None], (0, 2)),
    "np.expand_dims": lambda c: np.expand_dims(c, 0)[0],
    "np.flip": lambda c: np.flip(c),
    "np.flipud": lambda c: np.flipud(c),
    "np.fliplr": lambda c: np.fliplr(c.reshape(2, 2)),
    "np.rot90": lambda c: np.rot90(c.reshape(2, 2)),
    "np.rot90(k=3)": lambda c: np.rot90(c.reshape(2, 2), 3),
    "np.array(copy=False)": lambda c: np.array(c, copy=False),
    "np.array(copy=None, ndmin)": lambda c: np.array(c, copy=None, ndmin=2)[0],
    "np.asarray": lambda c: np.asarray(c),
    "np.asanyarray": lambda c: np.asanyarray(c),
    "np.require": lambda c: np.require(c),
    "np.asarray_chkfinite": lambda c: np.asarray_chkfinite(c),
    "np.ascontiguousarray": lambda c: np.ascontiguousarray(c),
    "np.swapaxes": lambda c: np.swapaxes(c.reshape(2, 2), 0, 1),
    "x.swapaxes": lambda c: c.reshape(2, 2).swapaxes(1, 0),
    "np.moveaxis": lambda c: np.moveaxis(c.reshape(2, 2, 1), 0, -1),
    "np.rollaxis": lambda c: np.rollaxis(c.reshape(2, 1, 2), 2),
    "np.permute_dims": lambda c: np.permute_dims(c.reshape(2, 2)),
    "np.matrix_transpose": lambda c: np.matrix_transpose(c.reshape(2, 2)),
    "x.mT": lambda c: c.reshape(2, 2).mT,
    "np.split": lambda c: np.split(c, 2)[1],
    "np.array_split": lambda c: np.array_split(c, 3)[0],
    "np.hsplit": lambda c: np.hsplit(c.reshape(2, 2), 2)[1],
    "np.vsplit": lambda c: np.vsplit(c.reshape(2, 2), [1])[1],
    "np.unstack": lambda c: np.unstack(c.reshape(2, 2), axis=1)[1],
    "np.real": lambda c: np.real(c),
    "x.real": lambda c: c.real,
    "x.conj()": lambda c: c.conj(),
    "np.real_if_close": lambda c: np.real_if_close(c),
    "np.atleast_1d": lambda c: np.atleast_1d(c),
    "np.atleast_2d": lambda c: np.atleast_2d(c)[0],
    "np.atleast_3d": lambda c: np.atleast_3d(c)[0, :, 0],
    "x.view()": lambda c: c.view(),
    "x.view(dtype)": lambda c: c.view(np.float64),
    "np.diff(n=0)": lambda c: np.diff(c, 0),
    "np.broadcast_arrays": lambda c: np.broadcast_arrays(c, c)[0],
}
READ_ONLY_VIEWS = {
    "np.diagonal": lambda c: np.diagonal(c.reshape(2, 2)),
    "x.diagonal": lambda c: c.reshape(2, 2).diagonal(1),
    "np.diag": lambda c: np.diag(c.reshape(2, 2), -1),
    "np.linalg.diagonal": lambda c: np.linalg.diagonal(c.reshape(1, 2, 2)),
    "np.broadcast_to": lambda c: np.broadcast_to(c, (2, 4)),
    "np.broadcast_arrays(wider)": lambda c: np.broadcast_arrays(c, np.ones((3, 4)))[0],
}


def _weights(b):
    return np.arange(1.0, b.size + 1).reshape(b.shape)


@pytest.mark.parametrize("view", VIEWS.values(), ids=VIEWS.keys())
def test_writes_through_numpy_s_views_reach_the_base(view):
    def f(a):
        c = a * 1.0
        b = view(c)
        first = (0,) * b.ndim
        b[first] = b[first] * 5.0 * a[3]  # a write through the view changes c
        c[1] = c[1] * a[0]  # and a write into c changes the view
        return np.sum(c * c) + np.sum(b * _weights(b))

    check(f, (np.array([1.0, 2.0, -3.0, 0.5]),), (0,))


@pytest.mark.parametrize("view", {**VIEWS, **READ_ONLY_VIEWS}.values(),
                         ids=[*VIEWS, *(f"{k} (read-only)" for k in READ_ONLY_VIEWS)])
def test_numpy_s_views_see_writes_into_their_base(view):
    def f(a):
        c = a * 1.0
        b = view(c)
        c[0] = c[0] * a[1]
        c[3] = 7.0
        return np.sum(b * _weights(b) * a[2])

    check(f, (np.array([1.0, 2.0, -3.0, 0.5]),), (0,))


@pytest.mark.parametrize("view", READ_ONLY_VIEWS.values(), ids=READ_ONLY_VIEWS.keys())
def test_writing_through_a_read_only_view_raises_as_numpy_does(view):
    def f(a):
        b = view(a * 1.0)
        b[0] = 1.0
        return np.sum(b)

    with pytest.raises(ValueError, match=r"test_views.py:\d+: .*\n.*read-only"):
        check(f, (np.array([1.0, 2.0, -3.0, 0.5]),), (0,))


def test_views_of_matrices_by_function_match_central_differences():
    def f(A):
        B = A * 1.0
        d = np.diagonal(B, 1)
        r = np.rot90(B, 1, (1, 0))
        r[0] = r[0] * d[0]
        halves = np.hsplit(B, [1])
        halves[1][:, 0] += np.flip(d)[0] ** 2
        return np.sum(B * np.sin(B)) + np.sum(np.squeeze(np.moveaxis(B[None], 0, 2)) ** 3)

    check(f, (np.random.default_rng(3).uniform(0.5, 1.5, (3, 3)),), (0,))


def test_second_derivatives_through_the_new_views():
    x = tensor([[0.3, -0.7, 1.1], [0.2, 0.5, -0.4]], requires_grad=True)
    y = (np.diagonal(x, 1) ** 3).sum() + (np.flip(x, 1) * x).sum() ** 2
    (g,) = __import__("srcad").autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    h = x.grad.numpy()

    def first(v):
        t = tensor(v, requires_grad=True)
        y = (np.diagonal(t, 1) ** 3).sum() + (np.flip(t, 1) * t).sum() ** 2
        y.backward()
        return t.grad.numpy().sum()

    from .numeric import numerical_grad

    np.testing.assert_allclose(h, numerical_grad(first, (x.detach().numpy().copy(),), 0),
                               rtol=1e-5, atol=1e-6)


def test_a_numpy_function_returning_an_unmodelled_view_raises():
    def f(a):
        w = np.zeros(4)
        windows = np.lib.stride_tricks.sliding_window_view(w, 2)
        w[0] = a[0]
        return np.sum(windows)

    with pytest.raises(TypeError, match="sliding_window_view returned a view"):
        check(f, (np.array([1.0, 2.0]),), (0,))


def test_copies_and_views_share_memory_as_torch_s():
    """(found by an attack) contiguous() of a transpose shared its memory, view() of a
    non-contiguous tensor copied it silently, repeat(1) and to(copy=True) returned views: writes
    reached the wrong tensor, and gradients went with them"""
    x = srcad.arange(6.0).reshape(2, 3)
    c = x.t().contiguous()
    c.view(-1)[0] = 99.0
    assert c[0, 0].item() == 99.0 and x[0, 0].item() == 0.0
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(-1)
    for copy in (x.repeat(1, 1), x.to(srcad.float64, copy=True), x.expand(2, 2, 3).clone()):
        copy.view(-1)[0] = -1.0
        assert x[0, 0].item() == 0.0 and copy.reshape(-1)[0].item() == -1.0
    w = srcad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = w.t().contiguous()
    h.view(-1).mul_(10.0)
    (h * srcad.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[10.0, 30.0], [20.0, 40.0]])
    r = srcad.tensor([1.0, 2.0], requires_grad=True)
    t = r.repeat(1) * 1.0
    r.repeat(1)[0] = 100.0
    (t * 3.0).sum().backward()
    np.testing.assert_allclose(r.grad.numpy(), [3.0, 3.0])
