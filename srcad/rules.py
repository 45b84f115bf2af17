"""The derivative rules: one short entry per primitive, keyed by the Python object itself.

An entry gives, for each differentiable parameter, the local partial adjoint as an expression
in the primitive's own parameter names, `g` (the adjoint of the result) and `ans` (the
result), with `np` (NumPy) and `rt` (srcad.runtime) available. Three verbs:

    elementwise(keys..., x="...", ...)  partials of a broadcasting op: the engine sums each
                                        partial back to its argument's shape
    adjoint(keys..., x="...", ...)      partials that already have their argument's shape
    nondiff(keys...)                    zero derivative everywhere (floor, sign, shapes, ...)

In `elementwise` and `adjoint`, a parameter named in `params` but given no partial has no
derivative srcad knows: differentiating through it is an error, never a silent zero. A partial
(or a tangent) `x * 0.0` says the derivative is zero (a shape donor, a piecewise-constant
dependence): the transforms emit no term for it. A `*` in `params` makes the parameters after
it keyword-only, as in NumPy's signature.

Forward mode (transforms/forward.py) takes its tangents from the same entries. It derives them
where the reverse rule allows: an elementwise partial with `g` replaced by the argument's
tangent `t`, and for a reduction along axes (`reduction`, or `slicewise=True`) the sum over
each slice of `t` times the partial. Besides, `linear="x"` (groups separated by `;`:
`linear="a; b"` for a product, linear in each factor) says the function is linear in those
parameters with the others fixed, so its tangent is the function of their tangents; and
`tangents={"x": "..."}` gives a tangent outright, in terms of `t`, the parameters and `ans`;
`piecewise="x"` says it is linear in x on pieces (sort, a quantile): its Jacobian is constant
between the points where x's order changes (the tape's second derivatives use it).

`forward="..."` is what compiled code computes in place of a call Numba lacks (a kernel of
`srcad.kernels`, named `kn`): always, or with `forward_options=True` only for a call that
passes more than the first argument (`np.sum(x)` is Numba's own, `np.sum(x, axis=(0, 1))` is
not).
Structural cases (subscripts, stores, copies) are statements, not expressions; they live in
`reverse.py`.
"""

import math
import operator
import re
from dataclasses import dataclass, field

import gast
import numpy as np
import scipy.linalg
import scipy.special

from . import runtime
from .compiler import templates
from .kernels import arrays as _arrays
from .kernels import linalg as _linalg
from .kernels import reductions as _reductions
from .kernels import einsum as _einsum
from .kernels.einsum import einsum as EINSUM

REGISTRY = {}
_SECTION = [""]  # the section the next rules belong to (`section`)
_ALLOWED_FREE = {"g", "ans", "np", "rt", "kn"}


@dataclass(frozen=True)
class Rule:
    keys: tuple
    params: tuple
    defaults: dict
    partials: dict
    broadcasting: bool
    nondiff: bool = False
    piece: str = None  # for `pieces`: the adjoint of element k of the tuple argument
    positional: int = None  # how many parameters may be passed by position (None: all)
    forward: str = None  # the compiled form of the call (see the module's docstring)
    forward_options: bool = False
    on_scalar: str = None  # the partial when the argument is a scalar (for reductions)
    section: str = ""  # where docs/numpy.md lists it
    max_ndim: int = None  # the partials hold for array arguments of at most this rank
    arrays_only: bool = False  # the partials hold for arrays: a number argument is refused
    linear: tuple = ()  # groups of parameters the function is (jointly) linear in
    piecewise: tuple = ()  # parameters it is linear in on pieces (sort): a locally constant
    # Jacobian, so a second derivative of 0 through them
    tangents: dict = field(default_factory=dict)  # parameter -> its tangent, in `t`
    slicewise: bool = False  # each result element depends on its own slice along `axis`
    linear_pieces: bool = False  # (pieces) linear in each element of the tuple separately
    data: tuple = ()  # array parameters without a derivative (np.interp's xp)

    def reads_as_array(self, position):
        """Does NumPy read the argument at `position` as an array (a list or tuple written
        there being the array it makes of it)?"""
        if self.piece is not None or self.nondiff or position >= len(self.params):
            return False
        param = self.params[position]
        return self.broadcasting or param in self.partials or param in self.data or \
            position == 0 and (self.slicewise or param in ("x", "a"))

    def bind(self, args, keywords):
        """Map a call's positional and keyword argument nodes to parameter names."""
        most = len(self.params) if self.positional is None else self.positional
        if len(args) > most:
            raise TypeError(f"takes at most {most} positional arguments")
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

    def bind_nodes(self, args, keywords):
        """`bind`, with defaults as constant nodes: what templates are filled with."""
        return {p: v if isinstance(v, gast.AST) else templates.make_const(v)
                for p, v in self.bind(args, keywords).items()}


def is_zero(template):
    """Does the partial or tangent `template` declare a zero derivative (`x * 0.0`)?"""
    return re.fullmatch(r"\w+ \* 0\.0", template) is not None


def _parse_params(params, partials):
    """(names, defaults, how many may be positional) of a `params` string."""
    if params is None:
        return tuple(partials), {}, None
    names, defaults, positional = [], {}, None
    for part in params.split(","):
        name, _, default = part.strip().partition("=")
        if name.strip() == "*":
            positional = len(names)
            continue
        names.append(name.strip())
        if default:
            defaults[name.strip()] = eval(default, {"np": np})  # literal defaults only
    return tuple(names), defaults, positional


def check_templates():
    """ValueError for a rule whose template reads a name other than its parameters and g, ans,
    np, rt, kn (t in a tangent, k in a piece). The tests run it: parsing every template took a
    tenth of a second of each process's first derivative."""
    for rule in {id(rule): rule for rule in REGISTRY.values()}.values():
        texts = [(text, ()) for text in rule.partials.values()] + \
            [(text, {"t"}) for text in rule.tangents.values()] + \
            [(text, extra) for text, extra in ((rule.piece, {"k"}), (rule.forward, ()))
             if text is not None]
        for text, extra in texts:
            unknown = templates.names_in(text) - set(rule.params) - _ALLOWED_FREE - set(extra)
            if unknown:
                raise ValueError(f"rule for {rule.keys[0]}: template {text!r} uses "
                                 f"{sorted(unknown)}")


def _parse_linear(key, linear, names):
    groups = tuple(tuple(p.strip() for p in group.split(",")) for group in linear.split(";")
                   if group.strip()) if linear else ()
    for group in groups:
        for param in group:
            if param not in names:
                raise ValueError(f"rule for {key}: linear in unknown parameter '{param}'")
    return groups


def _register(keys, params, partials, broadcasting, nondiff=False, forward=None,
              forward_options=False, on_scalar=None, max_ndim=None, linear=None,
              tangents=None, slicewise=False, piecewise=None, data=None, arrays_only=False):
    names, defaults, positional = _parse_params(params, partials)
    for param in (*partials, *(tangents or {})):
        if param not in names:
            raise ValueError(f"rule for {keys[0]}: derivative for unknown parameter '{param}'")
    rule = Rule(tuple(keys), names, defaults, dict(partials), broadcasting, nondiff,
                positional=positional, forward=forward, forward_options=forward_options,
                on_scalar=on_scalar, section=_SECTION[0], max_ndim=max_ndim,
                arrays_only=arrays_only,
                linear=_parse_linear(keys[0], linear, names), tangents=dict(tangents or {}),
                slicewise=slicewise, piecewise=_parse_linear(keys[0], piecewise, names)[0]
                if piecewise else (), data=_parse_linear(keys[0], data, names)[0] if data else ())
    for key in keys:
        if key in REGISTRY:  # (a library function replaced by another: np.sin = np.tanh)
            _named_twice(key)
        REGISTRY[key] = rule


