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

import builtins
import importlib.util
import itertools
import math
import operator

import numpy as np
import pytest

from srcad import check, rules
from srcad.tape.run import value_and_grad

OPERATORS = {
    operator.add: "x + y",
    operator.sub: "x - y",
    operator.mul: "x * y",
    operator.truediv: "x / y",
    operator.pow: "x ** y",
    operator.neg: "-x",
    operator.pos: "+x",
    operator.mod: "x % y",
    operator.matmul: "a @ b",
}

POSITIVE = (0.5, 2.0)
# input domains by the primitive's short name, where the default (-0.9, 0.9) is wrong for it
DOMAINS = {
    **{name: {"x": POSITIVE} for name in ("log", "log10", "log2", "sqrt", "cbrt", "reciprocal")},
    **{name: {"x": POSITIVE} for name in ("norm", "prod", "pow", "power")},
    **{name: {"y": POSITIVE} for name in ("truediv", "divide", "true_divide")},
    **{name: {"x": (1.2, 3.0)} for name in ("acosh", "arccosh")},
    **{name: {"x": (2.1, 2.9), "y": (1.1, 1.9)} for name in ("mod", "remainder")},
    "hypot": {"x": POSITIVE, "y": POSITIVE},
    "clip": {"a_min": (-0.6, -0.2), "a_max": (0.2, 0.6)},
}
# calls that are not f(x) / f(x, y) on same-or-broadcast shapes: (expression, shapes)
SPECIAL = {
    np.sum: [("np.sum(x)", {"x": (3, 4)}), ("np.sum(x, axis=0)", {"x": (3, 4)}),
             ("np.sum(x, axis=1)", {"x": (3, 4)})],
    np.mean: [("np.mean(x)", {"x": (3, 4)}), ("np.mean(x, axis=0)", {"x": (3, 4)}),
              ("np.mean(x, axis=1)", {"x": (3, 4)})],
    np.prod: [("np.prod(x)", {"x": (5,)}), ("np.prod(x)", {"x": (2, 3)}),
              ("np.prod(x, axis=1)", {"x": (2, 3)})],
    np.max: [("np.max(x)", {"x": (6,)}), ("np.max(x, axis=0)", {"x": (3, 4)})],
    np.amax: [("np.amax(x, axis=1)", {"x": (3, 4)})],
    np.min: [("np.min(x)", {"x": (6,)}), ("np.min(x, axis=1)", {"x": (3, 4)})],
    np.amin: [("np.amin(x, axis=0)", {"x": (3, 4)}), ("np.amin(x)", {"x": (3, 4)})],
    np.cumsum: [("np.cumsum(x)", {"x": (5,)}), ("np.cumsum(x)", {"x": (2, 3)})],
    np.linalg.norm: [("np.linalg.norm(x)", {"x": (4,)})],
    np.dot: [("np.dot(a, b)", {"a": (4,), "b": (4,)}), ("np.dot(a, b)", {"a": (3, 4), "b": (4,)}),
             ("np.dot(a, b)", {"a": (4,), "b": (4, 3)}),
             ("np.dot(a, b)", {"a": (3, 4), "b": (4, 2)})],
    operator.matmul: [("a @ b", {"a": (3, 4), "b": (4,)}), ("a @ b", {"a": (2, 3), "b": (3, 4)})],
    np.matmul: [("np.matmul(a, b)", {"a": (4,), "b": (4, 3)})],
    np.outer: [("np.outer(a, b)", {"a": (3,), "b": (4,)})],
    np.transpose: [("np.transpose(x)", {"x": (3, 4)})],
    np.reshape: [("np.reshape(a, (4, 3))", {"a": (3, 4)}), ("np.reshape(a, -1)", {"a": (3, 4)})],
    np.ravel: [("np.ravel(x)", {"x": (3, 4)}), ("np.ravel(x.T)", {"x": (3, 4)})],
    np.copy: [("np.copy(x)", {"x": (4,)}), ("np.copy(x)", {"x": ()})],
    np.ascontiguousarray: [("np.ascontiguousarray(x)", {"x": (3, 4)}),
                           ("np.ascontiguousarray(x.T)", {"x": (3, 4)}),
                           ("np.ascontiguousarray(x)", {"x": ()})],
    np.full: [("np.full((3, 2), fill_value)", {"fill_value": ()}),
              ("np.full(4, fill_value * 2.0)", {"fill_value": ()})],
    np.clip: [("np.clip(a, a_min, a_max)", {"a": (6,), "a_min": (), "a_max": ()}),
              ("np.clip(a, a_min, a_max)", {"a": (6,), "a_min": (6,), "a_max": (6,)}),
              ("np.clip(a, a_min, a_max)", {"a": (3, 4), "a_min": (4,), "a_max": ()}),
              ("np.clip(a, -0.3, 0.4)", {"a": (6,)})],
    np.where: [("np.where(x > 0.1, x, y)", {"x": (6,), "y": (6,)}),
               ("np.where(x > 0.1, x * y, 0.5)", {"x": (3, 4), "y": (4,)})],
    # rules of a tuple of arrays or numbers (rules.pieces)
    np.stack: [("np.stack((x, y * 2.0))", {"x": (4,), "y": (4,)}),
               ("np.stack([x, y], axis=1)", {"x": (3,), "y": (3,)})],
    np.array: [("np.array((x, y * y, 0.5))", {"x": (), "y": ()}),
               ("np.array([x, y])", {"x": (3,), "y": (3,)})],
    np.concatenate: [("np.concatenate((x, y, x[:2]))", {"x": (4,), "y": (3,)}),
                     ("np.concatenate((x, y), axis=1)", {"x": (2, 3), "y": (2, 1)})],
    np.hstack: [("np.hstack((x, y))", {"x": (3,), "y": (2,)}),
                ("np.hstack((x, y))", {"x": (), "y": (2,)})],
    max: [("max(x, y)", {"x": (), "y": ()})],
    min: [("min(x, y)", {"x": (), "y": ()})],
    float: [("float(x)", {"x": ()})],
    math.atan2: [("math.atan2(y, x)", {"y": (), "x": ()})],
    np.arctan2: [("np.arctan2(y, x)", {"y": (5,), "x": (5,)}),
                 ("np.arctan2(y, x)", {"y": (3, 4), "x": (4,)})],
}
# the values of the rules at points without a derivative; the function is np.sum(expression)
TIES = [
    ("np.max(x)", {"x": [1.0, 3.0, 3.0, 2.0]}, {"x": [0.0, 0.5, 0.5, 0.0]}),
    ("np.amax(x, axis=0)", {"x": [[1.0, 2.0], [1.0, 0.0]]}, {"x": [[0.5, 1.0], [0.5, 0.0]]}),
    ("np.min(x, axis=1)", {"x": [[1.0, 1.0, 2.0], [0.0, 3.0, 0.0]]},
     {"x": [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]}),
    ("np.amin(x)", {"x": [[2.0, 2.0], [2.0, 3.0]]}, {"x": [[1 / 3, 1 / 3], [1 / 3, 0.0]]}),
    ("np.maximum(x, y)", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -1.0]},
     {"x": [1.0, 0.0, 1.0], "y": [0.0, 1.0, 0.0]}),
    ("np.minimum(x, y)", {"x": [1.0, 2.0, 0.0], "y": [1.0, 3.0, -1.0]},
     {"x": [1.0, 1.0, 0.0], "y": [0.0, 0.0, 1.0]}),
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


