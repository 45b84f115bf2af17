"""Views on the tape share memory with their base wherever NumPy's (and torch's) do: a write
through either one is seen by the other, with the gradient that goes with it."""

import numpy as np
import pytest

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
