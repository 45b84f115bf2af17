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
