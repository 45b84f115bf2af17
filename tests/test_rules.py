"""Walk every entry of srcad.rules.REGISTRY and check its derivative numerically.

Each differentiable rule is called on scalars, vectors and broadcast shapes from a default
domain, with overrides below for functions that need one; the result is contracted with
random weights so every entry of the adjoint is exercised. A rule this file cannot build a
call for fails the test, so an untested rule cannot exist.
"""

import importlib.util
import math
import operator
import warnings

import numpy as np
import pytest

import srcad
from srcad import check, rules

OPERATORS = {operator.add: "x + y", operator.sub: "x - y", operator.mul: "x * y",
             operator.truediv: "x / y", operator.pow: "x ** y", operator.neg: "-x",
             operator.pos: "+x", operator.mod: "x % y", operator.matmul: "x @ y"}

POSITIVE = (0.5, 2.0)
# input domains per parameter, where the default (-0.9, 0.9) is wrong for the function
DOMAINS = {
    "log": {"x": POSITIVE}, "log10": {"x": POSITIVE}, "log2": {"x": POSITIVE},
    "sqrt": {"x": POSITIVE}, "cbrt": {"x": POSITIVE}, "reciprocal": {"x": POSITIVE},
    "truediv": {"y": POSITIVE}, "divide": {"y": POSITIVE}, "acosh": {"x": (1.2, 3.0)},
    "arccosh": {"x": (1.2, 3.0)}, "pow": {"x": POSITIVE}, "power": {"x": POSITIVE},
    "mod": {"x": (2.1, 2.9), "y": (1.1, 1.9)}, "hypot": {"x": POSITIVE, "y": POSITIVE},
    "norm": {"x": POSITIVE}, "prod": {"x": POSITIVE},
}
# calls that are not f(x) / f(x, y) on same-or-broadcast shapes: (expression, shapes)
SPECIAL = {
    np.sum: [("np.sum(x)", {"x": (3, 4)}), ("np.sum(x, axis=0)", {"x": (3, 4)}),
             ("np.sum(x, axis=1)", {"x": (3, 4)})],
    np.mean: [("np.mean(x)", {"x": (3, 4)}), ("np.mean(x, axis=1)", {"x": (3, 4)})],
    np.prod: [("np.prod(x)", {"x": (5,)})],
    np.max: [("np.max(x)", {"x": (6,)}), ("np.max(x, axis=0)", {"x": (3, 4)})],
    np.amax: [("np.amax(x, axis=1)", {"x": (3, 4)})],
    np.min: [("np.min(x)", {"x": (6,)}), ("np.min(x, axis=1)", {"x": (3, 4)})],
    np.amin: [("np.amin(x, axis=0)", {"x": (3, 4)})],
    np.cumsum: [("np.cumsum(x)", {"x": (5,)})],
    np.linalg.norm: [("np.linalg.norm(x)", {"x": (4,)})],
    np.dot: [("np.dot(a, b)", {"a": (4,), "b": (4,)}), ("np.dot(a, b)", {"a": (3, 4), "b": (4,)}),
             ("np.dot(a, b)", {"a": (4,), "b": (4, 3)}),
             ("np.dot(a, b)", {"a": (3, 4), "b": (4, 2)})],
    operator.matmul: [("a @ b", {"a": (3, 4), "b": (4,)}), ("a @ b", {"a": (2, 3), "b": (3, 4)})],
    np.matmul: [("np.matmul(a, b)", {"a": (4,), "b": (4, 3)})],
    np.outer: [("np.outer(a, b)", {"a": (3,), "b": (4,)})],
    np.transpose: [("np.transpose(x)", {"x": (3, 4)})],
    np.reshape: [("np.reshape(a, (4, 3))", {"a": (3, 4)})],
    np.ravel: [("np.ravel(x)", {"x": (3, 4)})],
    np.copy: [("np.copy(x)", {"x": (4,)})],
    np.ascontiguousarray: [("np.ascontiguousarray(x)", {"x": (3, 4)})],
    np.full: [("np.full((3, 2), fill_value)", {"fill_value": ()})],
    np.clip: [("np.clip(a, a_min, a_max)", {"a": (6,), "a_min": (), "a_max": ()}),
              ("np.clip(a, -0.3, 0.4)", {"a": (6,)})],
    np.where: [("np.where(x > 0.1, x, y)", {"x": (6,), "y": (6,)}),
               ("np.where(x > 0.1, x * y, 0.5)", {"x": (3, 4), "y": (4,)})],
    np.maximum: [("np.maximum(x, y)", {"x": (6,), "y": (6,)}),
                 ("np.maximum(x, y)", {"x": (3, 4), "y": ()})],
    np.minimum: [("np.minimum(x, y)", {"x": (3, 4), "y": (4,)})],
    max: [("max(x, y)", {"x": (), "y": ()})],
    min: [("min(x, y)", {"x": (), "y": ()})],
    float: [("float(x)", {"x": ()})],
    math.atan2: [("math.atan2(y, x)", {"y": (), "x": ()})],
    np.arctan2: [("np.arctan2(y, x)", {"y": (5,), "x": (5,)})],
}


