"""Writes the by-name transform cannot see: through out= and functions that fill an argument,
through views NumPy functions return, and into an argument that shares memory with another.
Each must be refused (source mode) or differentiated as NumPy runs it (the tape, in auto), never
dropped. Regression tests for the second adversarial probe (F08, F16/F17, F20)."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from tests import programs


@pytest.mark.parametrize("call", [
    "np.multiply(c, 5.0, out=c)", "np.exp(a, out=c)", "np.multiply(c, 5.0, c)",
    "np.negative(c, c)", "np.clip(a, 0.0, 1.0, out=c)", "np.copyto(c, a * a)",
    "np.put(c, [0], 5.0)", "np.dot(a, a, c[:1].reshape(()))", "c.cumsum(out=c)",
    "np.add.at(c, [0, 0], a[:2])",
])
def test_a_write_into_an_argument_is_refused_never_dropped(make_module, call, jit):
    module = make_module("writes_out", f"""
        import numpy as np

        def f(a):
            c = a * 1.0
            w = {call}
            return np.sum(c * a)
    """)
    x = np.array([1.0, 2.0, -3.0, 0.5])
    with pytest.raises(srcad.UnsupportedError, match="writes into an argument"):
        srcad.grad(module.f, mode="source", jit=jit)(x)


@pytest.mark.parametrize("call", ["np.fill_diagonal(c, 0.0)", "np.exp(a, out=c)"])
def test_a_statement_writing_into_an_argument_is_refused_as_the_write_it_is(make_module, call):
    """(a helper's probe: its message advised removing the statement, which changes c)"""
    module = make_module("writes_statement", f"""
        import numpy as np

        def f(a):
            c = np.outer(a, a)
            {call}
            return np.sum(c * a)
    """)
    with pytest.raises(srcad.UnsupportedError, match="writes into an argument .* compute the new"):
        srcad.grad(module.f, mode="source")(np.array([1.0, 2.0, -3.0]))


def test_auto_differentiates_a_write_through_out_on_the_tape(make_module):
    module = make_module("writes_out_auto", """
        import numpy as np

        def f(a):
            c = a * 1.0
            np.multiply(c, 5.0, out=c)
            return np.sum(c * a)
    """)
    x = np.array([1.0, 2.0, -3.0, 0.5])
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(module.f)(x), 10.0 * x)


VIEWS = ["np.squeeze(c)", "np.expand_dims(c, 0)[0]", "np.swapaxes(c, 0, 0)",
         "np.moveaxis(c, 0, 0)", "np.flip(c)", "np.real(c)", "np.split(c, 2)[0]",
         "np.asanyarray(c)", "np.array(c, copy=False)", "np.broadcast_to(c, (4,))",
         "np.atleast_1d(c)"]  # (np.atleast_1d, now a kernel of srcad's, gave a wrong gradient)


@pytest.mark.parametrize("view", VIEWS)
def test_a_write_through_a_view_a_numpy_function_returns_is_refused(make_module, view, jit):
    module = make_module("writes_view", f"""
        import numpy as np

        def f(a):
            c = a * 1.0
            b = {view}
            b[0] = b[0] * 5.0
            return np.sum(c * c)
    """)
    with pytest.raises(srcad.AliasingError):
        srcad.grad(module.f, mode="source", jit=jit)(np.array([1.0, 2.0, -3.0, 0.5]))


