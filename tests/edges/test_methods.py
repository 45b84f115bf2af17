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
    with pytest.raises(UnsupportedError, match="assignment to Attribute"):
        srcad.grad(u.sets, mode="source")(x)
    with pytest.raises(UnsupportedError, match="recursive call of 'recurses'"):
        srcad.grad(u.recurses, mode="source")(x, 2)
    with pytest.warns(srcad.FallbackWarning, match="self.log.append"):
        got = srcad.grad(u.logs)(x)
    np.testing.assert_allclose(got, 4.0 * x)
    assert len(u.log) == 1  # run once, by the tape
    np.testing.assert_allclose(srcad.grad(u.recurses)(x, 2), 4.0 * np.ones(3))
