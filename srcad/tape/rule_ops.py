"""Tape ops for the primitives whose derivative only srcad.rules states: sorting and order
statistics, linear solves and factorisations, rearrangements, scipy.special, ...

One table gives both paths their math. For each rule the tape has no op of its own, a handler
binds the call's arguments to the rule's parameters and records one op; its inputs are the
parameters the rule has partials for, and its vjps evaluate the rule's partial expressions
on the NumPy values (with `np`, `rt` and `kn` as in generated code). The handlers reach user
code as NumPy reaches tensors (`__array_function__`, `__array_ufunc__`), or, for functions
that do not dispatch (math's, SciPy's non-ufuncs), through the shims of patching.py, which
asks `handler(function)`.

A second derivative (backward(create_graph=True)) evaluates the partial on tensors, so that
its operations are recorded: NumPy's functions dispatch to the tape, and a kernel or runtime
helper (`kn.*`, `rt.*`) called on a tensor records the op of its own rule (the rules of the
adjoint kernels, written for this), or, for a few linear-algebra kernels, that kernel written
with the tape's ops (_IN_TAPE_OPS). A partial whose kernel has neither is recorded as one op
where the rule's linearity gives that op's derivatives: for a function linear in x (or linear
in pieces: sort), x's partial is linear in g, with the transpose of x's tangent, and constant
in x; any partial is linear in g where no value it reads is tracked (srcad.jvp's first pass),
its derivative the tangent. Otherwise it raises rather than give a wrong number.
"""

import functools

import numpy as np
import scipy.linalg
import scipy.special

from srcad import rules, runtime
from srcad.compiler import compositions
from srcad.tape import mode
from srcad.tape.ops import defvjp, defvjp_all
from srcad.tape.tensor import HANDLED_FUNCTIONS, HANDLED_UFUNCS, Tensor, apply, holds_tensor, plain

_HANDLERS = {}  # the rule's key -> its handler
_TRANSPOSED = {}  # (the rule's key, a parameter) -> the op of its partial, or None


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
    while args and _is_default(rule, rule.params[len(args) - 1], args[-1]):
        args.pop()  # (trailing defaults: some functions take fewer positional arguments)
    keywords = {p: bound[p] for p in rule.params[most:]  # (np.pad(mode="edge") takes no
                if not _is_default(rule, p, bound[p])}  # constant_values)
    return key(*args, **keywords)


def _is_default(rule, param, value):
    """Is `value` the parameter's default (itself, or a number equal to it: a zero tangent)?"""
    if param not in rule.defaults:
        return False
    default = rule.defaults[param]
    return value is default or type(default) in (int, float) and np.ndim(value) == 0 and \
        not isinstance(value, str) and value == default


def _partial(rule, param, differentiable):
    """The partial of `param` as a function of (g, ans, the differentiable values, the static
    ones) and the namespaces it calls as `kn` and `rt`."""
    text = rule.partials[param]
    code = compile(text, f"<srcad rule of {rule.keys[0]}>", "eval")
    scalar_code = None if rule.on_scalar is None else compile(rule.on_scalar, "<rule>", "eval")

    def partial(g, ans, values, static, kn, rt):
        env = {"g": g, "ans": ans, "np": np, "rt": rt, "kn": kn, **static,
               **dict(zip(differentiable, values, strict=True))}
        scalar = scalar_code is not None and np.ndim(env[param]) == 0
        out = eval(scalar_code if scalar else code, env)
        # (rt.masked of scalars gives a Python 0.0 where its mask is false)
        return out if hasattr(out, "shape") else np.asarray(out, np.result_type(plain(g)))

    return partial


