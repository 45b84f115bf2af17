"""Regression tests for the held-out attack on NumPy/SciPy breadth (issue #11): scientific
functions written by someone who had not seen srcad's code. Each is compiled and right, or
refused with a message naming the construct (and right in mode="auto", on the tape) — never a
wrong number. Every case is checked against NumPy's own value and central finite differences."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check

# (name, source of f, arguments, wrt, compiles): `compiles` False means mode="source" must
# refuse with an UnsupportedError whose message contains the given text
CASES = [
    ("add_at_pairs_of_indices", """
def f(v, rows, cols, W):
    A = np.zeros((2, 2))
    np.add.at(A, (rows, cols), v)
    return np.sum(A * W)
""", lambda r: (r.normal(size=3), np.array([0, 1, 1]), np.array([1, 0, 1]),
                r.normal(size=(2, 2))), (0, 3), "np.add.at"),
    ("subtract_at_pairs_of_indices", """
def f(v, rows, cols, W):
    A = np.ones((2, 2))
    np.subtract.at(A, (rows, cols), v * v)
    return np.sum(A * W)
""", lambda r: (r.normal(size=3), np.array([0, 1, 1]), np.array([1, 0, 1]),
                r.normal(size=(2, 2))), (0, 3), "np.add.at"),
    ("add_at_matrix_of_indices", """
def f(v, idx, w):
    h = np.zeros(3)
    np.add.at(h, idx, v)
    return np.sum(h * w)
""", lambda r: (r.normal(size=(3, 2)), np.array([[0, 0], [1, 2], [2, 2]]), r.normal(size=3)),
        (0, 2), "1-D integer index array"),
    ("add_at_broadcast_row", """
def f(v, rows):
    A = np.zeros((3, 2))
    np.add.at(A, rows, v)
    return np.sum(A * np.arange(6.0).reshape(3, 2))
""", lambda r: (r.normal(size=2), np.array([0, 2])), (0,), "broadcast"),
    ("add_at_scalar_value", """
def f(c, x):
    h = np.zeros(4)
    np.add.at(h, np.array([0, 1, 1, 3]), c)
    np.add.at(h, np.array([2, 2]), 0.5)
    return np.sum(h * h * x)
""", lambda r: (float(r.normal()), r.normal(size=4)), (0, 1), True),
    ("add_at_one_value_per_index", """
def f(v, idx, A):
    B = A * 1.0
    np.add.at(B, idx, v)
    return np.sum(B * B)
""", lambda r: (r.normal(size=(3, 2)), np.array([1, 1, 0]), r.normal(size=(3, 2))), (0, 2), True),
    ("store_through_a_tuple_variable", """
def f(v, rows, cols, W):
    A = np.zeros((2, 2))
    ij = (rows, cols)
    A[ij] += v
    return np.sum(A * W)
""", lambda r: (r.normal(size=2), np.array([0, 1]), np.array([1, 0]), r.normal(size=(2, 2))),
        (0, 3), True),
    ("store_through_a_matrix_of_indices", """
def f(v, idx, w):
    h = np.zeros(3)
    h[idx] += v
    return np.sum(h * w)
""", lambda r: (r.normal(size=(2, 2)), np.array([[0, 1], [1, 2]]), r.normal(size=3)), (0, 2),
        "index array of rank 2"),
    ("matrix_mask", """
def f(X, M):
    return np.sum(X[M] ** 2)
""", lambda r: (r.normal(size=(2, 3)), np.array([[True, False, True], [False, True, False]])),
        (0,), "boolean mask of rank 2"),
    ("outer_of_a_matrix", """
def f(a, b):
    return np.sum(np.outer(a, b) ** 2)
""", lambda r: (r.normal(size=(2, 2)), r.normal(size=3)), (0, 1), "at most 1"),
    ("stacked_det_and_inv", """
def f(A):
    return np.sum(np.linalg.det(A) ** 2) + np.sum(np.sin(np.linalg.inv(A)))
""", lambda r: (r.normal(size=(3, 3, 3)) + 3 * np.eye(3),), (0,), "at most 2"),
    ("stacked_solve", """