def short_name(key):
    """The name a primitive is spelled with after its module: 'sin' for np.sin and math.sin."""
    name = spell(key)
    return key.__name__ if name is None else name.rpartition(".")[2].partition("(")[0]


def spell(key):
    """The Python spelling of a primitive, e.g. 'np.sin', 'math.exp', 'abs'; None for operators."""
    if key in OPERATORS:
        return None
    for module, prefix in ((np, "np"), (math, "math"), (builtins, "")):
        for name in sorted(dir(module)):
            if getattr(module, name) is key:
                return f"{prefix}.{name}" if prefix else name
    return None


def cases_for(key, rule):
    if key in SPECIAL:
        return SPECIAL[key]
    params = [p for p in rule.params if p in rule.partials]
    expr = OPERATORS.get(key)
    if expr is None:
        name = spell(key)
        if name is None:
            return []
        expr = f"{name}({', '.join(params)})"
    scalar_only = expr.startswith("math.") or expr.partition("(")[0] in ("abs", "pow")
    cases = [(expr, {p: () for p in params})]
    if not scalar_only:
        cases.append((expr, {p: (5,) for p in params}))
        if len(params) == 2:
            cases.append((expr, {params[0]: (3, 4), params[1]: (4,)}))
            cases.append((expr, {params[0]: (), params[1]: (3, 1)}))
    return cases


