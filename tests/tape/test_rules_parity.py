"""Every differentiable primitive of the source transform (srcad.rules.REGISTRY) also works on the
tape, with the same math.

The walk builds, for each differentiable key, small functions calling it (on scalars, vectors and
broadcast shapes; SPECIAL for calls of another form), runs them through
srcad.tape.run.value_and_grad, the path srcad.grad(f, mode="tape") takes, and compares with central
finite differences. A key this file cannot build a call for fails, so a rule added to rules.py
without a tape counterpart fails here too. At the points where a primitive has no derivative
(ties of max/min, zeros of prod, clip at its bounds) the tape must give what the rules give:
TIES states those values.
"""

import numpy as np
import pytest

from srcad import check, rules
from srcad.tape.run import value_and_grad
from tests.rule_cases import make_args, rule_cases, short_name, write_module

# the values of the rules at points without a derivative; the function is np.sum(expression)
TIES = [
    ("np.max(x)", {"x": [1.0, 3.0, 3.0, 2.0]}, {"x": [0.0, 0.5, 0.5, 0.0]}),
    ("np.amax(x, axis=0)", {"x": [[1.0, 2.0], [1.0, 0.0]]}, {"x": [[0.5, 1.0], [0.5, 0.0]]}),
    ("np.min(x, axis=1)", {"x": [[1.0, 1.0, 2.0], [0.0, 3.0, 0.0]]},
     {"x": [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]}),
    ("np.amin(x)", {"x": [[2.0, 2.0], [2.0, 3.0]]}, {"x": [[1 / 3, 1 / 3], [1 / 3, 0.0]]}),
    ("np.maximum(x, y)", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -1.0]},
     {"x": [0.5, 0.0, 1.0], "y": [0.5, 1.0, 0.0]}),
    ("np.minimum(x, y)", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -1.0]},
     {"x": [0.5, 1.0, 0.0], "y": [0.5, 0.0, 1.0]}),
    ("np.maximum(x, y) + np.minimum(x, y)", {"x": [1.0, 2.0], "y": [1.0, 3.0]},
     {"x": [1.0, 1.0], "y": [1.0, 1.0]}),
    ("max(x, y)", {"x": 2.0, "y": 2.0}, {"x": 1.0, "y": 0.0}),
    ("min(x, y)", {"x": 2.0, "y": 2.0}, {"x": 1.0, "y": 0.0}),
    ("np.prod(x)", {"x": [2.0, 0.0, 3.0]}, {"x": [0.0, 6.0, 0.0]}),
    ("np.prod(x)", {"x": [0.0, 4.0, 0.0]}, {"x": [0.0, 0.0, 0.0]}),
    ("np.prod(x, axis=0)", {"x": [[0.0, 2.0], [5.0, 3.0]]}, {"x": [[5.0, 3.0], [0.0, 2.0]]}),
    ("np.clip(a, lo, hi)", {"a": [-1.0, -0.5, 0.2, 0.5, 1.0], "lo": -0.5, "hi": 0.5},
     {"a": [0.0, 1.0, 1.0, 1.0, 0.0], "lo": 1.0, "hi": 1.0}),
    ("abs(x) + np.abs(y)", {"x": 0.0, "y": [0.0, -2.0]}, {"x": 0.0, "y": [0.0, -1.0]}),
    ("np.where(x > 0.0, x, 2.0 * x)", {"x": [0.0, 1.0]}, {"x": [2.0, 1.0]}),
]


ALL = rule_cases()


def _case_id(key, expr, shapes):
    return f"{short_name(key)}:{expr}:{shapes}"


@pytest.mark.parametrize(("key", "expr", "shapes"), ALL, ids=[_case_id(*case) for case in ALL])
def test_rule_runs_on_the_tape_and_matches_finite_differences(key, expr, shapes, tmp_path):
    if rules.REGISTRY[key].section == rules.HELPERS:
        pytest.skip("a helper only generated code calls (never on the tape)")
    if expr is None:
        pytest.fail(f"no tape test case for the rule of {key!r}: add it to SPECIAL or DOMAINS")
    args = make_args(key, expr, shapes, seed=11)
    fn = write_module(tmp_path, expr, shapes)
    wrt = tuple(range(len(shapes)))
    before = [np.copy(a) for a in args]
    value, grads = value_and_grad(fn, tuple(args), wrt)
    for arg, old in zip(args, before, strict=True):
        np.testing.assert_array_equal(arg, old)  # the caller's arrays are never changed
    assert value == pytest.approx(fn(*args), rel=1e-12, abs=1e-12)
    for arg, grad in zip(args, grads, strict=False):
        assert isinstance(grad, float) if isinstance(arg, float) else grad.shape == arg.shape
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("expr", "inputs", "expected"), TIES, ids=[t[0] for t in TIES])
def test_points_without_a_derivative_get_the_value_the_rules_give(
    expr, inputs, expected, tmp_path
):
    fn = write_module(tmp_path, expr, inputs, weighted=False)
    args = tuple(np.array(v) if isinstance(v, list) else v for v in inputs.values())
    _, grads = value_and_grad(fn, args, tuple(range(len(args))))
    for name, grad in zip(inputs, grads, strict=True):
        np.testing.assert_allclose(grad, expected[name], rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize(("expr", "inputs", "expected"), TIES, ids=[t[0] for t in TIES])
def test_the_source_transform_gives_the_same_values_there(expr, inputs, expected, tmp_path):
    import srcad
    fn = write_module(tmp_path, expr, inputs, weighted=False)
    args = tuple(np.array(v) if isinstance(v, list) else v for v in inputs.values())
    grads = srcad.grad(fn, wrt=tuple(range(len(args))), mode="source", jit=False)(*args)
    for name, grad in zip(inputs, grads, strict=True):
        np.testing.assert_allclose(grad, expected[name], rtol=1e-12, atol=0, err_msg=name)


def test_every_differentiable_rule_is_walked():
    walked = {key for key, expr, _ in ALL if expr is not None}
    missing = [k for k, rule in rules.REGISTRY.items() if not rule.nondiff and k not in walked]
    assert not missing, f"rules without a tape test: {missing}"
    assert len(walked) > 80  # the walk itself cannot silently shrink to nothing
