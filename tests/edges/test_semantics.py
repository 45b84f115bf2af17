"""Python's and NumPy's semantics, kept by the generated code in every mode: floating-point
edge cases (NumPy's: inf and nan, never an exception), builtin max/min with NaN, bools in
arithmetic, and the signatures and argument types srcad accepts or refuses."""

import functools
import math
import warnings

import numpy as np
import pytest
import scipy.special

import srcad
from srcad import UnsupportedError, check
from srcad.errors import UserCodeError

MODES = {"source+numba": {}, "source+python": {"jit": False}}


def value_and_grads(fn, args, wrt, **kw):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return srcad.value_and_grad(fn, wrt=wrt, **kw)(*args)


def inverse(x):
    return x ** -1


def divide_by_zero(x):
    return x / 0.0


def sine(x):
    return math.sin(x)


def same(a, b):
    return np.allclose(a, b, equal_nan=True)


def inverse_sum(x):
    return np.sum(x ** -1)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("fn, args, expected", [
    (inverse, (0.0,), (np.inf, -np.inf)),
    (inverse_sum, (np.array([0.0, 2.0]),), (np.inf, [-np.inf, -0.25])),
    (divide_by_zero, (1.0,), (np.inf, np.inf)),
    (sine, (math.inf,), (np.nan, np.nan)),
], ids=["x**-1 at 0", "x**-1 array", "x/0.0", "sin(inf)"])
def test_floating_point_edges_give_numpy_numbers(mode, fn, args, expected):
    value, grad = value_and_grads(fn, args, 0, **MODES[mode])
    assert same(value, expected[0]) and same(grad, expected[1])


def log_or_twice(x):
    try:
        y = math.log(x)
    except ValueError:
        y = 2 * x
    return y


def reciprocal_or_five_times(x):
    try:
        y = 1.0 / x
    except (KeyError, ArithmeticError):
        y = 5 * x
    return y


def lookup_or_square(x):
    try:
        y = x * x / 2.0
    except KeyError:
        y = x
    return y


def log_or_square(x):
    try:
        r = math.log(x)
    except Exception:  # noqa: BLE001 (waits for math's ValueError too)
        r = -x * x
    return r + x


@pytest.mark.parametrize("fn", [log_or_twice, reciprocal_or_five_times, log_or_square])
def test_a_try_waiting_for_an_arithmetic_error_is_refused(fn):
    # (it ran on the tape, where NumPy's semantics never raise: nan or inf, silently)
    with pytest.raises(UserCodeError, match="a try statement waiting for .* from arithmetic"):
        srcad.value_and_grad(fn, jit=False)(0.0)


def quotient_or_zero(x, k):
    try:
        q = 10 // k  # (an integer division by zero raises in every mode)
    except ZeroDivisionError:
        q = 0
    return x * q


def factor_or_sum(a):
    try:
        return np.sum(np.linalg.cholesky(a)) / 2.0
    except Exception:  # noqa: BLE001 (np.linalg.LinAlgError, which the tape raises)
        return np.sum(a)


def test_a_try_waiting_for_other_errors_runs_on_the_tape():
    a = np.array([[1.0, 2.0], [2.0, 1.0]])  # (not positive definite)
    with pytest.warns(srcad.FallbackWarning, match="a try statement is not supported"):
        grad = srcad.grad(factor_or_sum, jit=False)(a)
    assert np.array_equal(grad, np.ones((2, 2)))
    with pytest.warns(srcad.FallbackWarning, match="a try statement is not supported"):
        value, grad = srcad.value_and_grad(lookup_or_square, jit=False)(1.5)
    assert (value, grad) == (1.125, 1.5)
    for k, q in ((0, 0), (3, 3)):
        with pytest.warns(srcad.FallbackWarning, match="a try statement is not supported"):
            assert srcad.grad(quotient_or_zero, jit=False)(1.5, k) == q


def integer_reciprocals(x, k):
    return np.sum(x * k ** -1)


def reciprocal_of_an_element(x, k):
    return x[0] * k[0] ** -1


def inverse_squares(x, k):
    return np.sum(x * np.power(k, -2))


def reciprocal_of_a_numpy_integer(x, k):
    return x[0] * np.int64(2) ** -1


@pytest.mark.parametrize("fn", [integer_reciprocals, reciprocal_of_an_element, inverse_squares,
                                reciprocal_of_a_numpy_integer], ids=lambda f: f.__name__)
def test_numpy_integers_to_a_negative_power_raise_as_in_numpy(fn):
    x, k = np.ones(3), np.array([1, 2, 4])
    with pytest.raises(ValueError, match="negative integer powers"):
        fn(x, k)
    with pytest.raises(TypeError, match=r"test_semantics.py:\d+: NumPy's integers to a negative"):
        srcad.grad(fn)(x, k)
    assert srcad.grad(lambda x, n: x[0] * n ** -1)(x, 2)[0] == 0.5  # (Python's: a float)


def integer_power_of_a_variable(x, n, e):
    return x[0] * n ** e