def f(A, B):
    return np.sum(np.linalg.solve(A, B) ** 2)
""", lambda r: (r.normal(size=(2, 3, 3)) + 3 * np.eye(3), r.normal(size=(2, 3, 2))), (0, 1),
        "at most 2"),
    ("cross_entropy_of_picked_entries", """
def f(W, X, y):
    z = X @ W
    z = z - np.max(z, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(X.shape[0]), y]))
""", lambda r: (r.normal(size=(4, 3)), r.normal(size=(6, 4)), r.integers(0, 3, 6)), (0, 1),
        True),
    ("repeated_pairs_of_indices", """
def f(A, rows, cols):
    return np.sum(np.sin(A[rows, cols]) * np.arange(5.0))
""", lambda r: (r.normal(size=(3, 4)), np.array([0, 2, 2, 0, -1]), np.array([1, 3, 3, 1, 0])),
        (0,), True),
    ("trace_method", """
def f(A):
    return (A @ A).trace()
""", lambda r: (r.normal(size=(3, 3)),), (0,), True),
    ("matrix_from_nested_lists", """
def f(q, x):
    F = np.array([[1.0, 0.5], [0.0, 1.0]])
    return np.sum((F @ x) ** 2) * q
""", lambda r: (float(r.normal()), r.normal(size=2)), (0, 1), True),
    ("einsum_optimize", """
def f(A, B):
    return np.sum(np.einsum('ij,jk->ik', A, B, optimize=True) ** 2)
""", lambda r: (r.normal(size=(2, 3)), r.normal(size=(3, 2))), (0, 1), True),
    ("concatenate_a_reversed_view", """
def f(a, b):
    c = np.concatenate((a, b[::-1], a[::2]))
    return np.sum(c * c * np.arange(8.0))
""", lambda r: (r.normal(size=3), r.normal(size=3)), (0, 1), True),
]


@pytest.mark.parametrize("name, text, inputs, wrt, compiles", CASES, ids=[c[0] for c in CASES])
def test_compiled_and_right_or_refused_by_name(make_module, name, text, inputs, wrt, compiles):
    module = make_module(f"heldout_{name}", "import numpy as np\n" + text)
    args = inputs(np.random.default_rng(3))
    if compiles is True:
        with warnings.catch_warnings():
            warnings.simplefilter("error", srcad.FallbackWarning)  # numba compiles it
            grads = srcad.grad(module.f, wrt=wrt, mode="source")(*args)
        check.compare(module.f, args, list(wrt), grads, rtol=1e-5, atol=1e-7)
        return
    with pytest.raises(srcad.UnsupportedError, match=compiles):
        srcad.grad(module.f, wrt=wrt, mode="source")(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        value, grads = srcad.value_and_grad(module.f, wrt=wrt)(*args)  # auto: the tape
    assert value == pytest.approx(module.f(*args), rel=1e-12)
    check.compare(module.f, args, list(wrt), grads, rtol=1e-5, atol=1e-7)


def test_add_at_with_more_values_than_indices_raises_as_numpy_does(make_module):
    module = make_module("heldout_add_at_lengths", """
import numpy as np

def f(v, idx):
    h = np.zeros(3)
    np.add.at(h, idx, v)
    return np.sum(h * h)
""")
    with pytest.raises(ValueError):
        module.f(np.ones(3), np.array([0, 1]))
    for jit in (True, False):
        with pytest.raises(ValueError, match="per index"):
            srcad.grad(module.f, mode="source", jit=jit)(np.ones(3), np.array([0, 1]))


@pytest.mark.parametrize("ufunc", ["add", "subtract"])
def test_add_at_of_an_array_into_itself_reads_its_values_before_the_call(make_module, ufunc):
    """(found by an attack: the loop np.add.at is lowered to read values it had changed)"""
    module = make_module(f"heldout_{ufunc}_at_itself", f"""
import numpy as np

def f(x, w):
    y = x * 1.0
    np.{ufunc}.at(y, np.array([1, 0, 2, 2]), y)
    return np.sum(y * w)
