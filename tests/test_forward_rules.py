"""Walk every derivative rule in forward mode: each case of tests/rule_cases.py, its jvp along
a random direction of every argument against central finite differences (as generated Python;
the last case of each rule also compiled when its tangent has a form of its own: not when it is
the elementwise partial times the tangent, or the rule's own function of the tangents (a linear
rule), whose compiled forms test_rules.py's compiled gradients hold)."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check, rules
from tests.rule_cases import make_args, short_name, write_module
from tests.test_rules import ALL, refused


def _tangent_has_a_form_of_its_own(key):
    # (an adjoint kernel's tangent: compiled only in third derivatives)
    return bool(rules.REGISTRY[key].tangents) and not short_name(key).endswith("_adjoint")


CASES = [case for case in ALL if not case[3] or _tangent_has_a_form_of_its_own(case[0])]


@pytest.mark.parametrize("key,expr,shapes,jit", CASES,
                         ids=[f"{short_name(k)}:{e}:{s}:{'jit' if j else 'python'}"
                              for k, e, s, j in CASES])
def test_rule_tangent_matches_finite_differences(key, expr, shapes, jit, tmp_path):
    if expr is None or refused(expr, shapes):
        pytest.skip("no source-mode case")
    args = make_args(key, expr, shapes, seed=11)
    fn = write_module(tmp_path, expr, shapes)
    rng = np.random.default_rng(5)
    tangents = [rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal())
                for a in args[:-1]] + [None]  # (the weights contracting the result: constant)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        value, tangent = srcad.jvp(fn, args, tangents, jit=jit)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tangent, check.along(fn, args, tangents), rtol=1e-5, atol=1e-6)


def test_every_rule_has_a_tangent():
    """Each argument a reverse rule differentiates has a forward derivative: derived from an
    elementwise or slicewise partial, from linearity, or given outright."""
    missing = []
    for key, rule in rules.REGISTRY.items():
        if rule.nondiff:
            continue
        linear = {p for group in rule.linear for p in group}
        params = [rule.params[0]] if rule.piece is not None else list(rule.partials)
        for param in params:
            if not (param in linear or param in rule.tangents or rule.linear_pieces or
                    (rule.broadcasting or rule.slicewise) and param in rule.partials):
                missing.append(f"{short_name(key)}({param})")
    assert not missing, f"rules without a forward derivative: {missing}"
