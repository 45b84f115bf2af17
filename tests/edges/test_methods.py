"""Methods differentiated from their source: a bound method (`srcad.grad(model.loss)`), a
classmethod, an object with a Python `__call__`, and methods calling methods. The instance's
attributes are read at every call, like a module's globals; calls bind the parameters the
bound method's signature shows (a bound method failed the transform: its signature has no
`self`, its code does)."""

import dataclasses
import warnings

import numpy as np
import pytest

import srcad
from srcad import UnsupportedError, check

MODES = {"source+numba": {}, "source+python": {"jit": False}}


@pytest.fixture(params=list(MODES))
def kw(request):
    return MODES[request.param]


@dataclasses.dataclass
class Activation:
    k: float

    def __call__(self, z):
        return np.tanh(z * self.k)


class Model:
    scale = 1.5

    def __init__(self, w, n, k):
        self.w, self.n, self.act = w, n, Activation(k)

    def squash(self, z):
        return np.tanh(z * self.act.k)

    def loss(self, x, p=2.0):
        s = 0.0
        for i in range(self.n):
            s += self.scale * self.squash(x[i] * self.w[i]) ** p
        return s

    def __call__(self, x):
        return self.loss(x) + np.sum(self.w * x)

    @classmethod
    def total(cls, x):
        return cls.scale * np.sum(x ** 2)

    @staticmethod
    def cubes(x):
        return np.sum(x ** 3)