def _named_twice(key):
    raise ImportError(f"srcad's rules name {key} twice: a NumPy, math or SciPy function was "
                      "replaced by another before srcad loaded its rules, which it does when it "
                      "first generates a derivative (a process taking every derivative from the "
                      "disk cache loads them later, or never): replace it after `import "
                      "srcad.rules`, or not at all")


def elementwise(*keys, params=None, forward=None, forward_options=False, **partials):
    _register(keys, params, partials, True, forward=forward, forward_options=forward_options)


def adjoint(*keys, params=None, forward=None, forward_options=False, max_ndim=None,
            linear=None, tangents=None, slicewise=False, on_scalar=None, piecewise=None,
            data=None, arrays_only=False, **partials):
    _register(keys, params, partials, False, forward=forward, forward_options=forward_options,
              max_ndim=max_ndim, linear=linear, tangents=tangents, slicewise=slicewise,
              on_scalar=on_scalar, piecewise=piecewise, data=data, arrays_only=arrays_only)


def reduction(*keys, params, forward, linear=None, tangents=None, **partials):
    """A reduction along axes: the adjoint of its one array argument, and `g` itself when that
    argument is a scalar (np.sum(2.0) is 2.0)."""
    _register(keys, params, partials, False, forward=forward, forward_options=True,
              on_scalar="g", linear=linear, tangents=tangents, slicewise=True)


def pieces(*keys, params, piece, forward=None, linear_pieces=False):
    """A function of a tuple of arrays or scalars (its first parameter): `piece` is the adjoint
    of element `k` of that tuple. It is linear in the tuple, or with `linear_pieces` in each
    element separately (a product of its operands)."""
    names, defaults, positional = _parse_params(params, {})
    linear = () if linear_pieces else ((names[0],),)
    rule = Rule(tuple(keys), names, defaults, {}, False, piece=piece, positional=positional,
                forward=forward, forward_options=True, section=_SECTION[0], linear=linear,
                tangents={}, linear_pieces=linear_pieces)
    for key in keys:
        if key in REGISTRY:  # (a library function replaced by another: np.sin = np.tanh)
            _named_twice(key)
        REGISTRY[key] = rule


def nondiff(*keys, params="*args", forward=None):
    for key in keys:
        _register((key,), params, {}, broadcasting=False, nondiff=True, forward=forward)


def section(title):
    """The rules registered next belong to `title` (a heading of docs/numpy.md)."""
    _SECTION[0] = title


def too_many_axes(rule, ranks, what):
    """The message refusing `what` where an array argument has more axes than the rule's
    partials hold for (a stack of matrices for a linear-algebra rule), else None."""
    if rule.max_ndim is None or max(ranks, default=0) <= rule.max_ndim:
        return None
    return f"srcad differentiates {what} for arrays of at most {rule.max_ndim} " \
        f"dimension(s), not {max(ranks)}"


def refused_ranks(rule, ranks, what):
    """The message refusing `what` for the ranks of its arguments (`ranks`: parameter -> the
    rank of the variable passed), else None."""
    if rule.arrays_only and any(ranks.get(p) == 0 for p in rule.partials):
        return f"srcad differentiates {what} of arrays, not of a number (NumPy's result is " \
            "a 1-element array: pass np.atleast_1d(x))"
    return too_many_axes(rule, list(ranks.values()), what)


def missing(func, what):
    """The message for a call of `func` (in `what`) that no rule covers."""
    if func in (runtime.left_singular_vectors, runtime.right_singular_vectors):
        return "no derivative of np.linalg.svd's singular vectors u and vh, only of its " \
            "singular values"
    name = getattr(func, "__qualname__", None) or repr(func)
    if hasattr(func, "__srcad_vjp__"):  # (a custom_vjp function: its result is a tuple)
        return (f"the custom_vjp function '{name}' returns a tuple (in {what}): srcad's source "
                "transform takes a custom function of one result, a number or an array "
                "(return np.array([...]) or use one function per result); the tape runs it")
    if str(getattr(func, "__module__", "")).startswith("srcad.kernels"):
        return (f"no derivative of '{name}' (in {what}), a kernel of srcad's own derivatives: "
                f"{ORDER_LIMITS}")
    return f"no derivative rule for '{name}' (in {what})"


ORDER_LIMITS = ("srcad's derivatives of the function it comes from stop at a lower order "
                "(np.prod, the vector norms and scipy.linalg.expm at the second, np.cumprod and "
                "np.linalg.det at the third, np.linalg.matrix_power, pinv, lstsq, qr and the "
                "singular values at the first)")


def lookup(func):
    try:
        return REGISTRY.get(func)
    except TypeError:  # unhashable callee
        return None


section("Arithmetic")
elementwise(operator.add, np.add, x="g", y="g")
elementwise(operator.sub, np.subtract, x="g", y="-g")
elementwise(operator.mul, np.multiply, x="g * y", y="g * x")
elementwise(operator.truediv, np.divide, x="g / y", y="-g * ans / y")
elementwise(operator.pow, np.power, np.float_power, math.pow, pow, params="x, y",
            x="g * rt.pow_dx(x, y)", y="g * ans * rt.log_or_zero(x)")
elementwise(operator.neg, np.negative, x="-g")
elementwise(operator.pos, np.positive, float, np.float64, x="g")
elementwise(operator.mod, np.mod, x="g", y="-g * np.floor(x / y)")
elementwise(np.fmod, math.fmod, x="g", y="-g * np.trunc(x / y)")  # (the remainder of a truncated quotient)
elementwise(np.square, x="2.0 * g * x")
elementwise(np.reciprocal, x="-g * ans * ans")

section("Exponentials and logarithms")
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
elementwise(np.logaddexp2, x="g * np.exp2(x - ans)", y="g * np.exp2(y - ans)")
elementwise(runtime.sigmoid, runtime.sigmoid_math, x="g * ans * (1.0 - ans)")  # 1 / (1 + e^-x)

section("Trigonometric and hyperbolic functions")
elementwise(math.sin, np.sin, x="g * np.cos(x)")
elementwise(math.cos, np.cos, x="-g * np.sin(x)")
elementwise(math.tan, np.tan, x="g * (1.0 + ans * ans)")
elementwise(math.asin, np.arcsin, x="g / np.sqrt(1.0 - x * x)")
elementwise(math.acos, np.arccos, x="-g / np.sqrt(1.0 - x * x)")
elementwise(math.atan, np.arctan, x="g / (1.0 + x * x)")
elementwise(math.atan2, np.arctan2, params="y, x",
            y="g * x / (x * x + y * y)", x="-g * y / (x * x + y * y)")
# (at the origin 0, as abs' and the norms' there: a subgradient, not 0 / 0)
elementwise(math.hypot, np.hypot, x="g * rt.xdivy(x, ans)", y="g * rt.xdivy(y, ans)")
elementwise(math.sinh, np.sinh, x="g * np.cosh(x)")
elementwise(math.cosh, np.cosh, x="g * np.sinh(x)")
elementwise(math.tanh, np.tanh, x="g * (1.0 - ans * ans)")
elementwise(math.asinh, np.arcsinh, x="g / np.sqrt(x * x + 1.0)")
elementwise(math.acosh, np.arccosh, x="g / np.sqrt(x * x - 1.0)")
elementwise(math.atanh, np.arctanh, x="g / (1.0 - x * x)")
elementwise(np.sinc, x="g * rt.sinc_dx(x)")
elementwise(np.deg2rad, np.radians, math.radians, x="g * 0.017453292519943295")  # pi / 180
elementwise(np.rad2deg, np.degrees, math.degrees, x="g * 57.29577951308232")  # 180 / pi

