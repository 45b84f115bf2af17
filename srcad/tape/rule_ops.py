"""Tape ops for the primitives whose derivative only srcad.rules states: sorting and order
statistics, linear solves and factorisations, rearrangements, scipy.special, ...

One table gives both paths their math. For each rule the tape has no op of its own, a handler
binds the call's arguments to the rule's parameters and records one op; its inputs are the
parameters the rule has partials for, and its vjps evaluate the rule's partial expressions
on the NumPy values (with `np`, `rt` and `kn` as in generated code). The handlers reach user
code as NumPy reaches tensors (`__array_function__`, `__array_ufunc__`), or, for functions
that do not dispatch (math's, SciPy's non-ufuncs), through the shims of patching.py, which
asks `handler(function)`.

A second derivative (backward(create_graph=True)) goes through an elementwise rule written
with NumPy's functions only; through any other it raises rather than give a wrong number.
"""

import numpy as np

from srcad import rules, runtime
from srcad.compiler import templates
from srcad.tape import mode
from srcad.tape.ops import defvjp, defvjp_all
from srcad.tape.tensor import HANDLED_FUNCTIONS, HANDLED_UFUNCS, Tensor, apply, plain

_HANDLERS = {}  # the rule's key -> its handler


def _kernels():
    from srcad.kernels import namespace  # (compiles SciPy's exports: imported when first used)

    return namespace


def _name(key):
    """'numpy.sort', 'scipy.special.gammaln', 'math.lgamma'."""
    name = key.__name__
    if isinstance(key, np.ufunc):
        return f"numpy.{name}" if getattr(np, name, None) is key else f"scipy.special.{name}"
    module = key.__module__
    return f"{module if module == 'math' else '.'.join(module.split('.')[:2])}.{name}"


def _call(key, rule, bound):
    """key(...) with the bound values: positionally as far as the rule's signature allows."""
    most = len(rule.params) if rule.positional is None else rule.positional
    args = [bound[p] for p in rule.params[:most]]
    while args and rule.params[len(args) - 1] in rule.defaults and \
            args[-1] is rule.defaults[rule.params[len(args) - 1]]:
        args.pop()  # (trailing defaults: some functions take fewer positional arguments)
    keywords = {p: bound[p] for p in rule.params[most:]  # (np.pad(mode="edge") takes no
                if not (p in rule.defaults and bound[p] is rule.defaults[p])}  # constant_values)
    return key(*args, **keywords)


def _vjp(name, rule, param, differentiable):
    text = rule.partials[param]
    code = compile(text, f"<srcad rule of {name}>", "eval")
    scalar_code = None if rule.on_scalar is None else compile(rule.on_scalar, "<rule>", "eval")
    numpy_only = rule.broadcasting and not ({"kn", "rt"} & templates.names_in(text))

    def vjp(g, ans, *values, **static):
        if not numpy_only and any(isinstance(v, Tensor) for v in (g, ans, *values)):
            raise TypeError(f"srcad.tape: no second derivative through {name} "
                            "(backward(create_graph=True) over it)")
        env = {"g": g, "ans": ans, "np": np, "rt": runtime, "kn": _kernels(), **static,
               **dict(zip(differentiable, values, strict=True))}
        scalar = scalar_code is not None and np.ndim(env[param]) == 0
        out = eval(scalar_code if scalar else code, env)
        # (rt.masked of scalars gives a Python 0.0 where its mask is false)
        return out if hasattr(out, "shape") else np.asarray(out, np.result_type(g))

    return vjp


def handler(key):
    """The tape's handler of the function `key`, from its rule (None if it has no partials)."""
    if key not in _HANDLERS:
        rule = rules.lookup(key)
        usable = rule is not None and not rule.nondiff and rule.piece is None and rule.partials
        _HANDLERS[key] = _handler(key, rule) if usable else None
    return _HANDLERS[key]