def test_flatten_copies_so_a_write_into_its_result_compiles(make_module, rng, jit):
    module = make_module("writes_flatten", """
        import numpy as np

        def f(A):
            c = A * 1.0
            b = c.flatten()
            b[0] = b[0] * 5.0
            return np.sum(c * c) + np.sum(b * A.ravel())
    """)
    A = rng.uniform(-1.0, 1.0, (2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        grads = srcad.grad(module.f, mode="source", jit=jit)(A)
    check.compare(module.f, (A,), [0], (grads,))


G = np.array([1.0, 2.0])


def writes_x_reads_y(x, y):
    x[0] = x[0] * y[0]
    return np.sum(x * y)


def writes_x_reads_global(x):
    x[0] = 3.0 * x[1]
    return np.sum(x * G)


def scales_x_in_place_reads_y(x, y):
    x *= 2.0  # (NumPy's: in the caller's array, which y may be)
    return np.sum(x * y)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_written_argument_sharing_memory_with_another_is_refused(mode, jit):
    z = np.array([2.0, 3.0])
    with pytest.raises(srcad.AliasingError, match="shares memory with 'y'"):
        srcad.value_and_grad(writes_x_reads_y, wrt=(0, 1), mode=mode, jit=jit)(z, z)
    # (x *= 2.0 of the whole array was differentiated as if y were another array: found by an
    # attack; with separate arrays it is the function's gradient)
    with pytest.raises(srcad.AliasingError, match="shares memory with 'y'"):
        srcad.value_and_grad(scales_x_in_place_reads_y, wrt=(0, 1), mode=mode, jit=jit)(z, z)
    grads = srcad.grad(scales_x_in_place_reads_y, wrt=(0, 1), mode=mode, jit=jit)(z, z.copy())
    np.testing.assert_allclose(grads, (2.0 * z, 2.0 * z))
    with pytest.raises(srcad.AliasingError, match="shares memory with 'G'"):
        srcad.grad(writes_x_reads_global, mode=mode, jit=jit)(G)
    assert G.tolist() == [1.0, 2.0]


def writes_a_reads_b(p):
    p["a"][0] = 2.0 * p["a"][1]
    return np.sum(p["a"] * p["b"])


def test_the_tape_refuses_a_written_argument_sharing_memory_with_another():
    z = np.array([2.0, 3.0])
    with pytest.raises(srcad.AliasingError, match="shares memory with its argument 'y'"):
        srcad.value_and_grad(writes_x_reads_y, wrt=(0, 1), mode="tape")(z, z)
    # (a leaf of a structured argument, and a global the function reads, gave the numbers of
    # separate arrays: 19.0 for NumPy's 28.0, and 28.0 for 56.0; found by an attack)
    a = np.arange(1.0, 4.0)
    with pytest.raises(srcad.AliasingError, match=r"'p\['a'\]', which shares memory with its "
                                                  r"argument 'p\['b'\]'"):
        srcad.value_and_grad(writes_a_reads_b, mode="tape")({"a": a, "b": a[::-1]})
    with pytest.raises(srcad.AliasingError, match="shares memory with the global 'G'"):
        srcad.grad(writes_x_reads_global, mode="tape")(G)
    assert G.tolist() == [1.0, 2.0]
    value, _ = srcad.value_and_grad(writes_a_reads_b, mode="tape")({"a": a, "b": a.copy()})
    assert value == writes_a_reads_b({"a": a.copy(), "b": a.copy()})


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", True)])
def test_a_read_only_argument_written_in_place_is_numpys_error(mode, jit, rng):
    """Found by an attack: the gradient wrote into its copy of a read-only argument, where the
    function itself raises."""
    x, y = rng.uniform(0.5, 1.5, 2), rng.uniform(0.5, 1.5, 2)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        scales_x_in_place_reads_y(x, y)
    for wrt in ((0, 1), 1):
        with pytest.raises(ValueError, match="writes into its argument 'x', which is read-only"):
            srcad.grad(scales_x_in_place_reads_y, wrt=wrt, mode=mode, jit=jit)(x, y)
    grads = srcad.grad(scales_x_in_place_reads_y, wrt=1, mode=mode, jit=jit)(y, x)
    np.testing.assert_allclose(grads, 2.0 * y)  # (x read only: nothing to refuse)


def test_separate_arguments_with_the_same_values_are_differentiated(rng, jit):
    x = rng.uniform(0.5, 1.5, 2)
    grads = srcad.grad(writes_x_reads_y, wrt=(0, 1), mode="source", jit=jit)(x, x.copy())
    check.compare(writes_x_reads_y, (x, x.copy()), [0, 1], grads)


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", True)])
def test_the_norm_of_an_array_with_a_nan_has_a_nan_gradient(mode, jit):
    x = np.array([np.nan, 1.0, 2.0, 3.0])
    for ord in (None, 3):
        g = srcad.grad(lambda x, ord=ord: np.linalg.norm(x, ord), mode=mode, jit=jit)(x)
        assert np.isnan(g).all()


def _norms(x):
    return np.linalg.norm(x) + np.linalg.norm(x, 3) + np.sum(np.linalg.norm(x[None], axis=1))


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", True)])
def test_the_norm_of_tiny_or_huge_entries_has_its_gradient(mode, jit):
    """NumPy's value under- or overflows (0.0, inf), the derivative does not: the gradient
    was 0 (or x itself on the tape) where it is x / |x| (found by an attack)."""
    direction = np.array([3.0, -4.0, 1.0])
    expected = direction / np.linalg.norm(direction) * 2.0 + \
        np.sign(direction) * direction ** 2 / np.linalg.norm(direction, 3) ** 2
    for scale in (1e-200, 1e200):
        g = srcad.grad(_norms, mode=mode, jit=jit)(direction * scale)
        np.testing.assert_allclose(g, expected, rtol=1e-14)


def test_messages_show_the_users_expressions_not_temporaries(make_module):
    module = make_module("messages_origins", """
        import numpy as np

        def f(x):
            return np.sum(x[np.array([0, 5])])

        def g(x):
            y = np.zeros(0)
            for i in range(len(x)):
                y = np.unwrap(y + x[i] * x[i])
            return np.sum(y)

        def grown(x):
            y = np.zeros(0)
            for i in range(len(x)):
                y = np.append(y, x[i] * x[i])
            return np.sum(y * y)

        def row_written_through_a_view(h, x):
            for i in range(h.shape[0]):
                h[i][:] = np.tanh(x * h[i])
            return np.sum(h)
    """)
    with pytest.raises(srcad.AliasingError, match=r"a write into 'h\[i\]' changes 'h'.* index "
                                                  r"the array itself: x\[i, :\] = v"):
        srcad.grad(module.row_written_through_a_view, mode="source")(np.ones((2, 3)), np.ones(3))
    with pytest.raises(IndexError, match=r"x\[np.array\(\[0, 5\]\)\] at messages_origins.py:5"):
        srcad.grad(module.f, mode="source")(np.ones(3))
    with pytest.raises(srcad.UnsupportedError, match=r"np.unwrap\(y \+ x\[i\] \* x\[i\]\)"):
        srcad.grad(module.g, mode="source")(np.ones(3))
    x = np.random.default_rng(0).normal(size=4)  # (np.append has a rule now)
    np.testing.assert_allclose(srcad.grad(module.grown, mode="source")(x), 4 * x ** 3)



@pytest.mark.parametrize("fn", [programs.overlapping_slice_update,
                                programs.overlapping_update_by_an_expression,
                                programs.slices_of_a_matrix_updated_in_a_loop],
                         ids=lambda f: f.__name__)
def test_a_slice_updated_from_its_own_array_reads_before_writing(fn, rng):
    """`y[1:] += y[:-1] * 1.0` folds to a view of y: compiled, it must not be updated in place
    (Numba's in-place update reads what it has already written); value, gradient and jvp."""
    x = rng.uniform(-1.0, 1.0, 5)
    value, grad = srcad.value_and_grad(fn)(x)
    assert value == pytest.approx(fn(x.copy()), rel=1e-12)
    np.testing.assert_allclose(grad, check.numeric_grad(fn, (x,), 0), rtol=1e-6, atol=1e-8)
    t = rng.normal(size=5)
    primal, tangent = srcad.jvp(fn, (x,), (t,))
    assert primal == pytest.approx(value, rel=1e-12)
    assert tangent == pytest.approx(np.dot(grad, t), rel=1e-9, abs=1e-10)


def stored_into_itself(x):
    y = x.copy()
    y[:] = y
    y[::-1] = y
    return np.sum(y * np.arange(5.0))


def updated_through_an_ellipsis(x):
    Y = np.outer(x, x[::-1])
    Y[...] += Y.T
    Y[0, ...] += Y[::-1, 0]
    y = x.copy()
    y[...] += y[::-1]
    return np.sum(Y * np.arange(25.0).reshape(5, 5)) + np.sum(y * y)


def rows_of_views(x):
    return np.sum(np.array([x[:2], x[1:3], x[3:]]) ** 2)


@pytest.mark.parametrize("fn", [stored_into_itself, updated_through_an_ellipsis, rows_of_views],
                         ids=lambda f: f.__name__)
def test_stores_of_an_array_into_itself(fn, jit, rng):
    """`y[:] = y` (the adjoint of y was added to itself, then zeroed: a zero gradient),
    `y[...] += y[::-1]` (compiled in place over overlapping memory: wrong values), a literal
    of views (did not compile): found by an attack."""
    x = rng.uniform(-1.0, 1.0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, grad = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
        primal, tangent = srcad.jvp(fn, (x,), (np.ones(5),), jit=jit)
    assert value == pytest.approx(fn(x.copy()), rel=1e-12) and primal == pytest.approx(value)
    np.testing.assert_allclose(grad, check.numeric_grad(fn, (x,), 0), rtol=1e-6, atol=1e-8)
    assert tangent == pytest.approx(np.sum(grad), rel=1e-9, abs=1e-10)


def update_from_a_longer_slice(x, n):
    y = x * 1.0
    y[1:n] += y[:n - 1] * 2.0
    return np.sum(y * y)


def test_an_update_by_a_longer_array_raises_numpys_error(jit):
    """Numba's in-place `y[1:n] += v` reads part of a longer v silently (a number where NumPy
    raises): found by probing out-of-range slice bounds."""
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(ValueError):
        update_from_a_longer_slice(x, 7)
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        srcad.grad(update_from_a_longer_slice, jit=jit, mode="source")(x, 7)
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        srcad.jvp(update_from_a_longer_slice, (x, 7), (np.ones(3), None), jit=jit)
    grad = srcad.grad(update_from_a_longer_slice, jit=jit)(x, 2)
    np.testing.assert_allclose(grad, check.numeric_grad(update_from_a_longer_slice, (x, 2), 0),
                               rtol=1e-6)


def second_name_then_in_place(x):
    y = x
    x += 1.0  # (NumPy: into the 0-d array y holds too)
    return y * x


def previous_value_in_a_loop(x):
    s = 0.0
    for k in range(3):
        last = s
        s += x * k  # (a number: last keeps the value it had)
    return s * last


@pytest.mark.parametrize("transform", [
    lambda f, x: srcad.value_and_grad(f, mode="source")(x),
    lambda f, x: srcad.vjp(f, x, mode="source")[1](1.0),
    lambda f, x: srcad.jvp(f, (x,), (np.ones(()),), mode="source"),
    lambda f, x: srcad.grad(srcad.grad(f))(x)], ids=["grad", "vjp", "jvp", "grad_of_grad"])
def test_a_0d_array_updated_in_place_under_a_second_name_is_refused(transform, rng):
    """Found by an attack: srcad takes a 0-d array as the number it holds, where NumPy's `x +=`
    changes the array y also names: the value was x * (x + 1) for (x + 1) ** 2."""
    x = rng.uniform(0.5, 1.5)
    with pytest.raises(srcad.AliasingError, match="'x' changes 'y' when they hold a 0-d array"):
        transform(second_name_then_in_place, np.array(x))
    # a number: nothing is shared
    value, g = srcad.value_and_grad(second_name_then_in_place)(x)
    assert (value, g) == pytest.approx((x * (x + 1.0), 2.0 * x + 1.0), rel=1e-12)
    # a 0-d array whose function updates in place only names that hold numbers
    value, g = srcad.value_and_grad(previous_value_in_a_loop)(np.array(x))
    assert (value, g) == pytest.approx((3.0 * x * x, 6.0 * x), rel=1e-12)


def test_a_0d_array_updated_in_place_under_a_second_name_runs_on_the_tape_in_forward_mode(rng):
    """mode="auto": the tape updates the 0-d array in place as NumPy does: (x + 1) ** 2."""
    x = rng.uniform(0.5, 1.5)
    with pytest.warns(srcad.FallbackWarning, match="when they hold a 0-d array"):
        value, tangent = srcad.jvp(second_name_then_in_place, (np.array(x),), (np.ones(()),))
    assert (value, tangent) == pytest.approx(((x + 1.0) ** 2, 2.0 * (x + 1.0)), rel=1e-12)
    with pytest.warns(srcad.FallbackWarning, match="when they hold a 0-d array"):
        jacobian = srcad.jacobian(second_name_then_in_place, mode="fwd")(np.array(x))
    assert jacobian == pytest.approx(2.0 * (x + 1.0), rel=1e-12)


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_0d_array_updated_in_place_under_a_second_name_runs_on_the_tape(mode, rng):
    """The tape updates a 0-d array argument in place, as NumPy does (it took it for a NumPy
    scalar, which `+=` rebinds: the value was x * (x + 1) for (x + 1) ** 2); mode="auto" runs
    such a call there."""
    x = rng.uniform(0.5, 1.5)
    expected = ((x + 1.0) ** 2, 2.0 * (x + 1.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, g = srcad.value_and_grad(second_name_then_in_place, mode=mode)(np.array(x))
        assert (value, g) == pytest.approx(expected, rel=1e-12)
        assert type(g) is np.ndarray and g.ndim == 0
        value, pullback = srcad.vjp(second_name_then_in_place, np.array(x), mode=mode)
        assert (value, pullback(-2.0)) == pytest.approx((expected[0], -2.0 * expected[1]))
        if mode == "auto":  # (a Jacobian by vjps; second derivatives: d2/dx2 (x + 1)^2 = 2)
            assert srcad.jacobian(second_name_then_in_place, mode="rev")(np.array(x)) == \
                pytest.approx(expected[1], rel=1e-12)
            assert srcad.hvp(second_name_then_in_place)(np.array(x), np.array(0.5)) == \
                pytest.approx(1.0, rel=1e-12)
            assert srcad.hessian(second_name_then_in_place)(np.array(x)) == \
                pytest.approx(2.0, rel=1e-12)
    if mode == "auto":
        assert all(issubclass(w.category, srcad.FallbackWarning) and
                   "'x' changes 'y' when they hold a 0-d array" in str(w.message)
                   for w in caught) and caught
    # a NumPy scalar is rebound, not changed: nothing is shared
    value, g = srcad.value_and_grad(second_name_then_in_place, mode=mode)(np.float64(x))
    assert (value, g) == pytest.approx((x * (x + 1.0), 2.0 * x + 1.0), rel=1e-12)


def store_into_a_0d_argument(x):
    x[...] = x * 2.0
    return x * x


def test_a_store_into_a_0d_argument_is_refused_by_name_and_taped_in_auto(rng, jit):
    """Found by an attack: an internal TypeError (item assignment into a NumPy float)."""
    x = rng.uniform(0.5, 1.5)
    with pytest.raises(srcad.UnsupportedError, match=r"test_writes.py:\d+: a store into 'x', "
                                                     "which holds a number"):
        srcad.grad(store_into_a_0d_argument, mode="source", jit=jit)(np.array(x))
    with pytest.warns(srcad.FallbackWarning, match="a store into 'x'"):
        value, g = srcad.value_and_grad(store_into_a_0d_argument, jit=jit)(np.array(x))
    assert (value, g) == pytest.approx((4.0 * x * x, 8.0 * x), rel=1e-12)


def test_later_calls_of_a_function_writing_into_an_argument_check_it_too(rng):
    """Such a gradient is called without the general path's 15-20 us once its types are seen;
    its checks of the written argument are made on every call."""
    g = srcad.value_and_grad(writes_x_reads_y, wrt=(0, 1), mode="source")
    x, y = rng.uniform(0.5, 1.5, 2), rng.uniform(0.5, 1.5, 2)
    for _ in range(2):
        value, grads = g(x, y)
        check.compare(writes_x_reads_y, (x, y), [0, 1], grads)
    assert g._recent is not None  # (the fast path ran)
    with pytest.raises(srcad.AliasingError, match="'x', which shares memory with 'y'"):
        g(x, x)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="writes into its argument 'x', which is read-only"):
        g(x, y)
