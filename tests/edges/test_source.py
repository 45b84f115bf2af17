"""What srcad parses is the function that runs: decorators, edited files, lambdas on one line,
names that cannot be spliced into generated code, and gradients of gradients."""

import functools
import math
import warnings

import numpy as np
import pytest

import srcad
from srcad import FallbackWarning, UnsupportedError


def twice(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return 2.0 * fn(x)
    return wrapper


@twice
def doubled_square(x):
    return x * x


def test_a_wraps_decorator_is_differentiated_as_the_wrapper(jit):
    assert srcad.value_and_grad(doubled_square, jit=jit)(3.0) == (18.0, 12.0)
    assert srcad.value_and_grad(doubled_square, mode="tape")(3.0) == (18.0, 12.0)


def cube(x):
    return x ** 3


@pytest.mark.parametrize("mode", ["auto", "source"])
def test_grad_of_grad_is_generated(mode):
    assert srcad.grad(srcad.grad(cube, mode=mode), mode=mode)(2.0) == pytest.approx(12.0)


def test_grad_of_grad_on_the_tape_when_asked(rng):
    x = float(rng.uniform(0.5, 2.0))
    assert srcad.grad(srcad.grad(cube, mode="tape"))(x) == pytest.approx(6 * x, rel=1e-12)
    assert srcad.grad(srcad.grad(cube), mode="tape")(x) == pytest.approx(6 * x, rel=1e-12)
    third = srcad.value_and_grad(srcad.grad(srcad.grad(cube, mode="tape")))
    assert third(x) == (pytest.approx(6 * x, rel=1e-12), pytest.approx(6.0, rel=1e-12))


def repeated_product(x, n):
    if n == 0:
        return 1.0
    return x * repeated_product(x, n - 1)


def recursive(x, y, p):
    return repeated_product(x, 4) * math.sin(y) + np.sum(p["w"] ** 2) * x * y


def test_grad_of_grad_falls_back_to_the_tape_where_the_source_cannot(rng):
    """Recursion: mode="auto" runs each derivative on the tape, recorded as it is computed;
    mode="source" refuses, naming the construct."""
    x, y = rng.uniform(0.5, 1.5, 2)
    p = {"w": rng.normal(size=3)}
    s = np.sum(p["w"] ** 2)
    with pytest.warns(srcad.FallbackWarning, match="recursive call"):
        dxx = srcad.grad(srcad.grad(recursive))(x, y, p)
    assert dxx == pytest.approx(12 * x ** 2 * math.sin(y), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        value, (dxy, dxp) = srcad.value_and_grad(srcad.grad(recursive), wrt=(1, 2))(x, y, p)
        dxxy = srcad.grad(srcad.grad(srcad.grad(recursive)), wrt=1)(x, y, p)
    assert value == pytest.approx(4 * x ** 3 * math.sin(y) + s * y, rel=1e-12)
    assert dxy == pytest.approx(4 * x ** 3 * math.cos(y) + s, rel=1e-12)
    np.testing.assert_allclose(dxp["w"], 2 * p["w"] * y, rtol=1e-12)
    assert dxxy == pytest.approx(12 * x ** 2 * math.cos(y), rel=1e-12)
    with pytest.raises(UnsupportedError, match="recursive call"):
        srcad.grad(srcad.grad(recursive), mode="source")(x, y, p)
    with pytest.raises(TypeError, match="with respect to 'n': it is a value of type int"):
        srcad.grad(srcad.grad(repeated_product), wrt=1)(x, 3)  # (found by an attack: a number)
    assert "runs on the runtime tape" in srcad.source(srcad.grad(srcad.grad(recursive)),
                                                      x, y, p)
    # (found by an attack: hvp and hessian raised, a forward jacobian's an AttributeError)
    for transform, call_args in ((srcad.hvp, (x, y, p, 0.5)), (srcad.hessian, (x, y, p)),
                                 (functools.partial(srcad.jacobian, mode="fwd"), (x, y, p))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)
            text = srcad.source(transform(recursive), *call_args)
        assert text.startswith("# ") and "runs on the runtime tape" in text, text


def calls_a_gradient(x):
    return INNER(x) * x  # noqa: F821 (set below)


INNER = srcad.grad(cube)


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_a_gradient_called_inside_a_differentiated_function_is_refused(mode):
    with pytest.raises(UnsupportedError), warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)  # (auto: the tape tries, and refuses)
        srcad.grad(calls_a_gradient, mode=mode)(2.0)


def test_a_file_edited_after_import_is_not_trusted(make_module):
    module = make_module("edited_model", """
        def f(x):
            return x * x
    """)
    module.__path_for_test__.write_text("def f(x):\n    return x * x * x\n")
    with pytest.warns(FallbackWarning, match="not the code that runs"):
        assert srcad.grad(module.f)(3.0) == 6.0  # the tape runs the code that is loaded
    with pytest.raises(UnsupportedError, match="not the code that runs"):
        srcad.grad(module.f, mode="source")(3.0)


def test_lines_inserted_above_do_not_select_another_function(make_module):
    module = make_module("shifted_model", """
        def g(x):
            return x * x * x

        def f(x):
            return x * x
    """)
    text = module.__path_for_test__.read_text()
    module.__path_for_test__.write_text("\n\n\n" + text)
    with pytest.warns(FallbackWarning):
        assert srcad.grad(module.f)(3.0) == 6.0


def test_two_lambdas_on_one_line(jit):
    sq = lambda x: x * x; cb = lambda x: x ** 3  # noqa: E702, E731
    assert srcad.grad(sq, jit=jit)(3.0) == 6.0
    assert srcad.grad(cb, jit=jit)(3.0) == 27.0
    assert "def cb_grad(" in srcad.source(srcad.grad(cb))


make_power = lambda k: (lambda x: x ** k)  # noqa: E731
with_a_default = lambda x, g=(lambda x: x ** 3): x ** 2  # noqa: E731


def test_a_lambda_inside_or_beside_another_on_its_line_is_the_one_read(rng):
    """(found by an attack: the outer lambda, which holds the inner one's code, was taken for
    it, and the source transform refused or crashed)"""
    cube, x = make_power(3), float(rng.uniform(0.5, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)
        assert srcad.jvp(cube, (x,), (1.0,))[1] == pytest.approx(3 * x ** 2)
        assert srcad.grad(srcad.grad(cube))(x) == pytest.approx(6 * x)
        default = with_a_default.__defaults__[0]
        assert srcad.grad(srcad.grad(default))(x) == pytest.approx(6 * x)


def test_a_crafted_name_never_reaches_generated_code():
    def f(x):
        return x * 2.0
    f.__name__ = "f():\n    import os\n    os._exit(3)\ndef g"
    f.__qualname__ = f.__name__
    g = srcad.grad(f)
    assert g(1.0) == 2.0
    assert "os._exit" not in srcad.source(g)


def test_a_source_path_with_a_newline_is_escaped(tmp_path, monkeypatch):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "a\nimport os; os._exit(7)\n"
    folder.mkdir()
    path = folder / "model.py"
    path.write_text("def f(x):\n    return x * 3.0\n")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    import linecache
    linecache.checkcache(str(path))
    g = srcad.grad(namespace["f"], cache=True)
    assert g(1.0) == 3.0
    text = g._last.generated.path.read_text()
    assert "\nimport os; os._exit(7)" not in text


def sqrt_at_zero(x):
    return math.sqrt(x)


def power_half(x):
    return x ** 0.5


def power(x, y):
    return x ** y


@pytest.mark.parametrize("mode", ["source+numba", "source+python", "tape"])
def test_singular_points_give_numpy_numbers_in_every_mode(mode):
    kw = {"source+numba": {}, "source+python": {"jit": False}, "tape": {"mode": "tape"}}[mode]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert srcad.value_and_grad(sqrt_at_zero, **kw)(0.0) == (0.0, np.inf)
        assert srcad.value_and_grad(power_half, **kw)(0.0) == (0.0, np.inf)
        value, nan = srcad.value_and_grad(sqrt_at_zero, **kw)(-1.0)
        assert np.isnan(value) and np.isnan(nan)
        # d(x ** y)/dy is 0 at x = 0 (y > 0), and d(x ** 0)/dx is 0, as JAX gives
        assert srcad.grad(power, wrt=(0, 1), **kw)(0.0, 2.0) == (0.0, 0.0)
        assert srcad.grad(power, wrt=(0, 1), **kw)(0.0, 0.0)[0] == 0.0


def test_a_dtype_numba_cannot_compile_does_not_demote_float64_calls():
    def f(x):
        return x * x
    g = srcad.grad(f)
    with pytest.raises(TypeError, match="float64 and float32"):
        g(np.longdouble(2.0))
    assert g(np.float64(2.0)) == 4.0 and g._last.mode == "source+numba"
    assert g(np.array(3.0)) == 6.0 and g._last.mode == "source+numba"  # a 0-d array
    with pytest.raises(TypeError, match="float16"):
        g(np.ones(3, np.float16))
    with pytest.raises(TypeError, match="complex"):
        g(np.ones(3, np.complex128))


def test_the_transform_runs_no_user_code():
    calls = []

    class Callable:
        def __call__(self, v):
            calls.append(v)
            return v

    helper = Callable()

    def f(x):
        return helper(x) * x

    with pytest.warns(FallbackWarning):
        srcad.grad(f)(2.0)
    assert len(calls) == 1  # once, by the tape: never by the transform

    def noisy(x):
        return np.sum(x * np.random.rand(3))
    np.random.seed(0)
    with pytest.warns(FallbackWarning):
        srcad.grad(noisy)(np.ones(3))
    after = np.random.get_state()
    np.random.seed(0)
    np.random.rand(3)  # the one draw the function itself makes
    expected = np.random.get_state()
    assert after[2] == expected[2] and np.array_equal(after[1], expected[1])
