"""The derivative rules: one short entry per primitive, keyed by the Python object itself.

An entry gives, for each differentiable parameter, the local partial adjoint as an expression
in the primitive's own parameter names, `g` (the adjoint of the result) and `ans` (the
result), with `np` (NumPy) and `rt` (srcad.runtime) available. Three verbs:

    elementwise(keys..., x="...", ...)  partials of a broadcasting op: the engine sums each
                                        partial back to its argument's shape
    adjoint(keys..., x="...", ...)      partials that already have their argument's shape
    nondiff(keys...)                    zero derivative everywhere (floor, sign, shapes, ...)

In `elementwise` and `adjoint`, a parameter named in `params` but given no partial has no
derivative srcad knows: differentiating through it is an error, never a silent zero.
Structural cases (subscripts, stores, copies) are statements, not expressions; they live in
`reverse.py`.
"""

import math
import operator
from dataclasses import dataclass

import numpy as np

from . import templates

REGISTRY = {}
_ALLOWED_FREE = {"g", "ans", "np", "rt"}


@dataclass(frozen=True)
class Rule:
    keys: tuple
    params: tuple
    defaults: dict
    partials: dict
    broadcasting: bool
    nondiff: bool = False
    piece: str = None  # for `pieces`: the adjoint of element k of the tuple argument

    def bind(self, args, keywords):
        """Map a call's positional and keyword argument nodes to parameter names."""
        if len(args) > len(self.params):
            raise TypeError(f"takes at most {len(self.params)} positional arguments")
        bound = dict(zip(self.params, args, strict=False))
        for name, node in keywords.items():
            if name not in self.params or name in bound:
                raise TypeError(f"unexpected keyword argument '{name}'")
            bound[name] = node
        for name in self.params:
            if name not in bound:
                if name not in self.defaults:
                    raise TypeError(f"missing argument '{name}'")
                bound[name] = self.defaults[name]
        return bound


def _parse_params(params, partials):
    if params is None:
        return tuple(partials), {}
    names, defaults = [], {}
    for part in params.split(","):
        name, _, default = part.strip().partition("=")
        names.append(name.strip())
        if default:
            defaults[name.strip()] = eval(default, {"np": np})  # literal defaults only
    return tuple(names), defaults


def _register(keys, params, partials, broadcasting, nondiff=False):
    names, defaults = _parse_params(params, partials)
    for param, text in partials.items():
        if param not in names:
            raise ValueError(f"rule for {keys[0]}: partial for unknown parameter '{param}'")
        unknown = templates.names_in(text) - set(names) - _ALLOWED_FREE
        if unknown:
            raise ValueError(f"rule for {keys[0]}: template {text!r} uses {sorted(unknown)}")
    rule = Rule(tuple(keys), names, defaults, dict(partials), broadcasting, nondiff)
    for key in keys:
        if key in REGISTRY:
            raise ValueError(f"duplicate rule for {key}")
        REGISTRY[key] = rule


def elementwise(*keys, params=None, **partials):
    _register(keys, params, partials, broadcasting=True)


def adjoint(*keys, params=None, **partials):
    _register(keys, params, partials, broadcasting=False)


def pieces(*keys, params, piece):
    """A function of a tuple of arrays or scalars (its first parameter): `piece` is the adjoint
    of element `k` of that tuple."""
    names, defaults = _parse_params(params, {})
    unknown = templates.names_in(piece) - set(names) - _ALLOWED_FREE - {"k"}
    if unknown:
        raise ValueError(f"rule for {keys[0]}: template {piece!r} uses {sorted(unknown)}")
    rule = Rule(tuple(keys), names, defaults, {}, False, piece=piece)
    for key in keys:
        if key in REGISTRY:
            raise ValueError(f"duplicate rule for {key}")
        REGISTRY[key] = rule


def nondiff(*keys):
    for key in keys:
        _register((key,), "*args", {}, broadcasting=False, nondiff=True)


def lookup(func):
    try:
        return REGISTRY.get(func)
    except TypeError:  # unhashable callee
        return None


# ---- arithmetic ---------------------------------------------------------------------------
elementwise(operator.add, np.add, x="g", y="g")
elementwise(operator.sub, np.subtract, x="g", y="-g")
elementwise(operator.mul, np.multiply, x="g * y", y="g * x")
elementwise(operator.truediv, np.divide, x="g / y", y="-g * ans / y")
elementwise(operator.pow, np.power, math.pow, pow, params="x, y",
            x="g * rt.pow_dx(x, y)", y="g * ans * rt.log_or_zero(x)")
elementwise(operator.neg, np.negative, x="-g")
elementwise(operator.pos, np.positive, float, x="g")
elementwise(operator.mod, np.mod, x="g", y="-g * np.floor(x / y)")
elementwise(np.square, x="2.0 * g * x")
elementwise(np.reciprocal, x="-g * ans * ans")

# ---- exponentials and logarithms ----------------------------------------------------------
elementwise(math.exp, np.exp, x="g * ans")
elementwise(math.expm1, np.expm1, x="g * (ans + 1.0)")
elementwise(np.exp2, x="g * ans * 0.6931471805599453")
elementwise(math.log, np.log, x="g / x")
elementwise(math.log1p, np.log1p, x="g / (1.0 + x)")
elementwise(math.log10, np.log10, x="g / (x * 2.302585092994046)")
elementwise(math.log2, np.log2, x="g / (x * 0.6931471805599453)")
elementwise(math.sqrt, np.sqrt, x="g / (2.0 * ans)")
elementwise(np.cbrt, x="g / (3.0 * ans * ans)")
elementwise(np.logaddexp, x="g * np.exp(x - ans)", y="g * np.exp(y - ans)")