def _vjp(key, rule, param, differentiable):
    partial = _partial(rule, param, differentiable)

    def vjp(g, ans, *values, **static):
        if not any(isinstance(v, Tensor) for v in (g, ans, *values)):
            return partial(g, ans, values, static, _kernels(), runtime)
        try:  # (create_graph: recorded)
            return partial(g, ans, values, static, _Recording(_kernels()), _Recording(runtime))
        except (_Unrecorded, TypeError) as exc:
            transposed = _transposed(key, rule, param, differentiable, values)
            if transposed is None:
                why = f"{_name(key)} is a kernel of srcad's own derivatives: " \
                    f"{rules.ORDER_LIMITS}" \
                    if key.__module__.startswith("srcad.kernels") else str(exc)
                raise TypeError(f"srcad.tape: no second derivative through {_name(key)} "
                                f"(backward(create_graph=True) over it): {why}") from None
        return apply(transposed, g, *values, ans=plain(ans), **static)

    return vjp


class _Unrecorded(Exception):
    """A kernel or runtime helper with no rule of its own, called on a tensor."""


class _Recording:
    """`kn` or `rt` for a partial evaluated on tensors: a call of one of their functions on a
    tensor records the op of that function's rule."""

    def __init__(self, namespace):
        self._namespace = namespace

    def __getattr__(self, name):
        function = getattr(self._namespace, name)

        def call(*args, **kwargs):
            if not holds_tensor(args) and not holds_tensor(tuple(kwargs.values())) or \
                    isinstance(function, np.ufunc):  # (a ufunc hands tensors to the tape)
                return function(*args, **kwargs)
            if not mode.is_grad_enabled():  # (a backward not recorded: tensors are values)
                return function(*plain(args), **plain(kwargs))
            rule = rules.lookup(function)
            if rule is not None and rule.nondiff:
                return function(*plain(args), **plain(kwargs))
            if function.__module__ == "srcad.kernels.linalg" and name in _IN_TAPE_OPS:
                return _IN_TAPE_OPS[name](*args, **kwargs)
            if handler(function) is None:
                raise _Unrecorded(f"{_name(function)} has no rule of its own")
            return handler(function)(*args, **kwargs)

        return call


def _cholesky_adjoint(g, L):
    """kn.cholesky_adjoint written with the tape's ops (its triangular solves as np.linalg.solve,
    which the tape differentiates again)."""
    p = _Recording(_kernels()).lower_half_diagonal(np.dot(np.transpose(L), np.tril(g)))
    x = np.linalg.solve(np.transpose(L), p)
    s = np.linalg.solve(np.transpose(L), np.transpose(x))
    return 0.5 * (s + np.transpose(s))


def _solve_triangular_adjoint_b(g, a, trans=0, lower=False, unit_diagonal=False):
    """kn.solve_triangular_adjoint_b written with the tape's ops: b̄ = op(T)^-T g for T the
    triangle read (its diagonal 1 with unit_diagonal)."""
    from srcad.kernels.linalg import _read_triangle
    from srcad.special import is_transposed

    triangle = _read_triangle(a, lower, unit_diagonal)
    T = triangle + np.eye(np.shape(a)[0]) if unit_diagonal else triangle
    return np.linalg.solve(T if is_transposed(trans) else np.transpose(T), g)


def _solve_triangular_adjoint_a(g, a, ans, trans=0, lower=False, unit_diagonal=False):
    """kn.solve_triangular_adjoint_a written with the tape's ops: ā = -(b̄ x^T or x b̄^T) on
    the triangle read."""
    from srcad.kernels.linalg import _read_triangle
    from srcad.special import is_transposed

    n = np.shape(a)[0]
    gb = np.reshape(_solve_triangular_adjoint_b(g, a, trans, lower, unit_diagonal), (n, -1))
    x = np.reshape(ans, (n, -1))
    full = np.dot(x, np.transpose(gb)) if is_transposed(trans) else np.dot(gb, np.transpose(x))
    return -_read_triangle(full, lower, unit_diagonal)


def _cho_solve_adjoint_c(g, c_and_lower, ans):
    """kn.cho_solve_adjoint_c written with the tape's ops: with C the triangle read and A its
    C C^T (C^T C upper), ā = -A^-1 g x^T, and c̄ the triangle of (ā + ā^T) C (C (ā + ā^T))."""
    c, lower = c_and_lower
    C = np.tril(c) if lower else np.triu(c)
    A = np.dot(C, np.transpose(C)) if lower else np.dot(np.transpose(C), C)
    n = np.shape(c)[0]
    abar = -np.dot(np.reshape(np.linalg.solve(A, g), (n, -1)),
                   np.transpose(np.reshape(ans, (n, -1))))
    sym = abar + np.transpose(abar)
    return np.tril(np.dot(sym, C)) if lower else np.triu(np.dot(C, sym))