def spell(key):
    """The Python spelling of a primitive, e.g. 'np.sin', 'math.exp', 'abs'."""
    if key in OPERATORS:
        return None
    for module, prefix in ((np, "np"), (math, "math")):
        for name in dir(module):
            if getattr(module, name) is key:
                return f"{prefix}.{name}"
    if getattr(__builtins__, "get", None) and __builtins__.get(key.__name__) is key or \
            key.__name__ in ("abs", "pow", "max", "min", "float"):
        return key.__name__
    return None


def cases_for(key, rule):
    if key in SPECIAL:
        return SPECIAL[key]
    params = [p for p in rule.params if p in rule.partials]
    if key in OPERATORS:
        expr = OPERATORS[key]
    else:
        name = spell(key)
        if name is None:
            return []
        expr = f"{name}({', '.join(params)})"
    scalar_only = expr.startswith("math.") or expr.split("(")[0] in ("abs", "pow")
    cases = [(expr, {p: () for p in params})]
    if not scalar_only:
        cases.append((expr, {p: (5,) for p in params}))
        if len(params) == 2:
            cases.append((expr, {params[0]: (3, 4), params[1]: (4,)}))
            cases.append((expr, {params[0]: (), params[1]: (3, 1)}))
    return cases


def key_name(key):
    return getattr(key, "__name__", str(key))


ALL = []  # (key, expression, shapes, jit): every case as Python, the first also compiled
for _key, _rule in rules.REGISTRY.items():
    if _rule.nondiff or _rule.piece is not None:  # tuple rules: test_tuple_argument_rules
        continue
    _cases = cases_for(_key, _rule)
    if not _cases:
        ALL.append((_key, None, None, False))
    for _k, (_expr, _shapes) in enumerate(_cases):
        ALL.append((_key, _expr, _shapes, False))
        if _k == 0:
            ALL.append((_key, _expr, _shapes, True))


def _module(tmp_path, expr, shapes):
    args = list(shapes) + ["weights"]
    source = ("import math\nimport operator\nimport numpy as np\n\n\n"
              f"def f({', '.join(args)}):\n"
              f"    r = {expr}\n"
              f"    return np.sum(r * weights)\n")
    path = tmp_path / "rule_case.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"rule_case_{abs(hash(expr + str(shapes)))}",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


@pytest.mark.parametrize("key,expr,shapes,jit", ALL,
                         ids=[f"{key_name(k)}:{e}:{s}:{'jit' if j else 'python'}"
                              for k, e, s, j in ALL])
def test_rule_matches_finite_differences(key, expr, shapes, jit, tmp_path):
    if expr is None:
        pytest.fail(f"no test case for the rule of {key!r}: add it to SPECIAL or DOMAINS")
    rng = np.random.default_rng(7)
    domain = DOMAINS.get(key_name(key), {})
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
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        grads = srcad.grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


def test_every_rule_is_walked():
    walked = {k for k, e, _, _ in ALL if e is not None}
    missing = [k for k, r in rules.REGISTRY.items()
               if not r.nondiff and r.piece is None and k not in walked]
    assert not missing, f"rules without a numeric test: {missing}"


def test_tuple_argument_rules(jit, rng):
    from tests.tuple_programs import FUNCTIONS
    x, a = rng.uniform(0.3, 1.0, 4), 0.7
    for fn in FUNCTIONS:
        grads = srcad.grad(fn, wrt=(0, 1), mode="source", jit=jit)(x, a)
        check.compare(fn, (x, a), [0, 1], grads)