# ---- trigonometric and hyperbolic ---------------------------------------------------------
elementwise(math.sin, np.sin, x="g * np.cos(x)")
elementwise(math.cos, np.cos, x="-g * np.sin(x)")
elementwise(math.tan, np.tan, x="g * (1.0 + ans * ans)")
elementwise(math.asin, np.arcsin, x="g / np.sqrt(1.0 - x * x)")
elementwise(math.acos, np.arccos, x="-g / np.sqrt(1.0 - x * x)")
elementwise(math.atan, np.arctan, x="g / (1.0 + x * x)")
elementwise(math.atan2, np.arctan2, params="y, x",
            y="g * x / (x * x + y * y)", x="-g * y / (x * x + y * y)")
elementwise(math.hypot, np.hypot, x="g * x / ans", y="g * y / ans")
elementwise(math.sinh, np.sinh, x="g * np.cosh(x)")
elementwise(math.cosh, np.cosh, x="g * np.sinh(x)")
elementwise(math.tanh, np.tanh, x="g * (1.0 - ans * ans)")
elementwise(math.asinh, np.arcsinh, x="g / np.sqrt(x * x + 1.0)")
elementwise(math.acosh, np.arccosh, x="g / np.sqrt(x * x - 1.0)")
elementwise(math.atanh, np.arctanh, x="g / (1.0 - x * x)")
elementwise(math.erf, x="g * 1.1283791670955126 * np.exp(-x * x)")

# ---- piecewise ----------------------------------------------------------------------------
elementwise(abs, np.abs, math.fabs, np.fabs, x="g * np.sign(x)")
elementwise(np.maximum, params="x, y", x="g * (x >= y)", y="g * (x < y)")
elementwise(np.minimum, params="x, y", x="g * (x <= y)", y="g * (x > y)")
# Python's max(x, y) is y if y > x else x (so x when y is nan); likewise min
elementwise(max, params="x, y", x="g * (1.0 - (y > x))", y="g * (y > x)")
elementwise(min, params="x, y", x="g * (1.0 - (y < x))", y="g * (y < x)")
elementwise(np.clip, params="a, a_min, a_max", a="g * ((a >= a_min) & (a <= a_max))",
            a_min="g * (a < a_min)", a_max="g * (a > a_max)")
elementwise(np.where, params="condition, x, y",
            x="g * condition", y="g * np.logical_not(condition)")

# ---- reductions ---------------------------------------------------------------------------
adjoint(np.sum, params="x, axis=None", x="rt.unreduce(g, x, axis)")
adjoint(np.mean, params="x, axis=None", x="rt.unreduce(g, x, axis) / rt.count(x, axis)")
adjoint(np.prod, params="x", x="rt.prod_adjoint(g, x)")
adjoint(np.max, np.amax, np.min, np.amin, params="x, axis=None",
        x="rt.extremum_adjoint(g, x, ans, axis)")
adjoint(np.cumsum, params="x", x="rt.cumsum_adjoint(g, x)")
adjoint(np.linalg.norm, params="x", x="g * x / ans")

# ---- linear algebra and shape -------------------------------------------------------------
adjoint(np.dot, operator.matmul, np.matmul, params="a, b",
        a="rt.matmul_adjoint_a(g, a, b)", b="rt.matmul_adjoint_b(g, a, b)")
adjoint(np.outer, params="a, b", a="np.dot(g, b)", b="np.dot(a, g)")
adjoint(np.transpose, params="x", x="np.transpose(g)")
adjoint(np.reshape, params="a, newshape", a="rt.reshape_like(g, a)")
adjoint(np.ravel, params="x", x="rt.reshape_like(g, x)")
elementwise(np.copy, np.ascontiguousarray, params="x", x="g")  # (a scalar becomes an array)
adjoint(np.full, params="shape, fill_value", fill_value="np.sum(g)")
adjoint(np.linspace, params="start, stop, num=50, endpoint=True",
        start="np.sum(g) - rt.linspace_weighted(g, endpoint)",
        stop="rt.linspace_weighted(g, endpoint)")

# ---- functions of a tuple (only along the first axis) ------------------------------------------
pieces(np.stack, np.array, params="arrays, axis=0", piece="g[k]")
pieces(np.concatenate, np.hstack, params="arrays, axis=0",
       piece="rt.concatenate_piece(g, arrays, k)")

# ---- zero derivative ----------------------------------------------------------------------
nondiff(operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
        operator.not_, operator.floordiv, np.floor_divide, operator.and_, operator.or_,
        operator.xor, operator.invert, np.logical_and, np.logical_or, np.logical_not,
        np.sign, np.floor, np.ceil, np.round, np.trunc, np.rint, math.floor, math.ceil,
        math.trunc, int, round, bool, len, range, np.shape, np.size, np.ndim,
        np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like,
        np.eye, np.identity, np.argmax, np.argmin, np.argsort,
        np.isnan, np.isinf, np.isfinite, np.any, np.all, np.count_nonzero,
        np.greater, np.less, np.greater_equal, np.less_equal, np.equal, np.not_equal)
