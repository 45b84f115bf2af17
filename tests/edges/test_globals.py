"""Globals, closure variables and module attributes are read when the gradient is called, as
Python reads them, never frozen at the first compile; a rebound helper is used at once."""

import functools

import numpy as np
import pytest

import srcad

MODEL = """
import numpy as np
C = 2.0
W = np.array([1.0, 2.0, 3.0])
N = 2

def helper(v):
    return v * v

def f(x):
    s = 0.0
    for i in range(N):
        s += C * W[i] * helper(x[i])
    return s
"""


def expected(m, x):
    return np.array([2 * m.C * m.W[i] * x[i] if i < m.N else 0.0 for i in range(len(x))])


@pytest.mark.parametrize("jit", [True, False])
def test_module_globals_are_read_at_every_call(make_module, jit):
    m = make_module(f"live_globals_{jit}", MODEL)
    g = srcad.grad(m.f, jit=jit)
    x = np.array([0.5, -1.5, 2.0])
    np.testing.assert_allclose(g(x), expected(m, x))
    m.C = 3.0
    np.testing.assert_allclose(g(x), expected(m, x))
    m.W[1] = 100.0  # in place
    np.testing.assert_allclose(g(x), expected(m, x))
    m.W = np.array([5.0, 6.0, 7.0])  # rebound
    np.testing.assert_allclose(g(x), expected(m, x))
    m.N = 3  # a loop bound
    np.testing.assert_allclose(g(x), expected(m, x))
    m.helper = lambda v: v * v * v  # a rebound helper is inlined anew
    np.testing.assert_allclose(g(x), [3 * m.C * m.W[i] * x[i] ** 2 for i in range(3)])
    m.C = 1  # an int now: regenerated for the new type
    np.testing.assert_allclose(g(x), [3 * m.W[i] * x[i] ** 2 for i in range(3)])


def test_module_attributes_and_closures_are_live(make_module):
    config = make_module("live_config", "SCALE = 2.0\n")

    def make(k):
        def f(x):
            return config.SCALE * k * x * x
        return f
    f = make(3.0)
    g = srcad.grad(f)
    assert g(1.0) == 12.0
    config.SCALE = 5.0
    assert g(1.0) == 30.0
    f.__closure__[1].cell_contents = 4.0  # k (cells are sorted by name: config, k)
    assert g(1.0) == 40.0


def test_partial_arguments_and_defaults(jit):
    weights = np.array([1.0, 2.0])

    def weighted(x, w, scale=2.0):
        return scale * np.sum(w * x * x)
    p = functools.partial(weighted, w=weights)

    def f(x):
        return p(x)
    g = srcad.grad(f, jit=jit)
    x = np.array([1.0, 1.0])
    np.testing.assert_allclose(g(x), 4.0 * weights * x)
    weights[0] = 10.0
    np.testing.assert_allclose(g(x), 4.0 * weights * x)


def test_the_cache_key_follows_a_custom_vjp_redefinition():
    @srcad.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defvjp
    def _(g, ans, x):
        return g / (1.0 + np.exp(-x))

    def f(x):
        return softplus(x) * 2.0
    g = srcad.grad(f)
    assert np.isclose(g(0.0), 1.0)

    @softplus.defvjp
    def _(g, ans, x):
        return 10.0 * g
    assert g(0.0) == 20.0


@pytest.mark.parametrize("jit", [True, False])
def test_a_builtin_hidden_later_by_a_global_is_noticed(make_module, jit):
    helper = make_module("helper_of_shadowed", """
        def scaled(v):
            return max(v, 0.0) * 2.0
    """)
    m = make_module(f"shadowed_builtin_{jit}", """
        import numpy as np
        from helper_of_shadowed import scaled

        def f(x):
            s = 0.0
            for i in range(x.shape[0]):
                s += abs(x[i]) * scaled(x[i])
            return s
    """)
    g = srcad.grad(m.f, jit=jit)
    x = np.array([0.5, 1.5, 2.0])
    np.testing.assert_allclose(g(x), 4.0 * x)  # d/dx 2 x^2 for x > 0
    m.abs = np.square  # Python now calls the global in f
    np.testing.assert_allclose(g(x), 6.0 * x * x)  # d/dx 2 x^3
    helper.max = lambda a, b: a * a  # ... and in the helper's module
    np.testing.assert_allclose(g(x), 8.0 * x ** 3)  # d/dx 2 x^4


def _scaled_square(x, *, s=2.0):
    return s * x ** 2


def test_a_keyword_only_default_changed_in_place_is_read_again():
    """`f.__kwdefaults__["s"] = 4.0` changes the dict in place: the gradient (of f, and of a
    function calling it as a helper) used the old default (found by an attack)."""
    def outer(x):
        return _scaled_square(x) + x

    def own(x, *, s=2.0):
        return s * x ** 3
    g, h = srcad.grad(own), srcad.grad(outer)
    x = float(np.random.default_rng(3).uniform(1.0, 2.0))
    assert g(x) == pytest.approx(6.0 * x * x) and h(x) == pytest.approx(4.0 * x + 1.0)
    own.__kwdefaults__["s"] = 5.0
    _scaled_square.__kwdefaults__["s"] = 4.0
    try:
        assert g(x) == pytest.approx(15.0 * x * x) and h(x) == pytest.approx(8.0 * x + 1.0)
    finally:
        _scaled_square.__kwdefaults__["s"] = 2.0


COUNTS = [0]


def counts_its_calls(x):
    COUNTS[0] += 1
    return x * x


def test_a_store_into_a_global_list_is_refused_by_name_and_runs_on_the_tape(rng):
    """Found by an attack: it was an internal error ("this is a bug in srcad") without a
    line."""
    with pytest.raises(srcad.UnsupportedError, match=r"test_globals.py:\d+: a store into the "
                                                     r"list 'COUNTS'"):
        srcad.grad(counts_its_calls, mode="source", jit=False)(1.5)
    x = float(rng.uniform(0.5, 1.5))
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(counts_its_calls, jit=False)(x) == pytest.approx(2 * x, rel=1e-12)


def test_a_capture_that_changes_at_every_read_is_an_error_not_a_recursion(monkeypatch):
    # (no user code found that does this; the guard keeps api.evaluate's regeneration bounded)
    from srcad import api
    scale = np.float64(3.0)

    def f(x):
        return scale * x * x

    def always_stale(self):
        raise api._Stale

    monkeypatch.setattr(api._Specialization, "hidden_values", always_stale)
    with pytest.raises(srcad.UnsupportedError, match="every time it is read"):
        srcad.grad(f, mode="source", jit=False)(2.0)