def _handler(key, rule):
    name = _name(key)
    op_name = "rule:" + name
    differentiable = tuple(p for p in rule.params if p in rule.partials)

    def forward(*values, **static):
        return _call(key, rule, {**static, **dict(zip(differentiable, values, strict=True))})

    defvjp(op_name, forward, "".join(w.capitalize() for w in key.__name__.split("_")) +
           "Backward0", *[_vjp(name, rule, p, differentiable) for p in differentiable])

    def handler(*args, **kwargs):
        try:
            bound = rule.bind(list(args), kwargs)
        except TypeError as exc:
            raise TypeError(mode.located(f"srcad.tape: {name}: {exc}")) from None
        inputs = [bound[p] for p in differentiable]
        static = {p: plain(bound[p], name) for p in rule.params if p not in rule.partials}
        return apply(op_name, *inputs, **static)

    return handler


def _install():
    """Handlers for the ufuncs and NumPy functions with a rule and no tape op of their own."""
    from srcad.tape.numpy_api import _ufunc

    for key in rules.REGISTRY:
        if isinstance(key, np.ufunc):
            if key not in HANDLED_UFUNCS and handler(key) is not None:
                HANDLED_UFUNCS[key] = _ufunc(key, handler(key))
            if key.nin == 2 and key in HANDLED_UFUNCS:
                HANDLED_UFUNCS[(key, "outer")] = _outer(key)
        elif (getattr(key, "__module__", None) or "").startswith("numpy") and \
                key not in HANDLED_FUNCTIONS and handler(key) is not None:
            HANDLED_FUNCTIONS[key] = handler(key)  # (they dispatch through __array_function__)
    for key, parts in rules.SEVERAL_RESULTS.items():
        HANDLED_FUNCTIONS[key] = _results_apart(parts)
    HANDLED_FUNCTIONS[np.einsum] = _einsum()


def _outer(ufunc):
    """ufunc.outer(a, b): the ufunc of a, given a trailing axis of length 1 per axis of b,
    and b (as the source transform lowers it)."""
    from srcad.tape.numpy_api import reshape

    def outer(a, b, **kwargs):
        if kwargs:
            raise TypeError(mode.located(f"srcad.tape: numpy.{ufunc.__name__}.outer with "
                                         f"{sorted(kwargs)}"))
        shape = np.shape(plain(a)) + (1,) * np.ndim(plain(b))
        return HANDLED_UFUNCS[ufunc](reshape(a, shape) if shape else a, b)
    return outer


def _einsum():
    """np.einsum(subscripts, *operands) with explicit subscripts, from srcad.kernels.einsum."""
    from srcad.kernels import einsum as kernel

    def vjp_all(g, ans, *operands, subscripts):
        # (with create_graph, g and the operands are tensors: the adjoint's np.einsum records)
        return [kernel.einsum_adjoint(operands, subscripts, k, g) for k in range(len(operands))]

    defvjp_all("rule:numpy.einsum",
               lambda *operands, subscripts: kernel.einsum(operands, subscripts),
               "EinsumBackward0", vjp_all)

    def einsum(subscripts, *operands, **options):
        if options:
            raise TypeError(mode.located(f"srcad.tape: numpy.einsum with {sorted(options)}"))
        try:
            terms, output = kernel.parse(subscripts, len(operands))
        except ValueError as exc:
            raise TypeError(mode.located(str(exc))) from None
        if len(terms) == 1 and sorted(terms[0]) == sorted(output):  # (NumPy returns a view)
            from srcad.tape.numpy_api import transpose
            return transpose(operands[0], [terms[0].index(c) for c in output])
        return apply("rule:numpy.einsum", *operands, subscripts=subscripts)

    return einsum


def _results_apart(parts):
    """slogdet, eigh: a tuple of results, each its own op (or plain values without a rule)."""
    def call(*args, **kwargs):
        return tuple(part(*plain(args), **plain(kwargs)) if handler(part) is None else
                     handler(part)(*args, **kwargs) for part in parts)

    return call


_install()