ALL = []
for _key, _rule in rules.REGISTRY.items():
    if _rule.nondiff:
        continue
    _cases = cases_for(_key, _rule) or [(None, None)]
    ALL.extend((_key, expr, shapes) for expr, shapes in _cases)


def _module(tmp_path, expr, names, weighted=True):
    args = list(names) + (["weights"] if weighted else [])
    result = "np.sum(r * weights)" if weighted else "np.sum(r)"
    source = ("import math\nimport operator\n\nimport numpy as np\n\n\n"
              f"def f({', '.join(args)}):\n"
              f"    r = {expr}\n"
              f"    return {result}\n")
    path = tmp_path / "tape_rule_case.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"tape_rule_case_{next(_counter)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


_counter = itertools.count()


def _case_id(key, expr, shapes):
    return f"{short_name(key)}:{expr}:{shapes}"


@pytest.mark.parametrize(("key", "expr", "shapes"), ALL, ids=[_case_id(*case) for case in ALL])
def test_rule_runs_on_the_tape_and_matches_finite_differences(key, expr, shapes, tmp_path):
    if expr is None:
        pytest.fail(f"no tape test case for the rule of {key!r}: add it to SPECIAL or DOMAINS")
    rng = np.random.default_rng(11)
    domain = DOMAINS.get(short_name(key), {})
    args = []
    for name, shape in shapes.items():
        lo, hi = domain.get(name, (-0.9, 0.9))
        value = rng.uniform(lo, hi, shape)
        args.append(float(value) if shape == () else value)
    probe = eval(expr, {"np": np, "math": math}, dict(zip(shapes, args)))
    weights = rng.uniform(0.5, 1.5, np.shape(probe)) if np.ndim(probe) else 1.3
    args.append(weights)
    fn = _module(tmp_path, expr, shapes)
    wrt = tuple(range(len(shapes)))
    before = [np.copy(a) for a in args]
    value, grads = value_and_grad(fn, tuple(args), wrt)
    for arg, old in zip(args, before):
        np.testing.assert_array_equal(arg, old)  # the caller's arrays are never changed
    assert value == pytest.approx(fn(*args), rel=1e-12, abs=1e-12)
    for arg, grad in zip(args, grads):
        assert isinstance(grad, float) if isinstance(arg, float) else grad.shape == arg.shape
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("expr", "inputs", "expected"), TIES, ids=[t[0] for t in TIES])
def test_points_without_a_derivative_get_the_value_the_rules_give(
    expr, inputs, expected, tmp_path
):
    fn = _module(tmp_path, expr, inputs, weighted=False)
    args = tuple(np.array(v) if isinstance(v, list) else v for v in inputs.values())
    _, grads = value_and_grad(fn, args, tuple(range(len(args))))
    for name, grad in zip(inputs, grads, strict=True):
        np.testing.assert_allclose(grad, expected[name], rtol=1e-12, atol=0, err_msg=name)


def test_every_differentiable_rule_is_walked():
    walked = {key for key, expr, _ in ALL if expr is not None}
    missing = [k for k, rule in rules.REGISTRY.items() if not rule.nondiff and k not in walked]
    assert not missing, f"rules without a tape test: {missing}"
    assert len(walked) > 80  # the walk itself cannot silently shrink to nothing