def test_an_integer_to_a_variable_negative_power_is_pythons_float_or_an_error(jit):
    x = np.array([0.7, 0.3])
    gradient = srcad.value_and_grad(integer_power_of_a_variable, jit=jit, mode="source")
    assert gradient(x, 3, 2) == (6.3, pytest.approx([9.0, 0.0]))
    if jit:  # (compiled, the result is typed an integer: Numba's 2 ** -2 is 0)
        with pytest.raises(ValueError, match="negative integer power"):
            gradient(x, 2, -2)
    else:
        assert gradient(x, 2, -2) == (0.175, pytest.approx([0.25, 0.0]))


def counted_in_every_way(a, b):
    return ((a > 0.1) + (b > 0.2) + (~(a > b)) - (-(a < 0.0))) * a * b


@pytest.mark.parametrize("mode", list(MODES))
def test_comparisons_in_arithmetic_are_python_ints(mode, rng):
    for _ in range(4):
        a, b = (float(v) for v in rng.uniform(-1, 1, 2))
        value, grads = value_and_grads(counted_in_every_way, (a, b), (0, 1), **MODES[mode])
        k = counted_in_every_way(a, b) / (a * b)
        assert np.isclose(value, counted_in_every_way(a, b))
        assert np.allclose(grads, (k * b, k * a))


# Comparisons of array elements are NumPy bools: `+` is logical or, `*` logical and, `~` logical
# not (where Python's bools are ints: 2 and -2)
def element_not(x):
    return (~(x[0] > 0)) * x[1] ** 2 + x[1] ** 2


def element_or(x):
    return ((x[0] > 0) + (x[1] > 0)) * x[2] ** 2


def element_or_and_not(x):
    b = np.isnan(x[0]) + (x[1] > 0) * (x[2] > 0)
    return (~b) * x[0] ** 2 + b * x[1]


def element_any_in_a_loop(x):
    seen = x[0] > 0.5
    for i in range(1, x.shape[0]):
        seen = seen + (x[i] > 0.5)
    return (~seen) * x[0] ** 2 + seen * x[1]


def element_count_in_a_loop(x):
    n = 0
    for i in range(x.shape[0]):
        n = n + (x[i] > 0.0)
    return n * x[0] ** 2


def python_count_in_a_loop(x):
    c = 0
    for i in range(x.shape[0]):
        c = c + (i > 0) + (i > 1)
    return c * x[0] ** 2 + (~(len(x) > 1)) * x[1]


def element_bools_in_a_tuple(x):
    pair = (x[0] > 0, x[1] > 0)
    return (pair[0] + pair[1]) * x[2] ** 2


BOOL_PROGRAMS = [element_not, element_or, element_or_and_not, element_any_in_a_loop,
                 element_count_in_a_loop, python_count_in_a_loop, element_bools_in_a_tuple]


@pytest.mark.parametrize("fn", BOOL_PROGRAMS, ids=lambda f: f.__name__)
def test_bools_of_array_elements_are_numpy_bools_in_every_transform(fn, rng, jit):
    for _ in range(3):
        x = rng.uniform(-1, 1, 3)
        value, grad = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
        assert np.isclose(value, fn(x)) and np.allclose(grad, check.numeric_grad(fn, (x,), 0))
        v = rng.normal(size=3)
        assert np.allclose(srcad.jvp(fn, (x,), (v,), jit=jit), (fn(x), grad @ v))
    gradient = srcad.grad(fn, jit=jit)
    columns = [check.along(gradient, (x,), (e,)) for e in np.eye(3)]
    assert np.allclose(srcad.hessian(fn, jit=jit)(x), np.array(columns).T, atol=1e-5)


def element_difference(x):
    return ((x[0] > 0) - (x[1] > 0)) * x[0]


def element_negated(x):
    return -(x[0] > 0) * x[1]


def element_rounded(x):
    return round(x[0] > 0) * x[1]


@pytest.mark.parametrize("fn", [element_difference, element_negated, element_rounded],
                         ids=lambda f: f.__name__)
def test_what_numpy_refuses_on_bools_is_refused_with_the_line(fn):
    with pytest.raises(TypeError):
        fn(np.ones(2))
    with pytest.raises(TypeError, match=r"test_semantics.py:\d+: NumPy('s bools| does not)"):
        srcad.grad(fn)(np.ones(2))


def counted_from_a_scalar(x, a):
    return ((a > 0.5) + (a > 0.1) + (~(a > 0.3))) * x[0] ** 2


@pytest.mark.parametrize("scalar", [float, np.float64], ids=["python", "numpy"])
def test_bools_of_a_scalar_argument_follow_its_type(scalar, jit):
    x = np.array([0.6, 2.0])
    for a in (0.2, 0.4, 0.7):
        a = scalar(a)
        value, grad = srcad.value_and_grad(counted_from_a_scalar, mode="source", jit=jit)(x, a)
        assert np.isclose(value, counted_from_a_scalar(x, a))
        assert np.allclose(grad, check.numeric_grad(counted_from_a_scalar, (x, a), 0))


def python_or_numpy(x, n):
    b = n > 0
    if x[0] > 0:
        b = x[1] > 0
    return (~b) * x[0]


def test_a_bool_that_may_be_either_is_refused_by_name_or_left_to_the_tape():
    x = np.array([0.5, 2.0])
    with pytest.raises(UnsupportedError, match=r"`~` of bools that may be Python's or NumPy's"):
        srcad.grad(python_or_numpy, mode="source")(x, 1)
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(python_or_numpy)(x, 1)[0] == python_or_numpy(x, 1) / x[0]