""")
    rng = np.random.default_rng(3)
    args = (rng.standard_normal(4), rng.standard_normal(4))
    for jit in (True, False):
        value, grad = srcad.value_and_grad(module.f, mode="source", jit=jit)(*args)
        assert value == pytest.approx(module.f(*args), rel=1e-12)
        check.compare(module.f, args, [0], [grad], rtol=1e-6, atol=1e-8)


def test_batched_matmul_is_refused_in_both_engines(make_module):
    module = make_module("heldout_batched_matmul", """
import numpy as np

def f(A, B):
    return np.sum(np.sin(A @ B))
""")
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 4, 2)))
    with pytest.raises(srcad.UnsupportedError, match="A @ B for arrays of at most 2"):
        srcad.grad(module.f, wrt=(0, 1), mode="source")(*args)
    with pytest.raises(NotImplementedError, match="1-D and 2-D"):
        srcad.grad(module.f, wrt=(0, 1), mode="tape")(*args)


def test_a_float32_array_first_defined_in_a_loop_compiles(make_module):
    module = make_module("heldout_float32_loop", """
import numpy as np

def f(x):
    acc = np.zeros_like(x)
    for i in range(20):
        acc = acc * 0.9 + np.tanh(x * (i + 1))
    return np.sum(acc)
""")
    x = np.random.default_rng(2).uniform(-0.1, 0.1, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # compiled, not the Python
        g32 = srcad.grad(module.f, mode="source")(x.astype(np.float32))
    assert g32.dtype == np.float32
    g64 = srcad.grad(module.f, mode="source")(x)
    check.compare(module.f, [x], [0], [g64], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g32, g64, rtol=1e-4)


def sqrt_of_relu(x):
    return np.sum(np.sqrt(np.maximum(x, 0.0)))


def sqrt_of_clip(x):
    return np.sum(np.sqrt(np.clip(x, 0.0, 10.0)))


def sqrt_of_builtin_max(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += max(x[i], 0.0) ** 0.5
    return s


@pytest.mark.parametrize("fn", [sqrt_of_relu, sqrt_of_clip, sqrt_of_builtin_max],
                         ids=lambda f: f.__name__)
def test_a_masked_partial_is_zero_where_the_gradient_is_infinite(fn, jit, rng):
    """d/dx sqrt(max(x, 0)) at x < 0 is 0, as in JAX and torch: the partial was g * (x > 0),
    inf * 0 = nan (sqrt's derivative at 0 is inf)."""
    x = np.concatenate([-rng.uniform(0.5, 1.5, 2), rng.uniform(0.5, 1.5, 3)])
    expected = np.where(x > 0, 0.5 / np.sqrt(np.abs(x)), 0.0)
    for mode in ("source", "tape"):
        with np.errstate(divide="ignore"):
            got = srcad.grad(fn, mode=mode, jit=jit)(x)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=mode)


def clip_sum(x, lo, hi):
    return np.sum(np.clip(x, lo, hi) ** 2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_clip_with_bounds_crossed_follows_its_value(mode, jit, rng):
    """np.clip is minimum(maximum(x, lo), hi): where lo > hi the value is hi, and so is the
    derivative (it went to lo: found by a helper); random points, against differences."""
    x = rng.uniform(-1.0, 1.0, 6)
    lo = rng.uniform(-0.5, 0.5, 6)
    hi = np.where(np.arange(6) % 2 == 0, lo - 0.3, lo + 0.6)  # crossed on every other entry
    grads = srcad.grad(clip_sum, wrt=(0, 1, 2), mode=mode, jit=jit)(x, lo, hi)
    check.compare(clip_sum, [x, lo, hi], [0, 1, 2], grads, rtol=1e-6, atol=1e-8)
    if mode == "source":
        t = [rng.normal(size=6) for _ in range(3)]
        _, tangent = srcad.jvp(clip_sum, (x, lo, hi), t, jit=jit)
        assert tangent == pytest.approx(float(check.along(clip_sum, (x, lo, hi), t)), rel=1e-6)