section("Piecewise functions")
elementwise(abs, np.abs, math.fabs, np.fabs, x="g * np.sign(x)")
elementwise(np.copysign, math.copysign, params="x, y",
            x="g * np.sign(x) * np.copysign(1.0, y)", y="g * 0.0")
# rt.masked(g, m) is g where m holds, else 0 (not g * m, which is nan where g is inf). At a tie
# each argument gets half (as in torch and JAX: maximum(x, c) + minimum(x, c) = x + c)
elementwise(np.maximum, params="x, y", x="rt.masked(g, x > y) + rt.masked(0.5 * g, x == y)",
            y="rt.masked(g, x < y) + rt.masked(0.5 * g, x == y)")
elementwise(np.minimum, params="x, y", x="rt.masked(g, x < y) + rt.masked(0.5 * g, x == y)",
            y="rt.masked(g, x > y) + rt.masked(0.5 * g, x == y)")
# fmax and fmin are maximum and minimum where a NaN loses to a number
elementwise(np.fmax, params="x, y",
            x="rt.masked(g, (x > y) | np.isnan(y)) + rt.masked(0.5 * g, x == y)",
            y="rt.masked(g, (x < y) | np.isnan(x)) + rt.masked(0.5 * g, x == y)")
elementwise(np.fmin, params="x, y",
            x="rt.masked(g, (x < y) | np.isnan(y)) + rt.masked(0.5 * g, x == y)",
            y="rt.masked(g, (x > y) | np.isnan(x)) + rt.masked(0.5 * g, x == y)")
# Python's max(x, y) is y if y > x else x (so x when y is nan); likewise min
elementwise(max, params="x, y", x="rt.masked(g, not y > x)", y="rt.masked(g, y > x)")
elementwise(min, params="x, y", x="rt.masked(g, not y < x)", y="rt.masked(g, y < x)")
# clip is minimum(maximum(a, a_min), a_max), so a_max wins where a_min > a_max; at a bound the
# gradient goes to a, as torch's clamp
elementwise(np.clip, params="a, a_min, a_max", forward="rt.clip(a, a_min, a_max)",
            a="rt.masked(g, (a >= a_min) & (a <= a_max))",
            a_min="rt.masked(g, (a < a_min) & (a_min <= a_max))",
            a_max="rt.masked(g, np.maximum(a, a_min) > a_max)")
elementwise(np.nan_to_num, params="x", x="rt.masked(g, np.isfinite(x))")
elementwise(np.where, params="condition, x, y",
            x="rt.masked(g, condition)", y="rt.masked(g, np.logical_not(condition))")

section("Reductions (axis None, an int or a tuple of ints; keepdims)")
reduction(np.sum, params="x, axis=None, *, keepdims=False", x="kn.sum_adjoint(g, x, axis)",
          forward="kn.sum_along(x, axis, keepdims)", linear="x")
reduction(np.mean, params="x, axis=None, *, keepdims=False", x="kn.mean_adjoint(g, x, axis)",
          forward="kn.mean_along(x, axis, keepdims)", linear="x")
# the NaN-ignoring reductions: a NaN entry is a missing one, with a zero derivative (compiled
# as srcad's sums, in blocks for float32 elements as NumPy's; Numba's add them in turn)
_PRESENT = "np.where(np.isnan(x), 0.0, {})"
_COUNT = f"kn.sum_along({_PRESENT.format('1.0')}, axis, keepdims)"
adjoint(np.nansum, params="x, axis=None, *, keepdims=False",
        x=_PRESENT.format("kn.sum_adjoint(g, x, axis)"),
        forward=f"kn.sum_along({_PRESENT.format('x')}, axis, keepdims)",
        tangents={"x": f"kn.sum_along({_PRESENT.format('t')}, axis, keepdims)"},
        on_scalar="g * (1.0 - np.isnan(x))", slicewise=True)
adjoint(np.nanmean, params="x, axis=None, *, keepdims=False",
        x=_PRESENT.format(f"kn.sum_adjoint(g / {_COUNT}, x, axis)"),
        forward=f"np.true_divide(kn.sum_along({_PRESENT.format('x')}, axis, keepdims), {_COUNT})",
        tangents={"x": f"kn.sum_along({_PRESENT.format('t')}, axis, keepdims) / {_COUNT}"},
        on_scalar="g * (1.0 - np.isnan(x))", slicewise=True)
reduction(np.prod, params="x, axis=None, *, keepdims=False", x="kn.prod_adjoint(g, x, axis)",
          forward="kn.prod_along(x, axis, keepdims)")
reduction(np.max, np.amax, params="x, axis=None, *, keepdims=False",
          x="kn.extremum_adjoint(g, x, ans, axis)", forward="kn.max_along(x, axis, keepdims)",
          tangents={"x": "kn.extremum_tangent(t, x, ans, axis, keepdims)"})
reduction(np.min, np.amin, params="x, axis=None, *, keepdims=False",
          x="kn.extremum_adjoint(g, x, ans, axis)", forward="kn.min_along(x, axis, keepdims)",
          tangents={"x": "kn.extremum_tangent(t, x, ans, axis, keepdims)"})
adjoint(np.var, params="x, axis=None, *, ddof=0, keepdims=False",
        x="kn.var_adjoint(g, x, axis, ddof)", on_scalar="0.0 * g",
        forward="kn.var_along(x, axis, ddof, keepdims)", forward_options=True, slicewise=True)
adjoint(np.std, params="x, axis=None, *, ddof=0, keepdims=False",
        x="kn.std_adjoint(g, x, ans, axis, ddof)", on_scalar="0.0 * g",
        forward="kn.std_along(x, axis, ddof, keepdims)", forward_options=True, slicewise=True)
adjoint(np.cumsum, params="x, axis=None", x="kn.cumsum_adjoint(g, x, axis)",
        forward="kn.cumsum_along(x, axis)", forward_options=True, linear="x", arrays_only=True)
adjoint(np.cumprod, params="x, axis=None", x="kn.cumprod_adjoint(g, x, axis)",
        forward="kn.cumprod_along(x, axis)", forward_options=True, arrays_only=True,
        tangents={"x": "kn.cumprod_tangent(t, x, ans, axis)"})
adjoint(np.linalg.norm, params="x, ord=None, axis=None, keepdims=False",
        x="kn.norm_adjoint(g, x, ans, ord, axis)",
        forward="kn.norm_along(x, ord, axis, keepdims)", forward_options=True, slicewise=True)
adjoint(scipy.special.logsumexp, params="a, axis=None, *, keepdims=False",
        a="kn.logsumexp_adjoint(g, a, ans, axis)", on_scalar="g", slicewise=True)
adjoint(scipy.special.softmax, params="x, axis=None", x="kn.softmax_adjoint(g, ans, axis)",
        on_scalar="0.0 * g", tangents={"x": "ans * (t - kn.sum_along(ans * t, axis, True))"})
adjoint(scipy.special.log_softmax, params="x, axis=None",
        x="kn.log_softmax_adjoint(g, ans, axis)", on_scalar="0.0 * g",
        tangents={"x": "t - kn.sum_along(np.exp(ans) * t, axis, True)"})

section("Sorting and order statistics (the gradient follows the stable sort's permutation)")
adjoint(np.sort, params="x, axis=-1", x="kn.sort_adjoint(g, x, axis)",
        forward="kn.sort_along(x, axis)", tangents={"x": "kn.sort_tangent(t, x, ans, axis)"},
        piecewise="x")
adjoint(np.median, params="x, axis=None, *, keepdims=False", x="kn.median_adjoint(g, x, axis)",
        forward="kn.median_along(x, axis, keepdims)", slicewise=True)