def builtin_max(a, b):
    return max(a, b)


def builtin_min(a, b):
    return min(a, b)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("a, b", [(1.0, math.nan), (math.nan, 1.0), (2.0, 2.0), (1.0, 3.0)])
def test_builtin_max_and_min_follow_python_with_nan(mode, a, b):
    # Python's max(a, b) is b if b > a else a: the derivative goes to the one returned
    for fn, pick_b in ((builtin_max, b > a), (builtin_min, b < a)):
        value, grads = value_and_grads(fn, (a, b), (0, 1), **MODES[mode])
        assert same(value, fn(a, b)) and grads == ((0.0, 1.0) if pick_b else (1.0, 0.0))


def builtin_max3(a, b, c):
    return max(a, b, c)


def builtin_min4(a, b, c, d):
    return min(a, b, c, d)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("values", [(1.0, 3.0, 2.0, 0.5), (2.0, 2.0, 1.0, 2.0),
                                    (math.nan, 1.0, 4.0, 0.0), (1.0, math.nan, 1.0, 3.0)])
def test_builtin_max_and_min_of_more_than_two_follow_python(mode, values):
    """max(a, b, c) was refused ("takes at most 2 positional arguments", found by an attack):
    the derivative goes to the argument Python returns, the first of equal ones, NaN as
    Python's left-to-right comparisons place it."""
    for fn, args in ((builtin_max3, values[:3]), (builtin_min4, values)):
        value, grads = value_and_grads(fn, args, tuple(range(len(args))), **MODES[mode])
        # (Python's pick: the first argument that no later one beats)
        pick = 0
        for k in range(1, len(args)):
            if (args[k] > args[pick]) if fn is builtin_max3 else (args[k] < args[pick]):
                pick = k
        assert same(value, fn(*args))
        assert grads == tuple(1.0 if k == pick else 0.0 for k in range(len(args)))
        tangents = (0.5, 1.5, 2.5, 3.5)[:len(args)]
        assert srcad.jvp(fn, args, tangents, **MODES[mode])[1] == tangents[pick]
    assert srcad.hessian(builtin_max3, wrt=1)(1.0, 3.0, 2.0) == 0.0


def builtin_abs_of_an_array(x):
    return np.sum(abs(x[1:]) ** 1.5 * abs(x[1:] - x[:-1])) + np.sum(abs(x))