def source_grad(fn, *args, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        return srcad.grad(fn, mode="source", **options)(*args)


def model(rng, n=5):
    return Model(rng.standard_normal(n), n, rng.uniform(0.3, 1.2))


@pytest.mark.parametrize("which", ["loss", "call", "__call__", "total", "instance total",
                                   "cubes"])
def test_methods_match_finite_differences(which, kw, rng):
    m = model(rng)
    fn = {"loss": m.loss, "call": m, "__call__": m.__call__, "total": Model.total,
          "instance total": m.total, "cubes": m.cubes}[which]
    x = rng.standard_normal(5)
    check.compare(fn, (x,), [0], [source_grad(fn, x, **kw)])


def test_a_bound_methods_defaults_and_keywords_are_its_own(kw, rng):
    m, x = Model(rng.uniform(0.5, 1.0, 5), 5, 0.8), rng.uniform(0.5, 1.0, 5)  # (a base > 0)
    for p in (2.0, 3.0):
        grads = srcad.grad(m.loss, wrt=("x", "p"), mode="source", **kw)(x, p=p)
        check.compare(m.loss, (x, p), [0, 1], grads)
    check.compare(m.loss, (x,), [0], [srcad.grad(m.loss, mode="source", **kw)(x=x)])


def test_the_instances_attributes_are_read_at_every_call(kw, rng):
    m, x = model(rng), rng.standard_normal(5)
    g = srcad.grad(m.loss, mode="source", **kw)
    g(x)
    m.w = 2 * m.w  # an array attribute rebound
    check.compare(m.loss, (x,), [0], [g(x)])
    m.act.k = 0.25  # an attribute of an attribute
    check.compare(m.loss, (x,), [0], [g(x)])
    Model.scale = 3.0  # a class attribute, read through the instance
    try:
        check.compare(m.loss, (x,), [0], [g(x)])
    finally:
        Model.scale = 1.5
    m.n = 2  # a loop bound
    got = g(x)
    assert np.all(got[2:] == 0)
    check.compare(m.loss, (x,), [0], [got])
    m.squash = lambda z: z ** 3  # an instance attribute hiding the method
    check.compare(m.loss, (x,), [0], [g(x)])


def test_higher_order_and_forward_of_methods(rng):
    m, x, v = model(rng), rng.standard_normal(5), rng.standard_normal(5)
    h = srcad.hvp(m.loss)(x, v)
    fd = (srcad.grad(m.loss)(x + 1e-6 * v) - srcad.grad(m.loss)(x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-7)
    value, tangent = srcad.jvp(m, (x,), (v,))
    assert value == pytest.approx(m(x))
    assert tangent == pytest.approx(srcad.grad(m)(x) @ v)


SOFT = Activation(0.5)


def through_a_callable_object(x):
    return np.sum(SOFT(x) * x)


def test_a_callable_object_called_inside_is_inlined(kw, rng):
    x = rng.standard_normal(4)
    g = srcad.grad(through_a_callable_object, mode="source", **kw)
    for k in (0.5, 2.0):  # its attribute read at every call
        SOFT.k = k
        check.compare(through_a_callable_object, (x,), [0], [g(x)])
    SOFT.k = 0.5


class Unsupported:
    def __init__(self):
        self.log, self.c = [], 2.0

    def logs(self, x):
        self.log.append(1)
        return self.c * np.sum(x ** 2)

    def sets(self, x):
        self.c = 3.0
        return self.c * np.sum(x ** 2)

    def recurses(self, x, n):
        return np.sum(x) if n == 0 else self.recurses(x * 2.0, n - 1)


def test_what_the_transform_cannot_take_is_named_and_the_tape_runs_it(rng):
    u, x = Unsupported(), rng.standard_normal(3)
    with pytest.raises(UnsupportedError, match=r"assignment to an attribute \(obj.name = ...\)"):
        srcad.grad(u.sets, mode="source")(x)
    with pytest.raises(UnsupportedError, match="recursive call of 'recurses'"):
        srcad.grad(u.recurses, mode="source")(x, 2)
    # (a call made for its effect is made; Numba cannot call a list's method of an object)
    with pytest.warns(srcad.FallbackWarning, match="running the generated Python instead"):
        got = srcad.grad(u.logs)(x)
    np.testing.assert_allclose(got, 4.0 * x)
    assert len(u.log) == 1  # run once
    with pytest.warns(srcad.FallbackWarning, match="recursive call"):
        np.testing.assert_allclose(srcad.grad(u.recurses)(x, 2), 4.0 * np.ones(3))


# -- found by an attack on the above (each a wrong or stale number, or user code run) -------

class Tanh:
    def __init__(self, a):
        self.a = a

    def __call__(self, v):
        return np.sum(np.tanh(self.a * v))


class Sine:
    def __call__(self, v):
        return np.sum(np.sin(v))


ACT = Tanh(2.0)


def through_act(x):
    return ACT(x)


def test_a_replaced_call_or_class_makes_the_gradient_again(rng):
    x = rng.standard_normal(3)
    g, own = srcad.grad(through_act), srcad.grad(ACT)
    g(x), own(x)
    original = Tanh.__call__
    try:
        Tanh.__call__ = lambda self, v: np.sum(np.sin(self.a * v))
        for grad in (g, own):
            np.testing.assert_allclose(grad(x), 2.0 * np.cos(2.0 * x))
    finally:
        Tanh.__call__ = original
    o = Tanh(1.0)
    g = srcad.grad(o)
    g(x)
    o.__class__ = Sine
    np.testing.assert_allclose(g(x), np.cos(x))


class Buffered:
    def __init__(self):
        self.buf = np.zeros(3)

    def loss(self, x):
        self.buf[1:] = 3.0 * x[:2]
        return np.sum(self.buf * x) + self.buf[1] ** 2


def test_a_store_into_an_attribute_is_read_back(kw, rng):
    m, x = Buffered(), rng.standard_normal(3)
    check.compare(m.loss, (x,), [0], [srcad.grad(m.loss, mode="source", **kw)(x)])


class Scaled(float):
    def __mul__(self, other):
        return float(self) * other * 10.0

    __rmul__ = __mul__

    def loss(self, x):
        return np.sum(self * x * x)


SCALE = Scaled(3.0)


def by_scale(x):
    return np.sum(SCALE * x)


def times(x, k):
    return np.sum(k * x)


def test_numbers_of_a_subclass_overriding_operators_are_not_taken_as_plain(rng):
    x = rng.standard_normal(2)
    with pytest.raises(UnsupportedError):
        srcad.grad(Scaled(2.0).loss, mode="source")(x)
    with pytest.warns(srcad.FallbackWarning):
        value, got = srcad.value_and_grad(Scaled(2.0).loss)(x)
    assert value == pytest.approx(20.0 * np.sum(x * x))
    np.testing.assert_allclose(got, 40.0 * x)
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(by_scale)(x), 30.0)
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(times)(x, Scaled(2.0)), 20.0)


def power(v, p=2.0):
    return v ** p


class Powers:
    def helper(self, v, p=2.0):
        return v ** p

    def loss(self, x):
        return np.sum(self.helper(x) + power(x))

    def top(self, x, p=2.0):
        return np.sum(x ** p)


def test_replaced_defaults_of_helpers_and_methods_are_read(rng):
    x = rng.uniform(0.5, 1.5, 3)
    m = Powers()
    g, top = srcad.grad(m.loss), srcad.grad(m.top)
    np.testing.assert_allclose(g(x), 4.0 * x)
    np.testing.assert_allclose(top(x), 2.0 * x)
    try:
        Powers.helper.__defaults__ = (3.0,)
        np.testing.assert_allclose(g(x), 3.0 * x ** 2 + 2.0 * x)
        power.__defaults__ = (3.0,)
        np.testing.assert_allclose(g(x), 6.0 * x ** 2)
        Powers.top.__defaults__ = (3.0,)
        np.testing.assert_allclose(top(x), 3.0 * x ** 2)
    finally:
        Powers.helper.__defaults__ = power.__defaults__ = Powers.top.__defaults__ = (2.0,)