def _eigenvalues_adjoint(g, a):
    """kn.eigenvalues_adjoint written with the tape's ops: v diag(g) v^T."""
    v = np.linalg.eigh(a)[1]
    return np.dot(v * g, np.transpose(v))


def _eigenvectors_adjoint(g, a, v):
    """kn.eigenvectors_adjoint written with the tape's ops: sym(v (F ∘ v^T g) v^T), F_ij =
    1 / (w_j - w_i) off the diagonal; at a repeated eigenvalue it refuses (the kernel's
    choice there is not differentiable)."""
    w = np.linalg.eigh(a)[0]
    n, values = np.shape(a)[0], plain(w)
    gaps = values[None, :] - values[:, None]
    same = np.abs(gaps) <= 16.0 * n * np.finfo(values.dtype).eps * np.max(np.abs(values))
    if np.any(same & ~np.eye(n, dtype=bool)):
        raise TypeError("a repeated eigenvalue")
    differences = np.reshape(w, (1, n)) - np.reshape(w, (n, 1))
    rotation = np.dot(np.transpose(v), g) / np.where(same, 1.0, differences) * ~same
    s = np.dot(np.dot(v, rotation), np.transpose(v))
    return 0.5 * (s + np.transpose(s))


# the kernels without a rule of their own that a partial calls, recomposed
_IN_TAPE_OPS = {"cholesky_adjoint": _cholesky_adjoint,
                "solve_triangular_adjoint_a": _solve_triangular_adjoint_a,
                "solve_triangular_adjoint_b": _solve_triangular_adjoint_b,
                "eigenvalues_adjoint": _eigenvalues_adjoint,
                "eigenvectors_adjoint": _eigenvectors_adjoint,
                "cho_solve_adjoint_c": _cho_solve_adjoint_c}


def _group(rule, param):
    """The parameters the function is jointly linear in with `param` (None if not linear)."""
    return next((group for group in rule.linear if param in group), None)


def _transposed(key, rule, param, differentiable, values):
    """The op computing `param`'s partial from (g, the differentiable values), for a partial
    whose kernel has no rule: its derivative in g is the transpose, the tangent along `param`
    (the function itself along a linear group), and in a value it is zero for one of the
    group (or of a function linear in pieces), the partial of that value for a function
    linear in each of several groups (a product). None where the rule does not say, or where
    a tracked value is one the partial is not linear in."""
    own = _group(rule, param) or ((param,) if param in rule.piecewise else ())
    if param not in rule.partials or _group(rule, param) is None and param not in rule.tangents:
        return None
    for q, value in zip(differentiable, values, strict=True):
        if isinstance(value, Tensor) and value.requires_grad and q not in own and \
                (_group(rule, q) is None or own == (param,) and param in rule.piecewise):
            return None
    if (key, param) not in _TRANSPOSED:
        _TRANSPOSED[key, param] = _define_transposed(key, rule, param, differentiable, own)
    return _TRANSPOSED[key, param]