adjoint(np.quantile, params="x, q, axis=None, *, keepdims=False",
        x="kn.quantile_adjoint(g, x, q, axis)", forward="kn.quantile_along(x, q, axis, keepdims)",
        tangents={"x": "kn.quantile_tangent(t, x, q, axis, keepdims)"}, piecewise="x")
adjoint(np.percentile, params="x, q, axis=None, *, keepdims=False",
        x="kn.percentile_adjoint(g, x, q, axis)",
        forward="kn.percentile_along(x, q, axis, keepdims)",
        tangents={"x": "kn.percentile_tangent(t, x, q, axis, keepdims)"}, piecewise="x")

section("Linear algebra")
adjoint(np.dot, operator.matmul, np.matmul, params="a, b", max_ndim=2, linear="a; b",
        a="rt.matmul_adjoint_a(g, a, b)", b="rt.matmul_adjoint_b(g, a, b)")
adjoint(np.outer, params="a, b", max_ndim=1, a="np.dot(g, b)", b="np.dot(a, g)",
        linear="a; b")
adjoint(np.kron, params="a, b", a="kn.kron_adjoint_a(g, a, b)", b="kn.kron_adjoint_b(g, a, b)",
        forward="kn.kron(a, b)", linear="a; b")
adjoint(np.tensordot, params="a, b, axes=2", a="kn.tensordot_adjoint_a(g, a, b, axes)",
        b="kn.tensordot_adjoint_b(g, a, b, axes)", forward="kn.tensordot(a, b, axes)",
        linear="a; b")
adjoint(np.cross, params="a, b", forward="kn.cross(a, b)", linear="a; b",
        a="rt.unbroadcast(kn.cross(b, g), a)", b="rt.unbroadcast(kn.cross(g, a), b)")
adjoint(np.cov, params="m, y=None, rowvar=True, bias=False, ddof=None",
        forward="kn.cov(m, y, rowvar, bias, ddof)",
        m="kn.cov_adjoint(g, m, y, rowvar, bias, ddof)",
        tangents={"m": "kn.cov_tangent(t, m, y, rowvar, bias, ddof)"})
adjoint(np.convolve, _arrays.convolve, params="a, v, mode='full'", max_ndim=1,
        a="kn.convolve_adjoint(g, a, v, mode)", v="kn.convolve_adjoint(g, v, a, mode)",
        forward="kn.convolve(a, v, mode)", linear="a; v")
adjoint(np.linalg.matrix_power, params="a, n", max_ndim=2, forward="kn.matrix_power(a, n)",
        a="kn.matrix_power_adjoint(g, a, n)", tangents={"a": "kn.matrix_power_tangent(t, a, n)"})
adjoint(np.trace, params="x, offset=0", x="kn.trace_adjoint(g, x, offset)", linear="x")
adjoint(np.diag, params="v, k=0", v="kn.diag_adjoint(g, v, k)", linear="v")
adjoint(np.linalg.solve, params="a, b", max_ndim=2, a="kn.solve_adjoint_a(g, a, ans)",
        b="kn.solve_adjoint_b(g, a)", linear="b",
        tangents={"a": "-np.linalg.solve(a, np.dot(t, ans))"})
adjoint(np.linalg.inv, params="a", max_ndim=2, a="kn.inv_adjoint(g, ans)",
        tangents={"a": "-np.dot(ans, np.dot(t, ans))"})
adjoint(np.linalg.pinv, params="a", max_ndim=2, a="kn.pinv_adjoint(g, a, ans)",
        tangents={"a": "kn.pinv_tangent(t, a, ans)"})
adjoint(np.linalg.det, params="a", max_ndim=2, a="kn.det_adjoint(g, a, ans)",
        tangents={"a": "kn.det_tangent(t, a, ans)"})
# dL = L Φ(L^-1 dA L^-T) for dA the symmetric matrix of t's lower triangle
_CHOLESKY_TANGENT = ("np.dot({L}, kn.lower_half_diagonal(kn.solve_triangular({L}, np.transpose("
                    "kn.solve_triangular({L}, kn.lower_symmetric({t}), lower=True)), lower=True)))")
adjoint(np.linalg.cholesky, params="a", max_ndim=2,
        a="kn.lower_triangle_adjoint(kn.cholesky_adjoint(g, ans))",
        tangents={"a": _CHOLESKY_TANGENT.format(L="ans", t="t")})
adjoint(scipy.linalg.solve_triangular, params="a, b, trans=0, lower=False, unit_diagonal=False",
        a="kn.solve_triangular_adjoint_a(g, a, ans, trans, lower, unit_diagonal)",
        b="kn.solve_triangular_adjoint_b(g, a, trans, lower, unit_diagonal)", linear="b",
        tangents={"a": "-kn.solve_triangular(a, np.dot(kn.triangle_operand(t, trans, lower, "
                       "unit_diagonal), ans), trans=trans, lower=lower, unit_diagonal=unit_diagonal)"})
adjoint(scipy.linalg.cho_solve, params="c_and_lower, b",
        b="kn.cho_solve_adjoint_b(g, c_and_lower)", linear="b")
# the upper factor (lower=False) of a is the transpose of the lower one of a^T
adjoint(scipy.linalg.cholesky, params="a, lower=False, overwrite_a=False, check_finite=True",
        max_ndim=2,
        a="kn.lower_form(kn.lower_triangle_adjoint(kn.cholesky_adjoint(kn.lower_form(g, lower), "
          "kn.lower_form(ans, lower))), lower)",
        tangents={"a": "kn.lower_form({}, lower)".format(_CHOLESKY_TANGENT.format(
            L="kn.lower_form(ans, lower)", t="kn.lower_form(t, lower)"))})

# the derivative of expm at A along t is the Fréchet derivative L(A, t) (a kernel); Ā = L(Aᵀ, ḡ).
# (L's own rule, among the helpers, gives second derivatives)
adjoint(scipy.linalg.expm, params="A", max_ndim=2, arrays_only=True, forward="kn.expm(A)",
        A="kn.expm_frechet(np.transpose(A), g)", tangents={"A": "kn.expm_frechet(A, t)"})

# a function of several results is one primitive per result: normalize lowers
# `s, l = np.linalg.slogdet(a)` to `s = rt.det_sign(a)` and `l = rt.logabsdet(a)`
SEVERAL_RESULTS = {np.linalg.slogdet: (runtime.det_sign, runtime.logabsdet),
                   np.linalg.eigh: (runtime.eigenvalues, runtime.eigenvectors),
                   np.linalg.qr: (runtime.qr_q, runtime.qr_r),
                   np.linalg.svd: (runtime.left_singular_vectors, runtime.singular_values,
                                   runtime.right_singular_vectors)}
# (np.linalg.svd(a, compute_uv=False) is rt.singular_values(a); the singular vectors have no
# rule: their derivative is undefined where singular values repeat, and seldom asked for)
adjoint(runtime.singular_values, params="a, full_matrices=True", max_ndim=2,
        a="kn.singular_values_adjoint(g, a)", tangents={"a": "kn.singular_values_tangent(t, a)"})
# np.linalg.lstsq(a, b)[0] (a composition writes lstsq with it): pinv(a) b, where a has constant
# rank
adjoint(_linalg.lstsq_solution, params="a, b", max_ndim=2, a="kn.lstsq_adjoint_a(g, a, b)",
        b="kn.lstsq_adjoint_b(g, a, b)", linear="b", tangents={"a": "kn.lstsq_tangent_a(t, a, b)"})
adjoint(runtime.qr_q, params="a", max_ndim=2, a="kn.qr_q_adjoint(g, a)",
        tangents={"a": "kn.qr_q_tangent(t, a)"})
