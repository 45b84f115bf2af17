"""Functions that do more than compute their result: print, change a global object, draw random
numbers. A gradient does what one call of the function does, once, with the draws the value used
(found by an attack, helper-151)."""

import io
import warnings

import numpy as np
import pytest

import srcad

LOG = {}
SINK = io.StringIO()
COUNTER = np.zeros(1)


def prints_and_records(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 2
        _ = print("trip", i)
        _ = LOG.update(last=i)
    return s


def writes_to_a_stream(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 2
        n = SINK.write("w%d\n" % i)  # noqa: UP031 (srcad's transform takes no f-string)
    return s


def prints(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 2
        _ = print("trip", i)
    return s


def prints_as_a_statement(x, n):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 2
        print(f"trip {i}/{n}: {s:.3f} {s * 0.0!r:>6} {n!s:<3}|")
    np.random.seed(5)
    return s * float(np.random.rand())


def test_a_print_kept_for_its_effect_runs_once_per_trip(rng, capsys):
    x = rng.standard_normal(3)
    _, grad = srcad.value_and_grad(prints)(x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-14)
    assert capsys.readouterr().out == "trip 0\ntrip 1\ntrip 2\n"


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_calls_made_for_their_effect_and_f_strings(jit, rng, capsys):
    """A call statement made for its effect (`print(...)`, `np.random.seed(5)`) is the call
    (it was refused: the function ran on the tape, printing tensors) and an f-string is the
    text Python makes (it was refused too); compiled, format() runs as generated Python."""
    x = rng.standard_normal(3)
    prints_as_a_statement(x, 3)
    printed = capsys.readouterr().out
    np.random.seed(5)
    weight = np.random.rand()
    with warnings.catch_warnings():  # (compiled: Numba has no format(): the generated Python)
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        value, grad = srcad.value_and_grad(prints_as_a_statement, jit=jit)(x, 3)
    assert capsys.readouterr().out == printed
    assert value == pytest.approx(np.sum(x ** 2) * weight, rel=1e-14)
    np.testing.assert_allclose(grad, 2 * x * weight, rtol=1e-14)


def shuffles(x):
    y = x * 1.0
    np.random.shuffle(y)
    return np.sum(y * np.arange(3.0))


def test_a_shuffle_of_a_differentiated_array_is_refused_by_name(rng):
    """(found reviewing helper-151's cases: `_ = np.random.shuffle(y)` permuted y unseen by
    the transform: the gradient was the unshuffled one)"""
    with pytest.raises(srcad.UnsupportedError, match="writes into an argument"):
        srcad.grad(shuffles, mode="source")(rng.standard_normal(3))


def test_a_call_kept_for_its_effect_runs_once_per_trip(rng, capsys):
    """`_ = print(...)` and `_ = d.update(...)` were removed as dead code; `n = stream.write(...)`
    regenerated the gradient forever (each read of a builtin method is a new object). (Numba
    cannot call a dict's or a stream's methods: these run as generated Python.)"""
    x = rng.standard_normal(3)
    LOG.clear()
    _, grad = srcad.value_and_grad(prints_and_records, jit=False)(x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-14)
    assert capsys.readouterr().out == "trip 0\ntrip 1\ntrip 2\n" and LOG == {"last": 2}
    SINK.seek(0)
    SINK.truncate()
    _, grad = srcad.value_and_grad(writes_to_a_stream, jit=False)(x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-14)
    assert SINK.getvalue() == "w0\nw1\nw2\n"


def counts_its_calls(x):
    COUNTER[0] += 1.0
    return np.sum(x ** 2) * COUNTER[0]


def draws_weights(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i] * float(np.random.rand())
    return s


def draws_in_parallel(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += np.sin(x[i]) * float(np.random.rand())
    return s


def test_a_vjp_of_a_function_with_effects_records_it_once(rng):
    """The pullback of the source transform runs the function again: the global's update was
    applied again to the copy it kept (the gradient drifted from pullback to pullback), new
    numbers were drawn. Such a vjp runs on the tape, saying why."""
    x = rng.standard_normal(3)
    COUNTER[:] = 0.0
    with pytest.warns(srcad.FallbackWarning, match="writes into an array it reads from outside"):
        value, pullback = srcad.vjp(counts_its_calls, x)
    assert COUNTER[0] == 1.0 and value == pytest.approx(np.sum(x ** 2), rel=1e-14)
    for _ in range(2):
        np.testing.assert_allclose(pullback(1.0), 2 * x, rtol=1e-14)
    np.random.seed(7)
    with pytest.warns(srcad.FallbackWarning, match=r"draws random numbers \(np.random.rand"):
        value, pullback = srcad.vjp(draws_weights, x)
    np.random.seed(7)
    weights = np.random.rand(3)
    assert value == pytest.approx(np.sum(weights * x * x), rel=1e-14)
    for _ in range(2):
        np.testing.assert_allclose(pullback(1.0), 2 * weights * x, rtol=1e-14)
    with pytest.raises(srcad.UnsupportedError, match="mode='tape' records it once"):
        srcad.vjp(draws_weights, x, mode="source")


def test_columns_that_would_draw_again_are_refused(rng, capsys):
    x = rng.standard_normal(3)
    with pytest.raises(srcad.UnsupportedError, match="each would do it again"):
        srcad.hessian(draws_weights)(x)
    for mode in ("auto", "fwd", "rev"):  # (refused before it runs: the forward Jacobian's
        with pytest.raises(srcad.UnsupportedError, match="each would do it again"):  # printed
            srcad.jacobian(prints, mode=mode)(x)  # twice first, found by an attack)
    assert capsys.readouterr().out == ""
    with pytest.raises(srcad.UnsupportedError, match="an hvp's would not reach it"):
        srcad.hvp(counts_its_calls)(x, x)


@pytest.mark.parametrize("parallel", [False, True])
def test_draws_are_numpy_s_and_the_gradient_is_theirs(parallel, rng):
    """Compiled code drew from Numba's own generator (np.random.seed did not reach it: another
    value than the function's); with parallel=True a chunk's reverse sweep drew again. Such a
    function runs as generated Python, its loops serially."""
    x = rng.standard_normal(40)
    np.random.seed(3)
    expected = draws_in_parallel(x)
    np.random.seed(3)
    value, grad = srcad.value_and_grad(draws_in_parallel, parallel=parallel)(x)
    np.random.seed(3)
    weights = np.random.rand(40)
    assert value == expected
    np.testing.assert_allclose(grad, np.cos(x) * weights, rtol=1e-14)
    explained = str(srcad.explain(draws_in_parallel, x, parallel=parallel))
    assert "source+python: it draws random numbers" in explained
    if parallel:
        assert "which a chunk's reverse sweep would do again" in explained


def prints_its_numbers(x, n):
    a = x[0] * 3
    print(a, n)
    print(f"{a} {n} {n!r} {a=} {x[1]!r:>24}|", repr(a * x[1]))
    return a * x[1]


def prints_a_repr(x):
    print(repr(x[0] * x[1]))
    return x[0] * x[1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_printed_numbers_are_pythons_text_in_the_arguments_precision(dtype, rng, capsys):
    """(found by an attack: with jit=True, repr() printed '<object type:float64>'; an f-string
    of a float32 made the float32 function compute in float64 (its value changed), and
    printed str(a), not format(a); Numba printed a float32 as the float64 it converted it to)"""
    x = rng.standard_normal(2).astype(dtype)
    expected_value = x[0] * 3 * x[1]
    capsys.readouterr()
    prints_its_numbers(x, 4)
    expected = capsys.readouterr().out
    for jit in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", srcad.FallbackWarning)  # (Python's text)
            value, grad = srcad.value_and_grad(prints_its_numbers, jit=jit)(x, 4)
        assert capsys.readouterr().out == expected
        assert value == float(expected_value)
        np.testing.assert_allclose(grad, [3 * x[1], 3 * x[0]], rtol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", srcad.FallbackWarning)
            np.testing.assert_allclose(srcad.grad(prints_a_repr, jit=jit)(x), x[::-1])
        assert capsys.readouterr().out == f"{x[0] * x[1]!r}\n"


def prints_on_the_tape(x, y):
    s = x * y
    t = np.sum(np.sin(x))
    print(s, repr(s), str(t), repr(t), f"{s!r} {t=}", x.shape, x.dtype, repr(x.dtype), x[0] > 0)
    print("%.2f %r" % (t, t), "{:.1f}".format(t),  # noqa: UP031, UP032 (what is tested)
          (y * 2.0).hex(), (y * 2.0).is_integer())
    return t * y


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_a_function_on_the_tape_prints_what_it_prints_without(mode, rng, capsys):
    """(found by an attack: the tape printed tensor(...), srcad.Size([2]) and srcad.float64
    where the function printed numbers, a shape and a dtype; "%.2f" % t raised
    DroppedGradientError; y.hex() an AttributeError)"""
    x = rng.standard_normal(3)
    capsys.readouterr()
    prints_on_the_tape(x, 1.5)
    expected = capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        grad = srcad.grad(prints_on_the_tape, wrt=(0, 1), mode=mode)(x, 1.5)
    assert capsys.readouterr().out == expected
    np.testing.assert_allclose(grad[0], 1.5 * np.cos(x), rtol=1e-14)
    assert grad[1] == pytest.approx(np.sum(np.sin(x)), rel=1e-14)
