"""Forward derivatives on the tape through every differentiable primitive of srcad.rules:
srcad.jvp(mode="tape") (a vjp recorded in its cotangent, then differentiated in it) along a
random direction of every argument, against central finite differences, for each case of
tests/rule_cases.py. A first-order rule (its adjoint has no derivative in the matrix) has a
jvp too: only the cotangent is differentiated."""

import numpy as np
import pytest

import srcad
from srcad import check, rules
from tests.rule_cases import make_args, rule_cases, short_name, write_module

CASES = [case for case in rule_cases() if case[1] is not None and
         rules.REGISTRY[case[0]].section != rules.HELPERS]


@pytest.mark.parametrize(("key", "expr", "shapes"), CASES,
                         ids=[f"{short_name(k)}:{e}:{s}" for k, e, s in CASES])
def test_jvp_on_the_tape_matches_finite_differences(key, expr, shapes, tmp_path):
    args = make_args(key, expr, shapes, seed=13)
    fn = write_module(tmp_path, expr, shapes)
    rng = np.random.default_rng(7)
    tangents = [rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal())
                for a in args[:-1]] + [None]  # (the weights contracting the result: constant)
    value, tangent = srcad.jvp(fn, args, tangents, mode="tape")
    np.testing.assert_allclose(value, fn(*args), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tangent, check.along(fn, args, tangents), rtol=1e-5, atol=1e-6)


# a first-order rule after an op whose own vjp the tape evaluates through a rule (roll, tile,
# repeat, pad): the second pass met the cotangent as a tensor (found by an attack)
COMPOSED = [lambda A: np.linalg.matrix_power(np.roll(A, 1, axis=0), 3),
            lambda A: np.linalg.pinv(np.pad(A[1:, 1:], ((1, 0), (1, 0))) + np.eye(3)),
            lambda A: np.linalg.matrix_power(np.tile(A[:2, :2], (2, 2))[:3, :3] + np.eye(3), -2),
            lambda A: np.linalg.svd(np.repeat(A, 2, axis=0)[:3] + np.eye(3), compute_uv=False)]


@pytest.mark.parametrize("fn", COMPOSED, ids=["roll", "pad", "tile", "repeat"])
def test_jvp_on_the_tape_through_composed_first_order_rules(fn):
    rng = np.random.default_rng(3)
    A = rng.uniform(-1, 1, (3, 3)) + 3 * np.eye(3)
    T = rng.uniform(-1, 1, (3, 3))
    value, tangent = srcad.jvp(fn, (A,), (T,), mode="tape")
    np.testing.assert_allclose(value, fn(A), rtol=1e-10)
    np.testing.assert_allclose(tangent, check.along(fn, (A,), (T,)), rtol=1e-5, atol=1e-6)