def _define_transposed(key, rule, param, differentiable, own):
    name = f"rule:{_name(key)}:partial:{param}"
    partial = _partial(rule, param, differentiable)
    op = "rule:" + _name(key)

    def forward(g, *values, ans, **static):
        return partial(g, ans, values, static, _kernels(), runtime)

    def along(u, values, ans, static):
        """The function's tangent along `param` (u), the other values fixed."""
        if param in rule.tangents:
            env = {"t": u, "ans": ans, "np": np, **static,
                   "kn": _Recording(_kernels()), "rt": _Recording(runtime),
                   **dict(zip(differentiable, values, strict=True))}
            return eval(rule.tangents[param], env)
        return apply(op, *[u if q == param else np.zeros_like(plain(v)) if q in own else v
                           for q, v in zip(differentiable, values, strict=True)], **static)

    def vjp_g(u, partial_value, g, *values, ans, **static):
        return along(u, values, ans, static)

    def vjp_value(q):
        def vjp(u, partial_value, g, *values, ans, **static):
            if q in own:
                return np.zeros_like(plain(values[differentiable.index(q)]))
            moved = [u if r == param else np.zeros_like(plain(v)) if r in own else v
                     for r, v in zip(differentiable, values, strict=True)]
            transposed = _transposed(key, rule, q, differentiable, moved)
            if transposed is None:
                raise TypeError(f"srcad.tape: no third derivative through {_name(key)}")
            return apply(transposed, g, *moved, ans=plain(apply(op, *moved, **static)),
                         **static)
        return vjp

    defvjp(name, forward, f"{_name(key).rpartition('.')[2].capitalize()}Backward0Backward",
           vjp_g, *[vjp_value(q) for q in differentiable])
    return name


def handler(key):
    """The tape's handler of the function `key`, from its rule (None if it has no partials);
    SciPy's and math's names of NumPy's functions are NumPy's."""
    key = compositions.NUMPYS.get(key, key)
    if key not in _HANDLERS:
        rule = rules.lookup(key)
        usable = rule is not None and not rule.nondiff and rule.piece is None and rule.partials
        _HANDLERS[key] = _COMPOSED.get(key) or (_rule_handler(key) if usable else None)
    return _HANDLERS[key]


