"""Forward mode folds the tangent chain of a recurrence into one sum of partials times tangents,
reverse mode the adjoint chain of a reverse sweep into coefficients times the adjoints it
starts from (transforms/chains.py): the derivatives of loops whose trips read what the trip
before wrote, compiled and as Python, against central finite differences on random inputs."""

import math
import re

import numpy as np
import pytest

import srcad
from srcad import check


def epidemic(p, y0, dt, n):
    s = y0[0]
    i = y0[1]
    r = y0[2]
    for k in range(n):
        infections = p[0] * s * i
        recoveries = p[1] * i
        s = s - dt * infections
        i = i + dt * (infections - recoveries)
        r = r + dt * recoveries
    return s * i + r * r


def lambert_w(b):
    s = 0.0
    for k in range(b.shape[0]):
        w = 0.5
        step = 1.0
        while abs(step) > 1e-12:
            e = math.exp(w)
            step = (w * e - b[k]) / (e * (w + 1.0))
            w = w - step
        s = s + w * b[k]
    return s


def swapped(x, c, n):
    u = x
    v = 2.0 * x
    for k in range(n):
        u, v = v, u * c + math.sin(v)  # v's tangent reads u's before u is assigned anew
    return u + v


def reassigned_between(x, w, n):
    a = x
    u = 1.0
    for k in range(n):
        t = a * u + math.cos(u)
        a = a * 0.5 + w  # read by t's partial, assigned before t is read
        u = t * a + w * t
    return u + a


def element_recurrence(x, c):
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = y[i - 1] * c * x[i] + math.sin(y[i - 1]) * x[i - 1]
    return np.sum(y * y)


def branches_and_updates(x, c):
    s = 0.0
    u = c
    for i in range(x.shape[0]):
        u = u * x[i] / (1.0 + u * u) + c
        if u > 0.3:
            s += u * x[i]
            continue
        u = -u * c
        if s > 5.0:
            break
    return s + u


def accumulated(x, c):
    s = 0.0
    for i in range(x.shape[0]):
        t = x[i] * c
        s = s * 0.9 + t * t - s / (1.0 + t * t)
    return s


def element_written_between(x, c, n):
    y = x * 1.0
    s = c
    for k in range(n):
        t = y[1] * s + c  # reads y[1] ...
        y[1] = y[1] * 0.5 + s  # ... which this writes, before t is read
        s = s * 0.3 + t * t
    return s


def normalised(r, y):
    theta = math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
    v0 = r[0] / theta  # three tangents divided by theta: one reciprocal
    v1 = r[1] / theta
    v2 = r[2] / theta
    p = v0 * y[0] + v1 * y[1] + v2 * y[2]
    return p / (1.0 + p * p) + v2 / (1.0 + p * p)


def denominator_changed_between(x, n):
    c = x[0] * x[0] + 1.0
    a = x[1] / c
    c = c + a * a  # b divides by another value of c than a
    b = x[2] / c
    return a * b + b / n + a / n


def prefix_squares(x, c):
    s = 0.0
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        s = s * c + x[i] * s + x[i]  # (an element of x's adjoint stored from the chain's)
        y[i] = s * s
    return np.sum(y)


def two_chains(x, c, n):
    u = x
    v = c
    for k in range(n):
        t = u * v + math.sin(u)
        u = 0.5 * u + c * t
        v = v * 0.9 + t / (1.0 + v * v)
    return u * v


def three_chains(x, c, n):  # (three adjoints start a trip: not folded, MAX_INPUTS)
    u, v, w = x, c, 1.0
    for k in range(n):
        u, v, w = u * 0.5 + v * w, v - 0.1 * u * w, w * 0.9 + u * v * c
    return u + v * w


