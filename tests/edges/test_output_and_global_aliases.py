"""Memory shared where srcad assumed separate arrays. Found by an attack:
- a function writing into a global array that another global name, or the argument, shares
  (`G2 = G`, `inner = buf[1:-1]`, a tuple holding it, `f(H)` writing `H[0]`) lost the
  derivative through the write, silently, in grad and jvp: it is now an AliasingError, as for
  two arguments;
- two gradients of one adjoint array (`np.sin(a + b)` w.r.t. both) came back as one array, and
  a jvp's tangent as the caller's own: updating one in place changed the other;
- a custom rule's vjp returning one array for two arguments, or an argument itself as an
  adjoint (`return (b, a)`), handed those arrays back: two gradients shared memory, or a
  gradient was the caller's array (a jvp's tangent its value)."""

import numpy as np
import pytest

import srcad
from srcad import check
from srcad.errors import AliasingError

G = np.ones(3)
G2 = G
BUF = np.zeros(5)
INNER = BUF[1:-1]
H = np.ones(3)
T = np.zeros(3)
HELD = (T, 2.0)


def writes_one_global_name_reads_another(x):
    G[0] = x[0] * x[1]
    return np.sum(G2 * x)


def writes_a_view_reads_its_base(x):
    INNER[:] = x
    return np.sum(BUF[:-2] * BUF[2:])


def writes_a_global(a):
    H[0] = 3.0 * a[1]
    return np.sum(a * a)


def writes_a_global_a_tuple_holds(x):
    T[0] = x[0] * 2
    return np.sum(HELD[0] * x)


def sine_of_sum(a, b):
    return np.sum(np.sin(a + b))


def shifted(a):
    return a + 1.0


@pytest.mark.parametrize("fn", [writes_one_global_name_reads_another,
                                writes_a_view_reads_its_base, writes_a_global_a_tuple_holds])
def test_a_write_into_a_global_another_global_shares_is_refused(fn, rng):
    x = rng.random(3)
    for call in (lambda: srcad.grad(fn, jit=False)(x),
                 lambda: srcad.jvp(fn, (x,), (np.ones(3),), jit=False)):
        with pytest.raises(AliasingError, match="shares memory with"):
            call()


def test_a_write_into_a_global_the_argument_shares_is_refused(rng):
    H[:] = rng.random(3)
    with pytest.raises(AliasingError, match="writes into 'H', which shares memory with "
                                            "argument 'a'"):
        srcad.grad(writes_a_global, jit=False)(H)
    x = rng.random(3)  # (a separate array: the write is the function's own)
    grad = srcad.grad(writes_a_global, jit=False)(x)
    assert grad == pytest.approx(2 * x, rel=1e-12)


@pytest.mark.parametrize("jit", [False, True])
def test_gradients_and_tangents_own_their_memory(jit, rng):
    x, y = rng.random(3), rng.random(3)
    g = srcad.grad(sine_of_sum, wrt=(0, 1), jit=jit)
    for _ in range(2):  # (the first call, then the fast path of a compiled one)
        gx, gy = g(x, y)
        assert not np.shares_memory(gx, gy)
        gx *= 0.0
        check.compare(sine_of_sum, (x, y), [1], [gy], rtol=1e-6, atol=1e-8)
    v = rng.random(3)
    for _ in range(2):
        _, tangent = srcad.jvp(shifted, (x,), (v,), jit=jit)
        assert not np.shares_memory(tangent, v)
    _, pullback = srcad.vjp(lambda a, b: a + b, x, y, wrt=(0, 1), jit=jit)
    ct = rng.random(3)
    ga, gb = pullback(ct)
    assert not (np.shares_memory(ga, gb) or np.shares_memory(ga, ct) or
                np.shares_memory(gb, ct))


@srcad.custom_vjp
def added(a, b):
    return a + b


@added.defvjp
def added_vjp(g, ans, a, b):
    return (g, g)


@srcad.custom_vjp
def dotted(a, b):
    return np.sum(a * b)


@dotted.defvjp
def dotted_vjp(g, ans, a, b):
    return (b * g, a) if g == 1.0 else (b * g, a * g)  # (its arguments as adjoints)


@srcad.custom_vjp
def scaled(a):
    return a * 2.0


@scaled.defjvp
def scaled_jvp(t, ans, a):
    return ans if np.all(t == a) else 2.0 * t  # (its result as the tangent)


WEIGHTS = np.array([1.0, 2.0, 3.0])


@srcad.custom_vjp
def weighted(a):
    return np.sum(a * WEIGHTS)


@weighted.defvjp
def weighted_vjp(g, ans, a):
    return WEIGHTS if g == 1.0 else g * WEIGHTS  # (a global array as the adjoint)


def sum_of_squares_of_added(a, b):
    return np.sum(added(a, b) ** 2)


@pytest.mark.parametrize("jit", [False, True])
def test_adjoints_a_custom_rule_shares_are_copied(jit, rng):
    x, y = rng.random(3), rng.random(3)
    x0, y0 = x.copy(), y.copy()
    gx, gy = srcad.grad(dotted, wrt=(0, 1), jit=jit)(x, y)
    assert not (np.shares_memory(gx, y) or np.shares_memory(gy, x))
    assert gx == pytest.approx(y0, rel=1e-12) and gy == pytest.approx(x0, rel=1e-12)
    gx[:] = -1.0
    assert np.array_equal(y, y0)
    ga, gb = srcad.grad(sum_of_squares_of_added, wrt=(0, 1), jit=jit)(x, y)
    assert not np.shares_memory(ga, gb)
    check.compare(sum_of_squares_of_added, (x, y), [0, 1], [ga, gb], rtol=1e-6, atol=1e-8)
    if not jit:
        (g,) = srcad.grad(lambda p: dotted(p["w"], y), jit=False)({"w": x}).values()
        assert not np.shares_memory(g, y) and g == pytest.approx(y0, rel=1e-12)
        _, pullback = srcad.vjp(added, x, y, wrt=(0, 1), jit=False)
        ga, gb = pullback(np.ones(3))
        assert not np.shares_memory(ga, gb)
        value, tangent = srcad.jvp(scaled, (x,), (x.copy(),), jit=False)
        assert not np.shares_memory(value, tangent) and tangent == pytest.approx(2 * x0)
        g = srcad.grad(weighted, jit=False)(x)
        assert not np.shares_memory(g, WEIGHTS) and np.array_equal(g, [1.0, 2.0, 3.0])