adjoint(runtime.qr_r, params="a", max_ndim=2, a="kn.qr_r_adjoint(g, a)",
        tangents={"a": "kn.qr_r_tangent(t, a)"})
adjoint(runtime.logabsdet, params="a", max_ndim=2, a="kn.slogdet_adjoint(g, a)",
        tangents={"a": "np.trace(np.linalg.solve(a, t))"})
# (eigh, eigvalsh and cholesky read only the lower triangle of their argument)
adjoint(runtime.eigenvalues, np.linalg.eigvalsh, params="a", max_ndim=2,
        a="kn.lower_triangle_adjoint(kn.eigenvalues_adjoint(g, a))",
        tangents={"a": "np.sum(rt.eigenvectors(a) * np.dot(kn.lower_symmetric(t), "
                       "rt.eigenvectors(a)), axis=0)"})
adjoint(runtime.eigenvectors, params="a", max_ndim=2,
        a="kn.lower_triangle_adjoint(kn.eigenvectors_adjoint(g, a, ans))",
        tangents={"a": "np.dot(ans, kn.gap_divide(np.dot(np.transpose(ans), "
                       "np.dot(kn.lower_symmetric(t), ans)), rt.eigenvalues(a)))"})

section("Shapes and rearrangements")
adjoint(np.gradient, params="f, h=1.0, *, axis=None, edge_order=1",
        forward="kn.gradient(f, h, axis, edge_order)", linear="f",
        f="kn.gradient_adjoint(g, h, axis, edge_order)", h="-np.sum(g * ans) / h",
        tangents={"h": "-ans * t / h"})
adjoint(np.transpose, params="x, axes=None", x="kn.transpose_adjoint(g, axes)", linear="x")
adjoint(np.diagonal, params="x, offset=0", max_ndim=2, x="kn.diag_adjoint(g, x, offset)",
        forward="kn.diagonal(x, offset)", linear="x")
adjoint(np.broadcast_to, params="x, shape", x="rt.unbroadcast(g, x)", linear="x")
# ufunc.outer(a, b) is lowered to ufunc(kn.outer_operand(a, np.shape(b)), b)
adjoint(_arrays.outer_operand, params="a, shape", a="rt.reshape_like(g, a)", linear="a")
# np.append(a, v) is lowered to np.concatenate((kn.flat(a), kn.flat(v)))
adjoint(_arrays.flat, params="x", x="rt.reshape_like(g, x)", linear="x")
adjoint(np.reshape, params="a, newshape", a="rt.reshape_like(g, a)", linear="a",
        forward="rt.reshape(a, newshape)")
adjoint(np.ravel, params="x", x="rt.reshape_like(g, x)", linear="x")
adjoint(runtime.item, params="x", x="np.full_like(x, g)", on_scalar="g", linear="x")  # x.item()
adjoint(np.expand_dims, params="a, axis", a="rt.reshape_like(g, a)", linear="a")
adjoint(np.squeeze, params="a, axis", a="rt.reshape_like(g, a)",  # (an axis: a known rank)
        forward="kn.squeeze_axes(a, axis)", linear="a")
elementwise(np.copy, np.ascontiguousarray, params="x", x="g")  # (a scalar becomes an array)
elementwise(np.asarray, params="a, dtype=None", a="g")  # (the array itself, or a conversion)
elementwise(np.real, params="x", x="g")  # (of real numbers: the numbers)
adjoint(np.atleast_1d, np.atleast_2d, np.atleast_3d, params="x", x="rt.reshape_like(g, x)",
        linear="x")
adjoint(np.swapaxes, params="a, axis1, axis2", a="np.swapaxes(g, axis1, axis2)", linear="a")
adjoint(np.moveaxis, params="a, source, destination", a="np.moveaxis(g, destination, source)",
        linear="a")
adjoint(np.full, params="shape, fill_value", fill_value="np.sum(g)", linear="fill_value")
elementwise(np.full_like, params="a, fill_value", a="g * 0.0", fill_value="g")
adjoint(np.linspace, params="start, stop, num=50, endpoint=True",
        start="np.sum(g) - rt.linspace_weighted(g, endpoint)",
        stop="rt.linspace_weighted(g, endpoint)",
        forward="rt.linspace(start, stop, num, endpoint)", forward_options=True,
        linear="start, stop")
adjoint(np.diff, params="x, n=1, axis=-1", x="kn.diff_adjoint(g, x, n, axis)",
        forward="kn.diff_along(x, n, axis)", linear="x")
adjoint(np.roll, params="x, shift, axis=None", x="kn.roll_adjoint(g, shift, axis)",
        forward="kn.roll_along(x, shift, axis)", linear="x")
adjoint(np.flip, params="x, axis=None", x="kn.flip_adjoint(g, axis)",
        forward="kn.flip_along(x, axis)", linear="x")
adjoint(np.tril, params="x, k=0", x="kn.tril_adjoint(g, k)", linear="x")
adjoint(np.triu, params="x, k=0", x="kn.triu_adjoint(g, k)", linear="x")
adjoint(np.tile, params="x, reps", x="kn.tile_adjoint(g, x, reps)", forward="kn.tile(x, reps)",
        linear="x")
# (np.pad: mode 'constant' with one number, or a mode copying the array's entries: edge,
# reflect, symmetric, wrap)
adjoint(np.pad, params="array, pad_width, mode='constant', *, constant_values=0",
        array="kn.pad_adjoint(g, array, pad_width, mode, constant_values)",
        constant_values="kn.pad_border_sum(g, array, pad_width, mode, constant_values)",
        forward="kn.pad_along(array, pad_width, mode, constant_values)",
        linear="array, constant_values")
adjoint(np.repeat, params="x, repeats, axis=None", x="kn.repeat_adjoint(g, x, repeats, axis)",
        forward="kn.repeat_along(x, repeats, axis)", linear="x")
adjoint(np.take, params="x, indices, axis=None", x="kn.take_adjoint(g, x, indices, axis)",
        data="indices",
        forward="kn.take_along(x, indices, axis)", linear="x")
adjoint(np.take_along_axis, params="arr, indices, axis=-1",
        arr="kn.take_along_axis_adjoint(g, arr, indices, axis)", data="indices",
        forward="kn.take_along_axis(arr, indices, axis)", linear="arr")
adjoint(np.interp, params="x, xp, fp, left=None, right=None",
        x="kn.interp_adjoint_x(g, x, xp, fp, left, right)",
        fp="kn.interp_adjoint_fp(g, x, xp, fp, left, right)", linear="fp", data="xp",
        tangents={"x": "t * kn.interp_adjoint_x(ans * 0.0 + 1.0, x, xp, fp, left, right)"},
        piecewise="x")
adjoint(np.trapezoid, params="y, x=None, dx=1.0, axis=-1",
        y="kn.trapezoid_adjoint_y(g, y, x, dx, axis)", x="kn.trapezoid_adjoint_x(g, y, x, axis)",
        dx="kn.trapezoid_adjoint_dx(g, y, axis)", forward="kn.trapezoid_along(y, x, dx, axis)",
        linear="y; x; dx")