class Gain:
    def __init__(self):
        self.k = 2.0

    def vec(self, x):
        return self.k * np.sin(x)


WEIGHTS = np.ones(3)


def weighted(x):
    return WEIGHTS * np.sin(x)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_pullback_linearizes_where_vjp_was_called(mode, rng):
    x, ct = rng.standard_normal(3), rng.standard_normal(3)
    m = Gain()
    _, pullback = srcad.vjp(m.vec, x, mode=mode)
    m.k = -1.0
    np.testing.assert_allclose(pullback(ct), 2.0 * np.cos(x) * ct)
    if mode == "tape":
        return  # (the tape keeps the arrays themselves: one written in place is not kept)
    kept = x.copy()
    _, pullback = srcad.vjp(weighted, x, mode=mode)
    WEIGHTS[:] = 5.0
    x[:] = 0.0
    try:
        np.testing.assert_allclose(pullback(ct), np.cos(kept) * ct)
    finally:
        WEIGHTS[:] = 1.0


class Counted:
    def __init__(self):
        self.reads = 0

    @property
    def k(self):
        self.reads += 1
        return float(self.reads)

    def loss(self, x):
        return self.k * np.sum(x ** 2)


class NotReady:
    @property
    def k(self):
        raise RuntimeError("not initialised")

    def loss(self, x):
        return self.k * np.sum(x ** 2)


class Permissive:
    def __init__(self):
        self.k = 2.0

    def __getattr__(self, name):  # (a mock, a config object)
        return 1.0

    def __call__(self, x):
        return self.k * np.sum(x ** 2)


class Base:
    def loss(self, x):
        return np.sum(x ** 2)


class Child(Base):
    def loss(self, x):
        return super().loss(x) * 2.0


def test_the_transform_runs_no_property_and_asks_no_getattr(rng):
    x = rng.standard_normal(2)
    m = Counted()
    with pytest.raises(UnsupportedError, match="'self.k' is a property of Counted"):
        srcad.grad(m.loss, mode="source")(x)
    assert m.reads == 0
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(m.loss)(x), 2.0 * x)  # read once, by the tape
    assert m.reads == 1
    with pytest.raises(UnsupportedError, match="'self.k' is a property of NotReady"):
        srcad.grad(NotReady().loss, mode="source")(x)
    np.testing.assert_allclose(source_grad(Permissive(), x), 4.0 * x)
    with pytest.raises(UnsupportedError, match="calls super"):
        srcad.grad(Child().loss, mode="source")(x)
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(Child().loss)(x), 4.0 * x)


# -- found by a third attack: pullbacks, replaced code, subclassed arguments, parallel writes --

def sine(x):
    return np.sin(x)


def through_sine(x):
    return np.sum(sine(x))


def squared(x):
    return x ** 2


def through_squared(x):
    return squared(x)


def test_a_pullback_keeps_the_code_and_a_gradient_follows_replaced_code(rng):
    global sine
    x = rng.standard_normal(3)
    original, code = sine, squared.__code__
    try:
        _, pullback = srcad.vjp(through_sine, x, mode="source")
        sine = lambda x: x ** 3  # noqa: E731 (rebound after vjp: the pullback keeps sin)
        np.testing.assert_allclose(pullback(1.0), np.cos(x))
        g = srcad.grad(through_squared, mode="source")
        assert g(1.5) == pytest.approx(3.0)
        squared.__code__ = (lambda x: x ** 3).__code__
        assert g(1.5) == pytest.approx(6.75)
    finally:
        sine, squared.__code__ = original, code


class Shifted(int):
    def __add__(self, other):
        return int(self) + other + 1

    __radd__ = __add__


def pick(x, n):
    return x[n + 0] * 3.0


def with_a_numpy_default(x, k=np.float64(3.0)):  # noqa: B008 (what is tested)
    return x ** k


def through_the_default(x):
    return with_a_numpy_default(x)


ACCUMULATED = np.zeros(3)


def accumulates(x):
    s = 0.0
    for i in range(x.shape[0]):
        ACCUMULATED[i] += x[i]
        s += x[i] ** 2
    return s


def test_subclassed_arguments_numpy_defaults_and_parallel_writes(rng):
    x = rng.standard_normal(3)
    with pytest.raises(UnsupportedError, match="'n' of pick is a Shifted"):
        srcad.grad(pick, mode="source")(x, Shifted(1))
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(pick)(x, Shifted(1)), [0.0, 0.0, 3.0])
    assert source_grad(through_the_default, 1.5) == pytest.approx(3.0 * 1.5 ** 2)
    ACCUMULATED[:] = 0.0
    got = srcad.grad(accumulates, parallel=True, mode="source")(x)  # (written once a call)
    np.testing.assert_allclose(got, 2.0 * x)
    np.testing.assert_allclose(ACCUMULATED, x)