def inputs(fn, rng):
    n = 7
    return {
        epidemic: lambda: (rng.uniform(0.1, 1.0, 2), rng.uniform(1.0, 3.0, 3), 0.01, 50),
        lambert_w: lambda: (rng.uniform(0.5, 3.0, n),),
        swapped: lambda: (rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.9), n),
        reassigned_between: lambda: (rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.4), n),
        element_recurrence: lambda: (rng.uniform(0.1, 1.0, n), rng.uniform(0.5, 1.5)),
        branches_and_updates: lambda: (rng.uniform(-1.0, 1.0, 12), rng.uniform(0.2, 0.8)),
        accumulated: lambda: (rng.uniform(-1.0, 1.0, n), rng.uniform(0.5, 1.5)),
        element_written_between: lambda: (rng.uniform(0.1, 0.5, 3), rng.uniform(0.1, 0.3), 5),
        normalised: lambda: (rng.uniform(0.2, 1.0, 3), rng.uniform(-1.0, 1.0, 3)),
        denominator_changed_between: lambda: (rng.uniform(-1.0, 1.0, n), 3),
        prefix_squares: lambda: (rng.uniform(-0.5, 0.5, n), rng.uniform(0.5, 1.0)),
        two_chains: lambda: (rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.6), n),
        three_chains: lambda: (rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.6), n),
    }[fn]()


PROGRAMS = [epidemic, lambert_w, swapped, reassigned_between, element_recurrence,
            branches_and_updates, accumulated, element_written_between, normalised,
            denominator_changed_between]
REVERSE = PROGRAMS + [prefix_squares, two_chains, three_chains]


def _tangent(a, rng):
    if isinstance(a, np.ndarray):
        return rng.normal(size=a.shape)
    return float(rng.normal()) if isinstance(a, float) else None


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", PROGRAMS, ids=[f.__name__ for f in PROGRAMS])
def test_folded_tangents_match_finite_differences(fn, jit, rng):
    for _ in range(2):
        args = inputs(fn, rng)
        tangents = [_tangent(a, rng) for a in args]
        value, tangent = srcad.jvp(fn, args, tangents, jit=jit, mode="source")
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
        np.testing.assert_allclose(tangent, check.along(fn, list(args), tangents),
                                   rtol=1e-6, atol=1e-8)


def test_a_recurrence_reads_the_trip_befores_tangent_once_per_tangent(rng):
    args = inputs(epidemic, rng)
    tangents = [_tangent(a, rng) for a in args]
    source = srcad.source(srcad.jvp, epidemic, args, tangents)
    loop = source.split("for k in range(n):")[1].split("return")[0].splitlines()
    tangents = [s for s in loop if re.match(r" {8}d", s) and " = " in s and
                s.split(" = ")[0].strip() not in ("infections", "recoveries")]
    # (as the transform writes them, 17 statements, each a multiply-add on the one before)
    assert len(tangents) <= 9, source
    for line in tangents:
        assert line.split("=", 1)[1].count("ds") <= 1, source


def test_tangents_divided_by_one_denominator_share_its_reciprocal(rng):
    args = inputs(normalised, rng)
    source = srcad.source(srcad.jvp, normalised, args, [_tangent(a, rng) for a in args])
    assert source.count("/ theta") == 4, source  # the primal's three and one reciprocal
    source = srcad.source(srcad.jvp, denominator_changed_between,
                          inputs(denominator_changed_between, rng), [rng.normal(size=7), None])
    assert source.count("/ c") == 4 and "1.0 / c" not in source, source


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", REVERSE, ids=[f.__name__ for f in REVERSE])
def test_folded_adjoints_match_finite_differences(fn, jit, rng):
    for _ in range(2):
        args = inputs(fn, rng)
        wrt = tuple(k for k, a in enumerate(args) if not isinstance(a, int))
        value, grads = srcad.value_and_grad(fn, wrt=wrt, jit=jit, mode="source")(*args)
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
        check.compare(fn, list(args), wrt, grads)


def test_a_reverse_sweep_updates_the_carried_adjoint_once_per_trip(rng):
    # Newton's iteration reversed: bw's six multiply-adds per trip become one multiply by a
    # coefficient computed from saved primal values (bstep is zero at every trip's start)
    source = srcad.source(srcad.grad(lambert_w), *inputs(lambert_w, rng))
    reverse = source.split("for _ in range(_n):")[1].split("if _bb")[0]
    assert re.findall(r"\bbw \S?= .*", reverse) == ["bw = bw * _c7"], source
    for fn in (two_chains, three_chains):
        source = srcad.source(srcad.grad(fn, wrt=(0, 1)), *inputs(fn, rng))
        loop = source.split("reverse sweep")[1].split("while k > 0:")[1].split("# line 12")[0]
        updates = re.findall(r"^ +b[uvw] \S?= ", loop, re.MULTILINE)
        assert (updates == ["        bv = ", "        bu = "]) == (fn is two_chains), source