section("Special functions")
elementwise(math.lgamma, scipy.special.gammaln, x="g * kn.digamma(x)")
elementwise(math.gamma, scipy.special.gamma, x="g * ans * kn.digamma(x)")
elementwise(scipy.special.digamma, x="g * kn.polygamma(1, x)")
elementwise(scipy.special.polygamma, params="n, x", x="g * kn.polygamma(n + 1, x)")
elementwise(math.erf, scipy.special.erf, x="g * 1.1283791670955126 * np.exp(-x * x)")
elementwise(math.erfc, scipy.special.erfc, x="-g * 1.1283791670955126 * np.exp(-x * x)")
elementwise(scipy.special.erfinv, x="g * 0.886226925452758 * np.exp(ans * ans)")
elementwise(scipy.special.erfcinv, x="-g * 0.886226925452758 * np.exp(ans * ans)")
elementwise(scipy.special.expit, x="g * ans * (1.0 - ans)")
elementwise(scipy.special.logit, x="g / (x * (1.0 - x))")
elementwise(scipy.special.log_expit, x="g * kn.expit(-x)")
elementwise(scipy.special.ndtr, x="g * 0.3989422804014327 * np.exp(-0.5 * x * x)")
elementwise(scipy.special.log_ndtr, x="g * 0.3989422804014327 * np.exp(-0.5 * x * x - ans)")
elementwise(scipy.special.ndtri, x="g * 2.5066282746310002 * np.exp(0.5 * ans * ans)")
# (the modified Bessel functions: I_v' = (I_{v-1} + I_{v+1}) / 2, so every order has a rule;
# the exponentially scaled ones, e^-|x| I_v, lose sign(x) times themselves)
elementwise(scipy.special.i0, x="g * kn.i1(x)")
elementwise(scipy.special.i1, x="g * 0.5 * (kn.i0(x) + kn.iv(2.0, x))")
elementwise(scipy.special.iv, params="v, x", x="g * 0.5 * (kn.iv(v - 1.0, x) + kn.iv(v + 1.0, x))")
elementwise(scipy.special.i0e, x="g * (kn.i1e(x) - np.sign(x) * ans)")
elementwise(scipy.special.i1e, x="g * (0.5 * (kn.i0e(x) + kn.ive(2.0, x)) - np.sign(x) * ans)")
elementwise(scipy.special.ive, params="v, x",
            x="g * (0.5 * (kn.ive(v - 1.0, x) + kn.ive(v + 1.0, x)) - np.sign(x) * ans)")
# (kl_div, rel_entr and huber are a constant inf outside their domain, where `0.0 * ans` makes
# each partial NaN, not the other branch's formula)
elementwise(scipy.special.entr, x="-g * (np.log(x) + 1.0)")
elementwise(scipy.special.kl_div, params="x, y", x="g * np.log(x / y)",
            y="g * (1.0 - x / y + 0.0 * ans)")
elementwise(scipy.special.rel_entr, params="x, y", x="g * (np.log(x / y) + 1.0)",
            y="-g * (x / y + 0.0 * ans)")
# (huber(delta, r): r * r / 2 where |r| <= delta, delta * (|r| - delta / 2) beyond)
elementwise(scipy.special.huber, params="delta, r",
            delta="g * (np.maximum(np.abs(r) - delta, 0.0) + 0.0 * ans)",
            r="g * (np.minimum(np.maximum(r, -delta), delta) + 0.0 * ans)")
elementwise(scipy.special.xlogy, params="x, y", x="g * np.log(y)", y="g * rt.xdivy(x, y)")
elementwise(scipy.special.xlog1py, params="x, y", x="g * np.log1p(y)",
            y="g * rt.xdivy(x, 1.0 + y)")
elementwise(scipy.special.betaln, params="a, b",
            a="g * (kn.digamma(a) - kn.digamma(a + b))",
            b="g * (kn.digamma(b) - kn.digamma(a + b))")
elementwise(scipy.special.beta, params="a, b",
            a="g * ans * (kn.digamma(a) - kn.digamma(a + b))",
            b="g * ans * (kn.digamma(b) - kn.digamma(a + b))")

section("Functions of a tuple of arrays (written in the call)")
pieces(np.array, params="arrays", piece="g[k]")
pieces(np.stack, params="arrays, axis=0", piece="np.moveaxis(g, axis, 0)[k]")
pieces(np.concatenate, params="arrays, axis=0", piece="rt.concatenate_piece(g, arrays, k, axis)")
pieces(np.hstack, params="arrays",
       piece="rt.concatenate_piece(g, arrays, k, rt.hstack_axis(arrays))")
pieces(np.vstack, params="arrays", piece="rt.vstack_piece(g, arrays, k)")
# np.einsum(subscripts, a, b) is lowered to EINSUM((a, b), subscripts) (constant subscripts)
pieces(EINSUM, params="operands, subscripts",
       piece="kn.einsum_adjoint(operands, subscripts, k, g)", linear_pieces=True)
# (an einsum term of one index twice, 'ii': the diagonal of a square operand)
adjoint(_einsum.collapsed_diagonal, params="x", x="kn.diag_adjoint(g, x, 0)", linear="x")

# the helpers forward mode's tangents call, differentiated again for second derivatives (hvp,
# grad of grad); only generated code calls them
HELPERS = "Helpers of generated derivative code"
section(HELPERS)
elementwise(runtime.broadcast_tangent, params="t, ans", t="g", ans="g * 0.0")
# (a list's array grown: compiler/lists.py; `item` gives an empty list's items their shape)
adjoint(runtime.list_grown, params="items, length, item",
        items="rt.list_grown_adjoint(g, items)", item="item * 0.0", linear="items",
        tangents={"item": "ans * 0.0"})
adjoint(runtime.list_grown_adjoint, params="rows, items",
        rows="rt.list_grown(g, items.shape[0], rows[0])", items="items * 0.0", linear="rows",
        tangents={"items": "ans * 0.0"})
adjoint(runtime.checked_tangent, params="tangent, ans, where", tangent="g", ans="g * 0.0",
        linear="tangent", tangents={"ans": "ans * 0.0"})
elementwise(runtime.masked, params="value, mask", value="rt.masked(g, mask)")
elementwise(runtime.pow_dx, params="x, y, k=1", x="g * rt.pow_dx(x, y, k + 1)",
            y="g * (rt.falling(y, k, 1) * np.power(x, y - k) + rt.pow_dx(x, y, k) * "
              "rt.log_or_zero(x))")
elementwise(runtime.falling, params="y, k, m=0", y="g * rt.falling(y, k, m + 1)")
elementwise(runtime.sinc_dx, params="x, k=1", x="g * rt.sinc_dx(x, k + 1)")
elementwise(runtime.log_or_zero, x="g * rt.inverse_or_zero(x)")
elementwise(runtime.inverse_or_zero, x="-g * rt.inverse_or_zero(x) ** 2")
elementwise(runtime.xdivy, params="x, y", x="g / y", y="-g * rt.xdivy(x, y) / y")
reduction(_reductions.sum_along, params="x, axis=None, keepdims=False",
          x="kn.sum_adjoint(g, x, axis)", forward=None, linear="x")
# max and min's partial: g / (number of ties) where x equals the extremum m, a function of x
# and m constant between ties
adjoint(_reductions.extremum_adjoint, params="g, x, m, axis=None", linear="g", x="x * 0.0",
        m="m * 0.0", tangents={"x": "ans * 0.0", "m": "ans * 0.0"})
# the adjoints of the reductions, differentiated again (for their hvp): `gy` is the adjoint an
# adjoint takes (`g` is the rule's own) and `ans` its result; each is linear in gy, var's and
# std's also in x (with std's result `s` held fixed); `sum_like` is sum_adjoint's transpose
adjoint(_reductions.sum_like, params="v, like, axis=None", v="kn.sum_adjoint(g, v, axis)",
        linear="v")
adjoint(_reductions.sum_adjoint, params="gy, x, axis=None", linear="gy",
        gy="kn.sum_like(g, gy, axis)", x="x * 0.0", tangents={"x": "ans * 0.0"})
adjoint(_reductions.var_adjoint, params="gy, x, axis=None, ddof=0", linear="gy; x",
        gy="kn.sum_like(g * kn.var_adjoint(gy * 0.0 + 1.0, x, axis, ddof), gy, axis)",
        x="kn.var_adjoint(1.0, g * kn.sum_adjoint(gy, x, axis), axis, ddof)")