def _cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cho_factor(a, lower) as the source transform writes it: (c, lower), c the
    Cholesky factor in the triangle `lower` says and zeros in the other."""
    if lower:
        return np.linalg.cholesky(a), lower
    return np.transpose(np.linalg.cholesky(np.transpose(a))), lower  # (a's upper triangle)


def _cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """scipy.linalg.cho_solve((c, lower), b) as the source transform lowers it: the factor c
    an argument of its own, which has a rule."""
    from srcad.kernels import linalg

    c, lower = c_and_lower
    return handler(linalg.cholesky_solve)(c, b, plain(lower))


def _logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """scipy.special.logsumexp: its rule's without weights; with weights b, m + log(sum(b *
    exp(a - m))) along the axes, m a's largest value there (a constant: the result does not
    depend on it; 0 where not finite, as SciPy's)."""
    if return_sign:
        raise TypeError(mode.located("srcad.tape: scipy.special.logsumexp with return_sign=True "
                                     "is not supported"))
    if b is None:
        return _rule_handler(scipy.special.logsumexp)(a, axis, keepdims=keepdims)
    a = a + np.zeros_like(plain(b))  # (a broadcast by b, as SciPy's)
    top = np.max(plain(a), axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.sum(b * np.exp(a - top), axis=axis, keepdims=keepdims)
    return np.log(total) + np.reshape(top, np.shape(plain(total)))


def _gradient(f, *spacings, axis=None, edge_order=1):
    """np.gradient of one spacing per axis (numbers), along each axis in turn: its rule's along
    one axis; a tuple, one array per axis, for several (all of them where axis is None)."""
    ndim = np.ndim(plain(f))
    axes = tuple(range(ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    if len(spacings) not in (0, 1, len(axes)) or any(np.ndim(plain(h)) for h in spacings):
        raise TypeError(mode.located("srcad.tape: np.gradient takes one spacing (a number) or "
                                     "one per axis, not coordinates"))
    steps = spacings * len(axes) if len(spacings) == 1 else spacings or (1.0,) * len(axes)
    parts = tuple(_rule_handler(np.gradient)(f, h, axis=k, edge_order=edge_order)
                  for h, k in zip(steps, axes, strict=True))
    return parts[0] if len(parts) == 1 else parts


@functools.cache
def _rule_handler(key):
    return _handler(key, rules.lookup(key))


# functions whose tape form is not their rule's alone
_COMPOSED = {scipy.linalg.cho_factor: _cho_factor, scipy.linalg.cho_solve: _cho_solve,
             scipy.special.logsumexp: _logsumexp, np.gradient: _gradient}


def _handler(key, rule):
    name = _name(key)
    op_name = "rule:" + name
    differentiable = tuple(p for p in rule.params if p in rule.partials)

    def forward(*values, **static):
        return _call(key, rule, {**static, **dict(zip(differentiable, values, strict=True))})

    defvjp(op_name, forward, "".join(w.capitalize() for w in key.__name__.split("_")) +
           "Backward0", *[_vjp(key, rule, p, differentiable) for p in differentiable])

    def handler(*args, **kwargs):
        try:
            bound = rule.bind(list(args), kwargs)
        except TypeError as exc:
            raise TypeError(mode.located(f"srcad.tape: {name}: {exc}")) from None
        inputs = [bound[p] for p in differentiable]
        if rule.max_ndim is not None and any(isinstance(v, Tensor) and v.requires_grad
                                             for v in inputs):
            refusal = rules.too_many_axes(rule, [np.ndim(plain(v)) for v in bound.values()
                                                 if not isinstance(v, str)], name)
            if refusal is not None:
                raise TypeError(mode.located(f"srcad.tape: {refusal}"))
        static = {p: _array_like(plain(bound[p], name), p in rule.data) for p in rule.params
                  if p not in rule.partials}
        return apply(op_name, *inputs, **static)

    return handler


def _array_like(value, data):
    """A list, or a tuple given for an array parameter, as the array NumPy reads it as (the
    partials' kernels take arrays: np.interp's xp)."""
    return np.asarray(value) if isinstance(value, list) or data and isinstance(value, tuple) \
        else value


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
    for key, numpys in compositions.NUMPYS.items():  # (SciPy's ufuncs that are NumPy's)
        if isinstance(key, np.ufunc) and numpys in HANDLED_UFUNCS:
            HANDLED_UFUNCS[key] = HANDLED_UFUNCS[numpys]
    HANDLED_UFUNCS[scipy.special.exp10] = _ufunc(scipy.special.exp10,
                                                 lambda x: np.power(10.0, x))
    for key, parts in rules.SEVERAL_RESULTS.items():
        HANDLED_FUNCTIONS[key] = _svd() if key is np.linalg.svd else _results_apart(parts)
    HANDLED_FUNCTIONS[np.einsum] = _einsum()
    HANDLED_FUNCTIONS[np.cross] = _cross


def _cross(a, b, **axes):
    """np.cross of 3-vectors along the last axes (its rule's), refused before NumPy computes
    another form."""
    if any(v not in (-1, None) for v in axes.values()):
        raise TypeError(mode.located("srcad.tape: np.cross along axes other than the last"))
    from srcad.kernels import arrays

    arrays.check_3_vectors(plain(a), plain(b))
    return handler(np.cross)(a, b)


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
        subscripts, diagonals = kernel.diagonal_terms(subscripts)
        operands = [kernel.collapsed_diagonal(a) if k in diagonals else a
                    for k, a in enumerate(operands)]
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


def _no_singular_vector_derivative(g, ans, a, full_matrices):
    raise TypeError("srcad.tape: no derivative of numpy.linalg.svd's singular vectors (u, vh), "
                    "only of its singular values")


defvjp("svd_u", runtime.left_singular_vectors, "LinalgSvdBackward0",
       _no_singular_vector_derivative, None)
defvjp("svd_vh", runtime.right_singular_vectors, "LinalgSvdBackward0",
       _no_singular_vector_derivative, None)


def _svd():
    """np.linalg.svd: its singular values alone with compute_uv=False; hermitian=True, which
    chooses other singular vectors, refused. A gradient through u or vh is an error."""
    def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
        if hermitian:
            raise TypeError(mode.located("srcad.tape: numpy.linalg.svd with hermitian=True"))
        s = handler(runtime.singular_values)(a)
        if not compute_uv:
            return s
        return apply("svd_u", a, full_matrices), s, apply("svd_vh", a, full_matrices)
    return svd


_install()