def test_builtin_abs_of_an_array_compiles(rng):
    """Numba types abs() of numbers only: the whole gradient fell back to Python with a warning
    naming nothing (found by an attack)."""
    x = rng.uniform(-1, 1, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        grad = srcad.grad(builtin_abs_of_an_array)(x)
        _, tangent = srcad.jvp(builtin_abs_of_an_array, (x,), (np.ones(7),))
    check.compare(builtin_abs_of_an_array, (x,), [0], (grad,), rtol=1e-6)
    assert tangent == pytest.approx(np.sum(grad))


def counted(x):
    return ((x > 0.5) + (x > 0.1)) * x


@pytest.mark.parametrize("mode", list(MODES))
def test_scalar_bools_add_as_ints(mode):
    assert value_and_grads(counted, (0.7,), 0, **MODES[mode]) == (counted(0.7), 2.0)


def keyword_only(x, *, scale=2.0):
    return scale * x * x


def positional_only(x, y, /):
    return x * y * y


def test_keyword_and_positional_only_parameters(jit):
    assert srcad.grad(keyword_only, jit=jit)(3.0, scale=1.5) == 9.0
    assert srcad.grad(keyword_only, jit=jit)(3.0) == 12.0
    assert srcad.grad(positional_only, wrt=(0, 1), jit=jit)(2.0, 3.0) == (9.0, 12.0)


def test_a_star_args_parameter_is_refused_by_name():
    def wrapper(*args, **kwargs):
        return 2.0 * keyword_only(*args, **kwargs)
    with pytest.raises(TypeError, match=r"\*args.*functools.wraps"):
        srcad.grad(wrapper)


@pytest.mark.parametrize("value", [np.matrix([[1.0, 2.0]]), np.ma.array([1.0, 2.0])],
                         ids=["matrix", "masked"])
def test_ndarray_subclasses_are_refused(value):
    with pytest.raises(TypeError, match="np.asarray"):
        srcad.grad(lambda x: np.sum(x * x))(value)


@pytest.mark.parametrize("body, what", [
    ("return eval('x * x')", "eval"),
    ("return locals()['x'] * 2.0", "locals"),
    ("return np.sum(x[True])", "True"),
    ("y = np.zeros(())\n    y[()] = x[0]\n    return y * 1.0", "empty index"),
    ("s = 0.0\n    for t in enumerate(x):\n        s = s + t[1]\n    return s",
     r"for i, v in enumerate\(\.\.\.\)"),
    ("s = 0.0\n    for t in zip(x, x):\n        s = s + t[1]\n    return s",
     r"for i, v in zip\(\.\.\.\)"),
])
def test_constructs_the_transform_cannot_follow_are_refused_by_name(tmp_path, body, what):
    path = tmp_path / f"refused_{abs(hash(body))}.py"
    path.write_text(f"import numpy as np\n\ndef f(x):\n    {body}\n")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    with pytest.raises(UnsupportedError, match=what) as info:
        srcad.grad(namespace["f"], mode="source")(np.ones(3))
    assert f"{path}:" in str(info.value)


def test_an_empty_index_reads_the_value():
    assert srcad.grad(lambda x: x[()] * 3.0)(np.array(2.0)) == 3.0


def test_partial_of_a_keyword_only_function(jit):
    p = functools.partial(keyword_only, scale=3.0)
    assert srcad.grad(lambda x: p(x), jit=jit)(1.0) == 6.0


rt = 3.0  # a global named like the generated code's runtime module


def _uses_reserved_names(x, kn):
    s = 0.0
    for i in range(len(x)):
        s += x[i] ** 2 * rt * kn
    return np.max(x, axis=0) * s


def test_names_the_generated_code_reserves_are_renamed(jit, rng):
    x, kn = rng.uniform(0.5, 1.5, 4), 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        grads = srcad.grad(_uses_reserved_names, wrt=(0, "kn"), mode="source", jit=jit)(x, kn)
    srcad.check.compare(_uses_reserved_names, (x, kn), [0, 1], grads)


class _Scaled:
    def __init__(self, w):
        self.w = w

    def __call__(self, x, y=2.0):
        return np.sum(np.sin(x) * self.w) * y


@pytest.mark.parametrize("mode", ["tape", "auto", "source"])
def test_partials_and_callable_objects_in_every_mode(mode, rng):
    """(probe round 2, F14) a partial of a Python function is differentiated as a function
    calling it with the partial's arguments; an object with a Python __call__ through its
    method (tests/edges/test_methods.py)."""
    p = functools.partial(keyword_only, scale=4.0)
    x = rng.uniform(0.5, 1.5, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert srcad.grad(p, mode=mode)(0.7) == pytest.approx(2 * 4.0 * 0.7)
        grads = srcad.grad(_Scaled(1.5), wrt=(0, 1), mode=mode)(x, 3.0)
        _, pullback = srcad.vjp(_Scaled(2.0), x, mode=mode)
        assert srcad.gradcheck(p, (0.3,), mode=mode)
    np.testing.assert_allclose(grads[0], 1.5 * 3.0 * np.cos(x))
    assert grads[1] == pytest.approx(1.5 * np.sum(np.sin(x)))
    np.testing.assert_allclose(pullback(1.0), 2.0 * 2.0 * np.cos(x))
    assert not [w for w in caught if issubclass(w.category, srcad.FallbackWarning)]


def weighted_sum(x, w, bias, *, power=2.0):
    s = bias
    for i in range(x.shape[0]):
        s += w[i] * x[i] ** power
    return s


def sines(x, w):
    return np.sum(np.sin(x) * w)


def test_partials_bind_positions_and_keywords(rng):
    x, w = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    by_keyword = functools.partial(weighted_sum, w=w, bias=0.5)
    np.testing.assert_allclose(srcad.grad(by_keyword, mode="source")(x), 2 * w * x)
    np.testing.assert_allclose(srcad.grad(by_keyword, mode="source")(x, power=3.0),
                               3 * w * x ** 2)  # (a keyword the partial gave, given again)
    assert srcad.grad(by_keyword, wrt="bias", mode="source")(x) == 1.0
    by_position = functools.partial(weighted_sum, x)  # (x is read like a global array)
    np.testing.assert_allclose(srcad.grad(by_position, mode="source")(w, 0.0), x ** 2)
    x[0] += 1.0  # (a partial holds the array itself: a write is seen)
    np.testing.assert_allclose(srcad.grad(by_position, mode="source")(w, 0.0), x ** 2)
    other = functools.partial(weighted_sum, 2 * x)
    np.testing.assert_allclose(srcad.grad(other, mode="source")(w, 0.0), 4 * x ** 2)
    of_an_object = functools.partial(_Scaled(1.5), y=3.0)  # (its Python __call__)
    np.testing.assert_allclose(srcad.grad(of_an_object, mode="source")(x), 4.5 * np.cos(x))
    # the function's np is the generated code's np (a second name kept NumPy calls unfused)
    assert "np2" not in srcad.source(srcad.grad(functools.partial(sines, w=w)), x)
    assert repr(srcad.grad(by_keyword)) == "<srcad.grad of functools.partial(weighted_sum) wrt x>"
    assert "jvp by source transformation" in srcad.explain(by_keyword, x, transform="jvp")


def test_partials_of_functions_without_source_name_the_tape():
    with pytest.raises(UnsupportedError, match="not a Python function.*mode='tape' can run it"):
        srcad.grad(functools.partial(np.multiply, 2.0), mode="source")
    assert srcad.grad(functools.partial(np.multiply, 2.0), mode="tape")(3.0) == 2.0


# ---- found by a helper's attack on repeated calls (each was a wrong number) ------------------

def scaled_by_default(x, c=2.0):
    return x * c


def scaled_by_keyword_default(x, *, c=2.0):
    return x * c


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_replaced_defaults_are_the_ones_a_call_binds(jit):
    """Replacing f.__defaults__ (or __kwdefaults__) changes what the next call of f binds: the
    gradient object follows, before and after its first call, nested ones too."""
    f = type(scaled_by_default)(scaled_by_default.__code__, globals(), "f", (2.0,))  # (copies)
    k = type(scaled_by_keyword_default)(scaled_by_keyword_default.__code__, globals(), "k")
    k.__kwdefaults__ = {"c": 2.0}
    g, gk = srcad.grad(f, jit=jit), srcad.grad(k, jit=jit)
    f.__defaults__ = (5.0,)
    assert g(1.0) == 5.0
    f.__defaults__ = (7.0,)
    assert g(1.0) == 7.0 and g(np.float64(1.0)) == 7.0
    assert gk(1.0) == 2.0
    k.__kwdefaults__ = {"c": 4.0}
    assert gk(1.0) == 4.0


def _power(x, a=2.0, *, k=1.0):
    return k * x ** a


def _power_vjp(g, ans, x, a, *, k):
    return g * k * a * x ** (a - 1), None


# (the custom_vjp's call leaves its defaults out: it runs on the tape)
@pytest.mark.filterwarnings("ignore:srcad. using the runtime tape for _power:"
                            "srcad.errors.FallbackWarning")
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_replaced_defaults_of_a_custom_vjp_or_a_partials_function_are_bound(jit, rng):
    """srcad differentiates a custom_vjp or a functools.partial through a wrapper of its own
    with the same parameters: replacing the defaults of the function inside (its
    `__defaults__`, or its `__kwdefaults__` in place) changes what the next call binds, as it
    does for a Python call (the wrapper kept the first defaults: silently wrong)."""
    plain = type(_power)(_power.__code__, globals(), "plain", (2.0,), None)
    plain.__kwdefaults__ = {"k": 1.0}
    custom = srcad.custom_vjp(type(_power)(_power.__code__, globals(), "custom", (2.0,)))
    custom.fn.__kwdefaults__ = {"k": 1.0}
    custom.defvjp(_power_vjp)
    x = rng.uniform(0.5, 2.0)
    for fn, inner in ((custom, custom.fn), (functools.partial(plain, k=1.0), plain),
                      (functools.partial(plain), plain)):
        vg, jac = srcad.value_and_grad(fn, jit=jit), srcad.jacobian(fn, jit=jit)
        for a, k in ((2.0, 1.0), (3.0, 1.0), (3.0, 5.0)):
            inner.__defaults__ = (a,)
            inner.__kwdefaults__["k"] = k
            if isinstance(fn, functools.partial) and fn.keywords:
                k = 1.0  # (the partial's keyword, not the default)
            value, grad = vg(x)
            assert value == pytest.approx(fn(x)) == pytest.approx(k * x ** a)
            assert grad == pytest.approx(k * a * x ** (a - 1))
            assert jac(x) == pytest.approx(k * a * x ** (a - 1))
        inner.__defaults__, inner.__kwdefaults__["k"] = (2.0,), 1.0


def multiplied_in_place(x, y):
    x *= y
    return np.sum(np.sin(x))


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("wrt", [0, 1, (0, 1)], ids=["x", "y", "both"])
def test_an_in_place_update_that_would_broadcast_is_numpys_error(jit, wrt, rng):
    """x *= y keeps x's shape: NumPy raises ValueError where y would broadcast x to another
    (srcad returned numbers, or called it a bug); where y broadcasts to x, it is the gradient."""
    x, y = rng.uniform(-1, 1, 1), rng.uniform(-1, 1, 3)
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        srcad.grad(multiplied_in_place, wrt=wrt, jit=jit)(x, y)
    x = rng.uniform(-1, 1, (3, 4))
    for y in (rng.uniform(-1, 1, 4), rng.uniform(-1, 1, (3, 1)), rng.uniform(-1, 1, (3, 4))):
        grads = srcad.grad(multiplied_in_place, wrt=(0, 1), jit=jit)(x, y)
        check.compare(multiplied_in_place, (x, y), [0, 1], grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_0d_array_argument_gets_a_0d_array_gradient(mode):
    def cube_times(x, y):
        return x * x * x * y
    x = np.array(2.0)
    grad = srcad.grad(cube_times, wrt=(0, 1), mode=mode)(x, 3.0)
    assert type(grad[0]) is np.ndarray and grad[0].shape == () and grad[0] == 36.0
    assert type(grad[1]) is float and grad[1] == 8.0
    _, pullback = srcad.vjp(cube_times, np.array(2.0, np.float32), 3.0, mode=mode)
    assert pullback(1.0).dtype == np.float32 and pullback(1.0).shape == ()


def reductions_of_a_number(x, y):
    return np.var(x) * y + np.std(x) + scipy.special.logsumexp(x) * y + \
        scipy.special.softmax(x) * y + scipy.special.log_softmax(x) + np.var(x, ddof=0)


@pytest.mark.parametrize("jit", [True, False])
def test_reductions_of_a_0d_array_keep_its_shape_and_compile(jit, rng):
    """np.var, np.std, logsumexp, softmax and log_softmax of a 0-d array (which the generated
    code takes as a number): gradients of shape (), no fall back from Numba (found by an
    attack: shape (1,), and Numba could not compile np.var of a number)."""
    x, y = np.array(rng.uniform(-1, 1)), rng.uniform(1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, (gx, gy) = srcad.value_and_grad(reductions_of_a_number, wrt=(0, 1), jit=jit)(x, y)
        _, tangent = srcad.jvp(reductions_of_a_number, (x, y), (1.0, 1.0), jit=jit)
    assert gx.shape == () and value == pytest.approx(reductions_of_a_number(x, y))
    np.testing.assert_allclose((gx, gy), (y, float(x) + 1.0), rtol=1e-12)  # (lse(x) = x)
    assert tangent == pytest.approx(y + float(x) + 1.0)
    check.compare(reductions_of_a_number, (float(x), y), [0, 1], (float(gx), gy), rtol=1e-6)


def items_of_numbers(s, x):
    return (x * x).sum().item() + x[0].item() * s.item() + np.sum(s * x).item()


@pytest.mark.parametrize("jit", [True, False])
def test_item_of_a_number_is_the_number_in_every_transform(jit, rng):
    """`.item()` of a sum, an element or a 0-d array: the transform could not type it (grad
    fell back to the tape; jvp and the Hessian failed) and Numba could not compile its
    adjoint (found by an attack)."""
    s, x = np.array(rng.uniform(1, 2)), rng.uniform(-1, 1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        gs, gx = srcad.grad(items_of_numbers, wrt=(0, 1), jit=jit)(s, x)
        _, tangent = srcad.jvp(items_of_numbers, (s, x), (1.0, np.ones(3)), jit=jit)
        hessian = srcad.hessian(items_of_numbers, wrt=1, jit=jit)(s, x)
    check.compare(lambda q, y: items_of_numbers(np.array(q), y), (float(s), x), [0, 1],
                  (float(gs), gx), rtol=1e-6)
    assert gs.shape == () and tangent == pytest.approx(float(gs) + np.sum(gx))
    np.testing.assert_allclose(hessian, 2.0 * np.eye(3))


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_views_that_share_no_element_are_not_aliased(mode, rng):
    """x[0::2] and x[1::2] share memory bounds but no element: writing into one does not
    change the other (NumPy's exact test); overlapping views are still refused."""
    def doubles_its_first(x, y):
        x[0] = x[0] * 2.0
        return np.sum(x * y)
    big = rng.uniform(-1, 1, 8)
    before = big.copy()
    grads = srcad.grad(doubles_its_first, wrt=(0, 1), mode=mode)(big[0::2], big[1::2])
    check.compare(doubles_its_first, (big[0::2].copy(), big[1::2].copy()), [0, 1], grads,
                  rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(big, before)
    with pytest.raises(srcad.AliasingError):
        srcad.grad(doubles_its_first, wrt=(0, 1), mode=mode)(big[0:4], big[2:6])


def enumerate_a_range_rebinding_its_item(x, n):
    # (the item of a range had no type: rebinding it in the loop was refused with a message
    # about np.nonzero, and Numba could not compile the item read from a range)
    s = 0.0
    for q, m in enumerate(range(n)):
        for j in range(m):
            s = s + x[j % x.shape[0]] * q
        m = 2
    return s


def ranges_in_enumerate_and_zip(x, n):
    s = 0.0
    for q, m in enumerate(range(n, 1, -2), 1):
        s = s * x[m % 3] + q
        m = m + 1
        n = 0  # (the ranges below start from the n of their loop's start)
    for a, b in zip(range(1, n + 3), x):
        s = s + a * b * s
    return s


def counter_rebound_to_a_float(x, n):
    # (found by an attack: the item was read through the rebound counter, a float index)
    s = 0.0
    for k, i in enumerate(range(len(x))):
        k = k + 0.5
        s += x[i] * k
    for k, v in enumerate(x):
        k = k * 0.5
        s += v * k
    return s


def reversed_ranges_in_enumerate_and_zip(x, n):
    # (refused before, with a message about x[i])
    s = 0.0
    for k, i in enumerate(reversed(range(len(x)))):
        s += x[i] * (k + 1)
    for i, v in zip(reversed(range(1, len(x))), x):
        s = s * 0.9 + v * x[i] * i
    for i in range(1, len(x), 2)[::-1]:  # (ran on the tape, blaming the next line)
        s = s * 0.5 + x[i] * x[i - 1]
    for i in range(len(x) - 1, -1, -1)[::-2]:  # (refused, blaming the body)
        s = s * 0.5 + x[i]
    return s


def bound_named_like_the_counter(x, n):
    s = 0.0
    for n, m in enumerate(range(n, 5)):  # noqa: B020, PLR1704 (from the n before the loop)
        s = s + x[m % x.shape[0]] * n
    return s


@pytest.mark.parametrize("fn, n", [(enumerate_a_range_rebinding_its_item, 4),
                                   (ranges_in_enumerate_and_zip, 7),
                                   (ranges_in_enumerate_and_zip, 0),
                                   (counter_rebound_to_a_float, 0),
                                   (reversed_ranges_in_enumerate_and_zip, 0),
                                   (bound_named_like_the_counter, 1)])
def test_a_range_iterated_by_enumerate_or_zip(fn, n, jit, rng):
    x = rng.uniform(0.2, 0.8, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x, n)
    assert value == pytest.approx(fn(x, n), rel=1e-12)
    check.compare(lambda x: fn(x, n), (x,), [0], [g])


# ---- found by a helper's attack on fused loops (older than them) ----------------------------

def diagonal_then_written(x):
    h = np.outer(x, x)
    d = np.diag(h)  # (a view of h's diagonal, as np.diagonal's)
    h[1] = h[1] * 3.0
    return np.sum(d)


def matrix_of_a_vector_then_written(x):
    d = np.diag(x)  # (a new matrix)
    y = x * 1.0
    y[0] = 5.0
    return np.sum(d * d) + np.sum(y * x)


def test_the_diagonal_of_a_matrix_is_a_view(jit, rng):
    """(np.diag(h) was taken for a copy: the value and gradient missed the write into h)"""
    x = rng.uniform(-2.0, 2.0, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(diagonal_then_written, jit=jit)(x)
    assert value == pytest.approx(diagonal_then_written(x))
    check.compare(diagonal_then_written, (x,), [0], [g])
    with pytest.raises(srcad.AliasingError):
        srcad.grad(diagonal_then_written, mode="source", jit=jit)(x)
    value, g = srcad.value_and_grad(matrix_of_a_vector_then_written, mode="source", jit=jit)(x)
    assert value == pytest.approx(matrix_of_a_vector_then_written(x))
    check.compare(matrix_of_a_vector_then_written, (x,), [0], [g])


def power_sum(x, k):
    z = x ** k
    return np.sum(z * x) + np.sum(x ** k)


@pytest.mark.parametrize("k", [-1, np.array([-1, 2, -3])])
def test_a_float_array_to_a_negative_integer_power_is_inf_at_zero(k, jit, rng):
    """(Numba's integer power raised ZeroDivisionError where NumPy gives inf)"""
    x = np.array([0.0, 2.0, -1.5])
    value, g = value_and_grads(power_sum, (x, k), 0, mode="source", jit=jit)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(value, power_sum(x, k))
    np.testing.assert_array_equal(g, value_and_grads(power_sum, (x, k), 0, mode="tape")[1])
    x = rng.uniform(0.5, 2.0, 3)
    check.compare(lambda x: power_sum(x, k), (x,), [0], [value_and_grads(
        power_sum, (x, k), 0, mode="source", jit=jit)[1]])


def bound_maybe_none(x, a):
    e = None if a == 0 else a
    return np.sum(x[:e] ** 2)


@pytest.mark.parametrize("a", [0, 3])
def test_a_slice_bound_that_may_be_none(a, rng):
    """(compiled, a None bound raised numba's TypeError; the generated Python runs instead)"""
    x = rng.standard_normal(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(bound_maybe_none)(x, a)
    assert value == pytest.approx(bound_maybe_none(x, a))
    check.compare(lambda x: bound_maybe_none(x, a), (x,), [0], [g])


def log_of_a_sum(x):
    return np.log(np.sum(x * x))


def means_and_sums_along_axes(x):
    a = x.reshape(2, -1)
    return np.mean(x) + np.sum(x, axis=0) * 1e-7 + np.sum(np.mean(a, axis=1)) + \
        np.sum(np.sum(a, axis=-1, keepdims=True)) * 1e-7


def test_a_float32_sum_of_many_elements_keeps_growing(jit):
    """(compiled, np.sum, np.mean and sums along an axis added float32 elements one after
    another: they stopped at 2**24)"""
    x = np.ones(20_000_000, dtype=np.float32)
    value, g = srcad.value_and_grad(log_of_a_sum, jit=jit)(x)
    assert value == pytest.approx(np.log(2e7), rel=1e-6)
    np.testing.assert_allclose(g[:3], 1e-7, rtol=1e-5)
    value, g = srcad.value_and_grad(means_and_sums_along_axes, mode="source", jit=jit)(x)
    assert value == pytest.approx(7.0, rel=1e-6)
    np.testing.assert_allclose(g[:3], 5e-8 + 3e-7, rtol=1e-4)


def element_powers(x, k, ks):
    s = x[0] ** k
    for i in range(x.shape[0]):
        s += x[i] ** ks[i]
    return s


def test_an_element_to_a_negative_integer_power_is_inf_at_zero(jit, rng):
    """(compiled, x[0] ** k raised ZeroDivisionError: NumPy's scalars give inf)"""
    x, ks = np.array([0.0, 2.0]), np.array([-1, 2])
    value, g = value_and_grads(element_powers, (x, -1, ks), 0, mode="source", jit=jit)
    assert value == np.inf and g[0] == -np.inf and g[1] == pytest.approx(4.0)
    x = rng.uniform(0.5, 2.0, 2)
    check.compare(lambda x: element_powers(x, -1, ks), (x,), [0], [value_and_grads(
        element_powers, (x, -1, ks), 0, mode="source", jit=jit)[1]])
    x32 = np.array([1.5, 3.0], np.float32)  # (in float32, as NumPy computes it)
    value, _ = srcad.value_and_grad(power_sum, mode="source", jit=jit)(x32, -2)
    assert value == pytest.approx(float(power_sum(x32, -2)), rel=1e-7)


def python_bool_arithmetic_of_constants(x):
    return x * ~True + x * (-True) + x * (True + True)


def test_python_bool_arithmetic_of_constants_is_int_arithmetic(rng):
    """Found by an attack: `~True` (a constant) sent the rewriting of bool arithmetic into a
    loop that never ended (it rewrote the constant to itself)."""
    x = float(rng.uniform(0.5, 1.5))
    value, grad = srcad.value_and_grad(python_bool_arithmetic_of_constants, jit=False)(x)
    assert value == pytest.approx(python_bool_arithmetic_of_constants(x), rel=1e-12)
    assert grad == pytest.approx(-1.0, rel=1e-12)


def builtin_and_math_pow_of_ints(x):
    s = pow(2, -1) * x + math.pow(2, -1) * x
    for i in range(1, 4):
        s += x * pow(i, -1)
    return s


@pytest.mark.parametrize("jit", [False, True])
def test_pow_of_ints_to_a_negative_power_is_a_float(jit, rng):
    """Found by an attack: compiled, builtin pow(2, -1) was Numba's integer power, 0, where
    Python gives 0.5 (it is now `2 ** -1`); as Python, math.pow(2, -1) raised NumPy's
    ValueError (it is np.float_power there now)."""
    x = float(rng.uniform(0.5, 1.5))
    value, grad = srcad.value_and_grad(builtin_and_math_pow_of_ints, jit=jit)(x)
    assert value == pytest.approx(builtin_and_math_pow_of_ints(x), rel=1e-12)
    assert grad == pytest.approx(1.0 + 11 / 6, rel=1e-12)


def length_of_a_number_s_text(x):
    return x * len(str(x))


def test_the_text_of_a_float_is_python_s_compiled_too(rng):
    """Found by an attack: compiled, str(x) of a float was Numba's '<object type:float64>'
    (21 characters): it is not compiled now, and the generated Python runs, with a warning."""
    x = 2.0 + float(rng.integers(0, 5))
    with pytest.warns(srcad.FallbackWarning, match=r"str\(\) of a float64"):
        value, grad = srcad.value_and_grad(length_of_a_number_s_text)(x)
    assert (value, grad) == (pytest.approx(3 * x), pytest.approx(3.0))


# ---- found by an attack on types across trips: an int name later given a float -------------

def index_then_float(x):
    i = 0
    y = x[i]
    i = x[1] * 2.0
    return i * y


def counter_then_float(x):
    s = 0.0
    for i in range(2):
        s += x[i]
    i = 3.0
    return s * i


def bound_then_float(x):
    n = 3
    s = 0.0
    for i in range(n):
        s += x[i]
    n = x[0]
    return s * n


def index_then_updated_by_a_float(x):
    i = 1
    y = x[i]
    i += 0.25  # (a number's update rebinds it: refused as a float index before)
    return y * i * x[0]


def int_or_float_index(x):
    k = 1 if x[0] > 0 else 1.0
    return x[k]


@pytest.mark.parametrize("fn", [index_then_float, counter_then_float, bound_then_float,
                                index_then_updated_by_a_float])
def test_an_int_rebound_to_a_float_is_a_variable_of_its_own(fn, rng):
    # (the int read as an index was refused as a float: "'i' is a float, not an index")
    x = rng.uniform(0.5, 2.0, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(fn, jit=False)(x)
    assert value == pytest.approx(fn(x), rel=1e-12)
    check.compare(fn, (x,), [0], [g])


def test_an_index_an_int_on_one_path_and_a_float_on_another_runs_on_the_tape(rng):
    x = rng.uniform(0.5, 2.0, 3)  # (x[0] > 0: Python indexes with the int 1)
    with pytest.warns(srcad.FallbackWarning, match="'k' is an int where it is assigned one"):
        value, g = srcad.value_and_grad(int_or_float_index, jit=False)(x)
    assert value == x[1] and np.array_equal(g, [0.0, 1.0, 0.0])


def taylor_of_exp(x):
    s = 0.0
    fct = 1
    for n in range(30):
        if n > 0:
            fct = fct * n
        s += x ** n / fct
    return s


def test_an_int_beyond_64_bits_saved_names_its_line():
    # (a bare "Python int too large to convert to C long" from a save srcad added)
    with pytest.raises(OverflowError) as info:
        srcad.value_and_grad(taylor_of_exp, jit=False)(1.0)
    notes = "\n".join(info.value.__notes__)
    assert "srcad keeps ints in 64 bits" in notes and "fct = fct * n" in notes


def _scaled_and_before(s, w):
    return s * w, s


def unpacks_a_helper_returning_its_argument(y, w):
    prev = y
    for _ in range(2):
        y, prev = _scaled_and_before(y, w)  # (prev: the y from before the call)
    return np.sum(y * prev)


@pytest.mark.parametrize("jit", [True, False])
def test_unpacking_a_helpers_result_assigns_all_targets_at_once(jit, rng):
    # (found by an attack: `y = y * w; prev = y`, the value 45 where Python computes 15)
    y, w = rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)
    value, grads = srcad.value_and_grad(unpacks_a_helper_returning_its_argument, wrt=(0, 1),
                                        mode="source", jit=jit)(y, w)
    assert value == pytest.approx(unpacks_a_helper_returning_its_argument(y, w), rel=1e-12)
    check.compare(unpacks_a_helper_returning_its_argument, (y, w), [0, 1], grads)
    t = rng.uniform(-1, 1, 3)
    _, tangent = srcad.jvp(unpacks_a_helper_returning_its_argument, (y, w), (t, None),
                           mode="source", jit=jit)
    assert tangent == pytest.approx(check.along(unpacks_a_helper_returning_its_argument, (y, w),
                                                (t, None)), rel=1e-6)