adjoint(_reductions.std_adjoint, params="gy, x, s, axis=None, ddof=0", linear="gy; x",
        gy="kn.sum_like(g * kn.std_adjoint(gy * 0.0 + 1.0, x, s, axis, ddof), gy, axis)",
        x="kn.std_adjoint(1.0, g * kn.sum_adjoint(gy, x, axis), s, axis, ddof)",
        s="-rt.xdivy(kn.sum_like(g * ans, s, axis), s)",
        tangents={"s": "-rt.xdivy(ans * kn.sum_adjoint(t, x, axis), kn.sum_adjoint(s, x, axis))"})
adjoint(_reductions.logsumexp_adjoint, params="gy, x, m, axis=None", linear="gy",
        gy="kn.sum_like(g * kn.logsumexp_adjoint(gy * 0.0 + 1.0, x, m, axis), gy, axis)",
        x="g * ans", m="-kn.sum_like(g * ans, m, axis)",
        tangents={"x": "t * ans", "m": "-ans * kn.sum_adjoint(t, x, axis)"})
adjoint(_reductions.prod_adjoint, params="gy, x, axis=None", linear="gy",
        gy="kn.sum_like(g * kn.prod_adjoint(gy * 0.0 + 1.0, x, axis), gy, axis)",
        x="kn.prod_curvature(g * kn.sum_adjoint(gy, x, axis), x, axis)",
        tangents={"x": "kn.sum_adjoint(gy, x, axis) * kn.prod_curvature(t, x, axis)"})
adjoint(_linalg.norm_adjoint, params="gy, x, a, ord=None, axis=None", linear="gy",
        gy="kn.sum_like(g * kn.norm_adjoint(gy * 0.0 + 1.0, x, a, ord, axis), gy, axis)",
        x="g * kn.sum_adjoint(gy, x, axis) * kn.norm_curvature(x, a, ord, axis)",
        a="rt.xdivy(kn.norm_adjoint_power(ord) * kn.sum_like(g * ans, a, axis), a)",
        tangents={"x": "t * kn.sum_adjoint(gy, x, axis) * kn.norm_curvature(x, a, ord, axis)",
                  "a": "rt.xdivy(kn.norm_adjoint_power(ord) * ans * kn.sum_adjoint(t, x, axis), "
                       "kn.sum_adjoint(a, x, axis))"})

# the adjoints of softmax, log_softmax, cumprod and log|det a| differentiated again (the tape's
# second derivatives): each linear in gy, softmax's self-adjoint in it, cumprod's the transpose
# of its tangent (`like` the result's shape)
adjoint(_reductions.softmax_adjoint, params="gy, s, axis=None", linear="gy",
        gy="kn.softmax_adjoint(g, s, axis)",
        s="g * (gy - kn.sum_along(gy * s, axis, True)) - gy * kn.sum_along(g * s, axis, True)",
        tangents={"s": "t * (gy - kn.sum_along(gy * s, axis, True)) - "
                       "s * kn.sum_along(gy * t, axis, True)"})
adjoint(_reductions.log_softmax_adjoint, params="gy, ls, axis=None", linear="gy",
        gy="g - kn.sum_along(np.exp(ls) * g, axis, True)",
        ls="-g * np.exp(ls) * kn.sum_along(gy, axis, True)",
        tangents={"ls": "-t * np.exp(ls) * kn.sum_along(gy, axis, True)"})
adjoint(_reductions.cumprod_adjoint, params="gy, x, axis=None", linear="gy",
        gy="kn.cumprod_tangent(g, x, gy, axis)", x="kn.cumprod_tangent_adjoint_x(gy, g, x, axis)",
        tangents={"x": "kn.cumprod_tangent_adjoint_x(gy, t, x, axis)"})
adjoint(_linalg.singular_values_adjoint, params="gy, a", linear="gy",
        gy="kn.singular_values_tangent(g, a)")
# np.cov's adjoint and tangent: each linear in both arguments, each the other's adjoint
adjoint(_reductions.cov_adjoint, params="gy, x, y=None, rowvar=True, bias=False, ddof=None",
        linear="gy; x", gy="kn.cov_tangent(g, x, y, rowvar, bias, ddof)",
        x="kn.cov_adjoint(gy, g, y, rowvar, bias, ddof)")
adjoint(_reductions.cov_tangent, params="t, x, y=None, rowvar=True, bias=False, ddof=None",
        linear="t; x", t="kn.cov_adjoint(g, x, y, rowvar, bias, ddof)",
        x="kn.cov_adjoint(g, t, y, rowvar, bias, ddof)")
# np.convolve's adjoint is linear in the cotangent and in the other operand
adjoint(_arrays.convolve_adjoint, params="gy, x, other, mode='full'", linear="gy; other",
        gy="kn.convolve(g, other, mode)", other="kn.convolve_adjoint(gy, other, g, mode)",
        x="x * 0.0", tangents={"x": "ans * 0.0"})  # (x gives its length only)
adjoint(_linalg.slogdet_adjoint, params="gy, a", linear="gy",
        gy="np.sum(g * kn.slogdet_adjoint(1.0, a))",
        a="-gy * np.transpose(np.dot(np.linalg.inv(a), np.dot(g, np.linalg.inv(a))))",
        tangents={"a": "-gy * np.transpose(np.dot(np.linalg.inv(a), np.dot(t, "
                       "np.linalg.inv(a))))"})

# cho_solve((c, lower), b) as the normalizer writes it; x solves C C^T x = b for C the lower
# form of c's triangle that is read, so dx = -(C C^T)^-1 (T C^T + C T^T) x
adjoint(_linalg.cholesky_solve, params="c, b, lower=False",
        c="kn.cho_solve_adjoint_c(g, (c, lower), ans)", b="kn.cholesky_solve(c, g, lower)",
        linear="b",
        tangents={"c": "-kn.cholesky_solve(c, np.dot(np.tril(kn.lower_form(t, lower)), "
                       "np.dot(np.transpose(np.tril(kn.lower_form(c, lower))), ans)) + "
                       "np.dot(np.tril(kn.lower_form(c, lower)), np.dot(np.transpose("
                       "np.tril(kn.lower_form(t, lower))), ans)), lower)"})
# (the second derivative of det: from a^-1, or where a is singular or nearly from its minors)
adjoint(_linalg.det_tangent, params="u, a, det", linear="u", u="kn.det_adjoint(g, a, det)",
        a="kn.det_tangent_adjoint_a(g, u, a, det)", det="kn.det_tangent_adjoint_det(g, u, a, det)",
        tangents={"a": "kn.det_tangent_tangent_a(t, u, a, det)",
                  "det": "kn.det_tangent_adjoint_det(t, u, a, det)"})
# the linear maps the tangents of cholesky, eigh and solve_triangular are written with, each
# transposing to the other of its pair
adjoint(_linalg.lower_symmetric, params="t", linear="t", t="kn.lower_triangle_adjoint(g)")
adjoint(_linalg.lower_triangle_adjoint, params="s", linear="s", s="kn.lower_symmetric(g)")
adjoint(_linalg.lower_half_diagonal, params="a", linear="a", a="kn.lower_half_diagonal(g)")
adjoint(_linalg.lower_form, params="x, lower", linear="x", x="kn.lower_form(g, lower)")
adjoint(_linalg.gaps, params="w", linear="w", w="kn.gaps_adjoint(g)")
adjoint(_linalg.gaps_adjoint, params="d", linear="d", d="kn.gaps(g)")
adjoint(_linalg.triangle_operand, params="u, trans=0, lower=False, unit_diagonal=False",
        linear="u", u="kn.triangle_operand_adjoint(g, trans, lower, unit_diagonal)")
adjoint(_linalg.triangle_operand_adjoint, params="u, trans=0, lower=False, unit_diagonal=False",
        linear="u", u="kn.triangle_operand(g, trans, lower, unit_diagonal)")
# m / (w_j - w_i): its derivative in w is -ans / (w_j - w_i) times the gaps' derivative
adjoint(_linalg.gap_divide, params="m, w", linear="m", m="kn.gap_divide(g, w)",
        w="kn.gaps_adjoint(kn.gap_divide(-g * ans, w))",
        tangents={"w": "kn.gap_divide(-ans * kn.gaps(t), w)"})
# cumprod's tangent along u: linear in u (its transpose is cumprod's adjoint); `like` gives the
# result's shape only
adjoint(_reductions.cumprod_tangent, params="u, x, like, axis=None", linear="u",
        u="kn.cumprod_adjoint(g, x, axis)", x="kn.cumprod_tangent_adjoint_x(g, u, x, axis)",
        like="like * 0.0",
        tangents={"x": "kn.cumprod_cross_tangent(u, t, x, like, axis)", "like": "ans * 0.0"})
# its derivative along s: symmetric in u and s, each transposing to the other's x̄
adjoint(_reductions.cumprod_cross_tangent, params="u, s, x, like, axis=None", linear="u; s",
        u="kn.cumprod_tangent_adjoint_x(g, s, x, axis)",
        s="kn.cumprod_tangent_adjoint_x(g, u, x, axis)",
        x="kn.cumprod_cross_tangent_adjoint_x(g, u, s, x, axis)", like="like * 0.0",
        tangents={"x": "kn.cumprod_triple_tangent(u, s, t, x, like, axis)", "like": "ans * 0.0"})
# x̄ of <gy, cumprod's tangent along u>: H u for the Hessian H of <gy, cumprod(x)>, which is
# symmetric (u's adjoint is itself), its gy-adjoint the second derivative along u and ḡ
adjoint(_reductions.cumprod_tangent_adjoint_x, params="gy, u, x, axis=None", linear="gy; u",
        gy="kn.cumprod_cross_tangent(u, g, x, gy, axis)",
        u="kn.cumprod_tangent_adjoint_x(gy, g, x, axis)",
        x="kn.cumprod_cross_tangent_adjoint_x(gy, u, g, x, axis)",
        tangents={"x": "kn.cumprod_cross_tangent_adjoint_x(gy, u, t, x, axis)"})

# the tangents of piecewise-linear functions: linear in the tangent `u`, constant in x
# between the points where x's order (or segment) changes
adjoint(_reductions.extremum_tangent, params="u, x, m, axis=None, keepdims=False", linear="u",
        u="kn.extremum_adjoint(g, x, m, axis)", x="x * 0.0", m="m * 0.0",
        tangents={"x": "ans * 0.0", "m": "ans * 0.0"})
adjoint(_arrays.sort_tangent, params="u, x, s, axis=-1", linear="u",
        u="kn.sort_adjoint(g, x, axis)", x="x * 0.0", s="s * 0.0",
        tangents={"x": "ans * 0.0", "s": "ans * 0.0"})
adjoint(_arrays.sort_adjoint, params="gy, x, axis=-1", linear="gy",
        gy="kn.sort_tangent(g, x, x, axis)", x="x * 0.0", tangents={"x": "ans * 0.0"})
adjoint(_arrays.median_adjoint, params="gy, x, axis=None", linear="gy",
        gy="kn.sum_like(g * kn.median_adjoint(gy * 0.0 + 1.0, x, axis), gy, axis)", x="x * 0.0",
        tangents={"x": "ans * 0.0"})
adjoint(_arrays.quantile_tangent, params="u, x, q, axis=None, keepdims=False", linear="u",
        u="kn.quantile_adjoint(g, x, q, axis)", x="x * 0.0", tangents={"x": "ans * 0.0"})
adjoint(_arrays.percentile_tangent, params="u, x, q, axis=None, keepdims=False", linear="u",
        u="kn.percentile_adjoint(g, x, q, axis)", x="x * 0.0", tangents={"x": "ans * 0.0"})
adjoint(_arrays.interp_adjoint_x, params="gy, x, xp, fp, left=None, right=None", linear="gy",
        gy="kn.interp_adjoint_x(g, x, xp, fp, left, right)", x="x * 0.0",
        tangents={"x": "ans * 0.0"})

# the Fréchet derivative L(a, e) of expm (expm's tangent and adjoint), linear in e
adjoint(_linalg.expm_frechet, params="a, e", max_ndim=2, a="kn.expm_frechet_adjoint_a(g, a, e)",
        e="kn.expm_frechet_adjoint_e(g, a, e)", linear="e",
        tangents={"a": "kn.expm_frechet_tangent_a(t, a, e)"})

# (np.gradient's adjoint is linear in gy: its adjoint is np.gradient of g)
adjoint(_arrays.gradient_adjoint, params="gy, h=1.0, axis=None, edge_order=1", linear="gy",
        gy="kn.gradient(g, h, axis, edge_order)", h="-np.sum(g * ans) / h",
        tangents={"h": "-ans * t / h"})

# np.diff(x, prepend=v, append=w) is lowered to np.diff of x joined with these pieces
adjoint(_arrays.diff_padding, params="v, x, axis", v="g", on_scalar="np.sum(g)", x="x * 0.0",
        linear="v", tangents={"x": "ans * 0.0"})

section("Zero derivative")
nondiff(runtime.det_sign, runtime.scatter_length, runtime.pair_count, runtime.list_empty, runtime.list_full,
        runtime.list_index, runtime.list_slot, runtime.list_stacked,
        operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
        operator.not_, operator.floordiv, np.floor_divide, operator.and_, operator.or_,
        operator.xor, operator.invert, np.logical_and, np.logical_or, np.logical_not,
        np.sign, np.floor, np.ceil, np.round, np.trunc, np.rint, math.floor, math.ceil,
        math.trunc, int, round, bool, len, range, np.shape, np.size, np.ndim,
        np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like,
        np.eye, np.identity, np.argmax, np.argmin,
        np.isnan, np.isinf, np.isfinite, np.any, np.all, np.count_nonzero,
        np.greater, np.less, np.greater_equal, np.less_equal, np.equal, np.not_equal)
nondiff(_arrays.weights_shape, _linalg.lstsq_residual_count, np.linalg.matrix_rank)
nondiff(np.argsort, params="a, axis=-1, kind=None, order=None, *, stable=None",
        forward="kn.argsort_along(a, axis)")


def _homes():
    """{(module, name): function} of the library functions with a rule where their name finds
    them (numpy.sin, math.sin, scipy.special.expit): the rules' texts and the generated code
    call them by those names."""
    modules = (np, np.linalg, math, scipy.special, scipy.linalg)
    return {(m, key.__name__): key for key in REGISTRY
            if isinstance(getattr(key, "__name__", None), str)
            for m in modules if getattr(m, key.__name__, None) is key}


_HOMES = _homes()


def check_unreplaced():
    """Raise UnsupportedError when a library function with a rule was replaced by another
    since the rules were loaded (`np.sin = np.tanh`): the generated code and the rules call it
    by its name, and would compute the other function with this one's derivative."""
    for (module, name), key in _HOMES.items():
        now = getattr(module, name, None)
        if now is not key:
            from .errors import UnsupportedError
            raise UnsupportedError(f"{module.__name__}.{name} was replaced by {now!r}: srcad's "
                                   "derivative rules and generated code call NumPy's, math's "
                                   "and SciPy's functions by their names; call the function you "
                                   "mean by its own name")
