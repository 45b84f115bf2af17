"""Functions srcad differentiates as what they compute, written with functions that have rules:
`np.fliplr(m)` is `np.flip(m, 1)`, `np.ptp(a)` is `np.max(a) - np.min(a)`, `np.select` nested
`np.where`s (the definitions in NumPy's, SciPy's and Python's documentation). The normalizer
lowers a call of one here (`COMPOSITIONS[function](normalizer, call)`, None for a call its
rule takes itself); an argument the composition does not take is refused by name.
"""

import math

import gast
import numpy as np
import scipy.linalg
import scipy.special

from ..errors import UnsupportedError
from ..kernels import arrays as array_kernels
from ..kernels import linalg as linalg_kernels
from . import anno, templates

_NO_VALUE = object()
_const = templates.make_const


def _refuse(what, node):
    raise UnsupportedError(what, anno.getanno(node, "loc"))


def _bind(call, name, params, required=1):
    """{parameter: argument node} of `call`, whose parameters are `params` (the first
    `required` of them without a default); any other argument is refused by name."""
    bound = dict(zip(params, call.args, strict=False))
    keywords = {k.arg: k.value for k in call.keywords}
    if len(call.args) > len(params) or None in keywords or set(keywords) - set(params) or \
            set(keywords) & set(bound) or any(isinstance(a, gast.Starred) for a in call.args) or \
            set(params[:required]) - set(bound) - set(keywords):
        _refuse(f"{name} other than {name}({', '.join(params)})", call)
    bound.update(keywords)
    return {p: v for p, v in bound.items()
            if not (isinstance(v, gast.Constant) and v.value is None)}


def _constant(node):
    """The value of a number or a tuple of numbers written in the call, else _NO_VALUE."""
    if isinstance(node, gast.Constant):
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        value = _constant(node.operand)
        return -value if isinstance(value, int) else _NO_VALUE
    if isinstance(node, (gast.Tuple, gast.List)):
        values = tuple(_constant(e) for e in node.elts)
        return _NO_VALUE if _NO_VALUE in values else values
    return _NO_VALUE


def _spelled(function):
    """'scipy.special.expm1', 'math.exp2'."""
    module = "math" if function in vars(math).values() else \
        "scipy.linalg" if function in vars(scipy.linalg).values() else "scipy.special"
    return f"{module}.{function.__name__}"


def _keyword(name, value):
    return gast.keyword(arg=name, value=value)


def _flip(n, m, axis):
    return n.atom(n.numpy_call(np.flip, [m, _const(axis)]))


def _flipped_along(axis, name):
    def flipped(n, call):
        return n.numpy_call(np.flip, [n.call_arg(_bind(call, name, ("m",))["m"]),
                                      _const(axis)])
    flipped.__doc__ = f"{name}(m) is np.flip(m, {axis})."
    return flipped


def rot90(n, call):
    """np.rot90(m, k, axes): k quarter turns from axes[0] towards axes[1], as NumPy computes
    them: flips along the axes and their swap."""
    bound = _bind(call, "np.rot90", ("m", "k", "axes"))
    k = _constant(bound.get("k", _const(1)))
    axes = _constant(bound.get("axes", _const((0, 1))))
    if not isinstance(k, int) or isinstance(k, bool) or not (
            isinstance(axes, tuple) and len(axes) == 2 and
            all(isinstance(a, int) and not isinstance(a, bool) for a in axes)):
        _refuse("np.rot90 with k or axes other than integers written in the call", call)
    m, (a0, a1) = n.atom(bound["m"]), axes
    if a0 == a1:
        _refuse("np.rot90 of one axis to itself (NumPy: 'Axes must be different')", call)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return n.numpy_call(np.flip, [_flip(n, m, a0), _const(a1)])
    axes = [_const(a0), _const(a1)]
    if k == 1:
        return n.numpy_call(np.swapaxes, [_flip(n, m, a1)] + axes)
    swapped = n.atom(n.numpy_call(np.swapaxes, [m] + axes))
    return n.numpy_call(np.flip, [swapped, _const(a1)])


def matrix_transpose(n, call):
    """np.matrix_transpose(x) swaps the last two axes: np.swapaxes(x, -1, -2)."""
    x = _bind(call, "np.matrix_transpose", ("x",))["x"]
    return n.numpy_call(np.swapaxes, [n.call_arg(x), _const(-1), _const(-2)])


def linalg_diagonal(n, call):
    """np.linalg.diagonal(x, offset=k) of a matrix is np.diagonal(x, k) (of a stack of them,
    refused by np.diagonal's rule: NumPy's takes the first two axes, this one the last two)."""
    bound = _bind(call, "np.linalg.diagonal", ("x", "offset"))
    return n.numpy_call(np.diagonal, [n.call_arg(bound["x"])] +
                        ([n.call_arg(bound["offset"])] if "offset" in bound else []))


def lstsq(n, call):
    """np.linalg.lstsq(a, b) (NumPy's cutoff, rcond=None) is (x, residuals, rank, s): x a kernel
    with the derivatives of pinv(a) @ b, the sums over b's columns of (b - a @ x) ** 2 where a
    has full column rank and more rows than columns (else none), np.linalg.matrix_rank(a) and
    a's singular values."""
    bound = _bind(call, "np.linalg.lstsq", ("a", "b", "rcond"), required=2)
    if "rcond" in bound:
        _refuse("np.linalg.lstsq with an rcond other than None (NumPy's default)", call)
    a, b = n.atom(bound["a"]), n.atom(bound["b"])
    x = n.kernel_atom(linalg_kernels.lstsq_solution, [anno.deepcopy(a), anno.deepcopy(b)])
    rank = n.atom(n.library_call(np.linalg.matrix_rank, "linalg.matrix_rank", [anno.deepcopy(a)]))
    sums = n.atom(templates.fill("np.atleast_1d(np.sum((b - a @ x) ** 2, axis=0))", np=n.np_name,
                                 a=a, b=b, x=x))
    count = n.kernel_atom(linalg_kernels.lstsq_residual_count, [anno.deepcopy(a),
                                                                 anno.deepcopy(b), rank])
    residuals = n.atom(gast.Subscript(value=sums, slice=gast.Slice(lower=None, upper=count,
                                                                   step=None), ctx=gast.Load()))
    values = n.atom(n.library_call(np.linalg.svd, "linalg.svd", [anno.deepcopy(a)],
                                   [_keyword("compute_uv", _const(False))]))
    return gast.Tuple(elts=[anno.deepcopy(x), residuals, anno.deepcopy(rank), values],
                      ctx=gast.Load())


def meshgrid(n, call):
    """np.meshgrid(x1, ..., xn, indexing, sparse, copy): xk flattened, reshaped to lie along
    its axis of the grid (the first two swapped for indexing='xy') and, unless sparse,
    broadcast to the grid's shape; copies unless copy=False."""
    options = {k.arg: _constant(k.value) for k in call.keywords}
    indexing, sparse, copy = (options.pop(k, default) for k, default in (
        ("indexing", "xy"), ("sparse", False), ("copy", True)))
    if options or indexing not in ("xy", "ij") or not isinstance(sparse, bool) or \
            not isinstance(copy, bool) or any(isinstance(a, gast.Starred) for a in call.args):
        _refuse("np.meshgrid other than of arrays written in the call, with indexing, sparse "
                "and copy written as constants", call)
    grids = [n.atom(n.numpy_call(np.ravel, [n.call_arg(a)])) for a in call.args]
    axes = list(range(len(grids)))
    if indexing == "xy" and len(grids) > 1:
        axes[0], axes[1] = 1, 0
    lengths = [n.atom(templates.fill("x.shape[0]", x=g)) for g in grids]
    shape = gast.Tuple(elts=[lengths[axes.index(j)] for j in range(len(grids))],
                       ctx=gast.Load())
    out = []
    for grid, axis in zip(grids, axes, strict=True):
        along = gast.Tuple(elts=[_const(-1 if j == axis else 1) for j in range(len(grids))],
                           ctx=gast.Load())
        piece = n.atom(n.numpy_call(np.reshape, [anno.deepcopy(grid), along]))
        if not sparse:
            piece = n.atom(n.numpy_call(np.broadcast_to, [piece, anno.deepcopy(shape)]))
        out.append(n.atom(n.numpy_call(np.copy, [piece])) if copy else piece)
    return gast.Tuple(elts=out, ctx=gast.Load())


def cho_factor(n, call):
    """scipy.linalg.cho_factor(a, lower) is (c, lower): c the Cholesky factor of the triangle of
    a that `lower` says, in that triangle, zeros in the other (SciPy leaves unspecified values
    there), for scipy.linalg.cho_solve."""
    bound = _bind(call, "scipy.linalg.cho_factor", ("a", "lower", "overwrite_a",
                                                    "check_finite"))
    lower = _constant(bound.get("lower", _const(False)))
    if not isinstance(lower, bool):
        _refuse("scipy.linalg.cho_factor with lower other than True or False written in the call",
                call)
    a = n.call_arg(bound["a"])
    if not lower:  # (the factor of a's upper triangle)
        a = n.atom(n.numpy_call(np.transpose, [a]))
    factor = n.atom(n.library_call(np.linalg.cholesky, "linalg.cholesky", [a]))
    if not lower:
        factor = n.atom(n.numpy_call(np.transpose, [factor]))
    return gast.Tuple(elts=[factor, _const(lower)], ctx=gast.Load())


def rollaxis(n, call):
    """np.rollaxis(a, axis, start) of axes written as numbers from 0 is np.moveaxis(a, axis,
    start), less one where start is past axis."""
    bound = _bind(call, "np.rollaxis", ("a", "axis", "start"), required=2)
    axis, start = _constant(bound["axis"]), _constant(bound.get("start", _const(0)))
    if not all(type(k) is int and k >= 0 for k in (axis, start)):
        _refuse("np.rollaxis other than of an axis and a start written as numbers from 0 "
                "(np.moveaxis takes any)", call)
    return n.numpy_call(np.moveaxis, [n.call_arg(bound["a"]), _const(axis),
                                      _const(start - 1 if start > axis else start)])


def ptp(n, call):
    """np.ptp(a, axis, keepdims) is np.max(a, ...) - np.min(a, ...)."""
    bound = _bind(call, "np.ptp", ("a", "axis", "keepdims"))
    a = n.atom(bound.pop("a"))
    options = [_keyword(k, n.call_arg(v)) for k, v in bound.items()]
    extremes = [n.atom(n.numpy_call(f, [anno.deepcopy(a)], anno.deepcopy(options)))
                for f in (np.max, np.min)]
    return gast.BinOp(left=extremes[0], op=gast.Sub(), right=extremes[1])


def _nan_extremum(extremum, fill, name):
    def ignoring_nans(n, call):
        bound = _bind(call, name, ("a", "axis", "out", "keepdims"))
        if "out" in bound:
            _refuse(f"{name} into out=", call)
        a = n.atom(bound["a"])
        options = [_keyword(k, n.call_arg(bound[k])) for k in ("axis", "keepdims") if k in bound]
        missing = n.atom(n.numpy_call(np.isnan, [a]))
        filled = n.atom(n.numpy_call(np.where, [missing, _const(fill), anno.deepcopy(a)]))
        found = n.atom(n.numpy_call(extremum, [filled], options))
        present = n.atom(n.numpy_call(np.where, [anno.deepcopy(missing), _const(0.0),
                                                 _const(1.0)]))
        count = n.atom(n.numpy_call(np.sum, [present], anno.deepcopy(options)))
        any_present = n.atom(gast.Compare(left=count, ops=[gast.Gt()], comparators=[_const(0.0)]))
        return n.numpy_call(np.where, [any_present, found, _const(math.nan)])
    ignoring_nans.__doc__ = (f"{name}(a, axis, keepdims) is np.{extremum.__name__} of a with its "
                             f"NaNs as {fill}, NaN where a slice has no other value.")
    return ignoring_nans


def inner(n, call):
    """np.inner(a, b) sums the products along the last axes: np.tensordot(a, b, (-1, -1))."""
    bound = _bind(call, "np.inner", ("a", "b"), required=2)
    last = gast.Tuple(elts=[_const(-1)] * 2, ctx=gast.Load())
    return n.numpy_call(np.tensordot, [n.call_arg(bound["a"]), n.call_arg(bound["b"]), last])


def vdot(n, call):
    """np.vdot(a, b) of real arrays is np.dot(np.ravel(a), np.ravel(b))."""
    bound = _bind(call, "np.vdot", ("a", "b"), required=2)
    return n.numpy_call(np.dot, [n.atom(n.numpy_call(np.ravel, [n.call_arg(bound[p])]))
                                 for p in ("a", "b")])


def multi_dot(n, call):
    """np.linalg.multi_dot((A, B, C)) is A @ B @ C (NumPy picks the cheapest order of the
    products; the value is the same up to rounding)."""
    arrays = _bind(call, "np.linalg.multi_dot", ("arrays",))["arrays"]
    if not isinstance(arrays, (gast.Tuple, gast.List)) or len(arrays.elts) < 2 or \
            any(isinstance(e, gast.Starred) for e in arrays.elts):
        _refuse("np.linalg.multi_dot other than of two or more arrays written in the call",
                call)
    product = n.call_arg(arrays.elts[0])
    for k, array in enumerate(arrays.elts[1:]):
        product = gast.BinOp(left=product, op=gast.MatMult(), right=n.call_arg(array))
        if k < len(arrays.elts) - 2:
            product = n.atom(product)
    return product


def heaviside(n, call):
    """np.heaviside(x1, x2): 0 where x1 < 0, 1 where x1 > 0, x2 where x1 == 0 (NaN stays)."""
    bound = _bind(call, "np.heaviside", ("x1", "x2"), required=2)
    x1, x2 = n.atom(bound["x1"]), n.call_arg(bound["x2"])

    def where(op, yes, no):  # (np.where(x1 <op> 0.0, yes, no))
        test = n.atom(gast.Compare(left=anno.deepcopy(x1), ops=[op], comparators=[_const(0.0)]))
        return n.numpy_call(np.where, [test, yes, no])
    at_zero = n.atom(where(gast.Eq(), x2, anno.deepcopy(x1)))
    positive = n.atom(where(gast.Gt(), _const(1.0), at_zero))
    return where(gast.Lt(), _const(0.0), positive)


def select(n, call):
    """np.select(conditions, choices, default) is nested np.where: the first true condition's
    choice."""
    bound = _bind(call, "np.select", ("condlist", "choicelist", "default"), required=2)
    conditions, choices = bound["condlist"], bound["choicelist"]
    if not all(isinstance(c, (gast.Tuple, gast.List)) for c in (conditions, choices)) or \
            len(conditions.elts) != len(choices.elts) or not conditions.elts or \
            any(isinstance(e, gast.Starred) for e in conditions.elts + choices.elts):
        _refuse("np.select other than of as many conditions and choices, written in the "
                "call", call)
    # (the arguments evaluated in the order written, then the np.where from the last choice)
    conditions = [n.call_arg(condition) for condition in conditions.elts]
    choices = [n.call_arg(choice) for choice in choices.elts]
    chosen = n.call_arg(bound.get("default", _const(0.0)))
    for k in reversed(range(len(conditions))):
        where = n.numpy_call(np.where, [conditions[k], choices[k], chosen])
        chosen = where if k == 0 else n.atom(where)
    return chosen


def correlate(n, call):
    """np.correlate(a, v, mode) of real 1-D arrays is np.convolve(a, v[::-1], mode), except that
    mode 'same' centres the window as NumPy's correlate does: the full result from (len(v) - 1)
    // 2, or len(a) // 2 where v is the longer."""
    bound = _bind(call, "np.correlate", ("a", "v", "mode"), required=2)
    mode = _constant(bound.get("mode", _const("valid")))
    if mode not in ("valid", "same", "full"):
        _refuse("np.correlate with a mode other than 'valid', 'same' or 'full' written in the "
                "call", call)
    a, v = n.atom(bound["a"]), n.atom(bound["v"])
    reversed_v = n.atom(gast.Subscript(value=v, ctx=gast.Load(), slice=gast.Slice(
        lower=None, upper=None, step=_const(-1))))
    full = n.numpy_call(np.convolve, [a, reversed_v, _const("full" if mode == "same" else mode)])
    if mode != "same":
        return full
    full = n.atom(full)
    m, k = (n.atom(gast.Subscript(value=gast.Attribute(value=anno.deepcopy(x), attr="shape",
                                                       ctx=gast.Load()),
                                  slice=_const(0), ctx=gast.Load())) for x in (a, v))
    a_longer = n.atom(gast.Compare(left=m, ops=[gast.GtE()], comparators=[k]))
    start = n.atom(gast.IfExp(
        test=a_longer,
        body=gast.BinOp(left=gast.BinOp(left=anno.deepcopy(k), op=gast.Sub(), right=_const(1)),
                        op=gast.FloorDiv(), right=_const(2)),
        orelse=gast.BinOp(left=anno.deepcopy(m), op=gast.FloorDiv(), right=_const(2))))
    longer = n.atom(gast.IfExp(test=anno.deepcopy(a_longer), body=anno.deepcopy(m),
                               orelse=anno.deepcopy(k)))
    stop = n.atom(gast.BinOp(left=start, op=gast.Add(), right=longer))
    return gast.Subscript(value=full, ctx=gast.Load(), slice=gast.Slice(
        lower=anno.deepcopy(start), upper=stop, step=None))


def corrcoef(n, call):
    """np.corrcoef(x, rowvar=) of a matrix is its covariance c = np.cov(x, rowvar=) over
    np.outer(d, d), with d the square roots of c's diagonal, clipped to [-1, 1] as NumPy does."""
    bound = _bind(call, "np.corrcoef", ("x", "y", "rowvar"))
    if "y" in bound:
        _refuse("np.corrcoef of two arrays (stack the variables of y into x)", call)
    options = [_keyword("rowvar", n.call_arg(bound["rowvar"]))] if "rowvar" in bound else []
    c = n.atom(n.numpy_call(np.cov, [n.call_arg(bound["x"])], options))
    d = n.atom(n.numpy_call(np.sqrt, [n.atom(n.numpy_call(np.diagonal, [c]))]))
    scale = n.atom(n.numpy_call(np.outer, [d, anno.deepcopy(d)]))
    r = n.atom(gast.BinOp(left=anno.deepcopy(c), op=gast.Div(), right=scale))
    return n.numpy_call(np.clip, [r, _const(-1.0), _const(1.0)])


def cumulative_sum(n, call):
    """np.cumulative_sum(x, axis=...) is np.cumsum(x, axis) (without include_initial)."""
    bound = _bind(call, "np.cumulative_sum", ("x", "axis", "include_initial"))
    if _constant(bound.pop("include_initial", _const(False))) is not False:
        _refuse("np.cumulative_sum with include_initial", call)
    return n.numpy_call(np.cumsum, [n.call_arg(bound["x"])] +
                        ([n.call_arg(bound["axis"])] if "axis" in bound else []))


def ediff1d(n, call):
    """np.ediff1d(a) is np.diff(np.ravel(a))."""
    a = _bind(call, "np.ediff1d", ("ary",))["ary"]
    return n.numpy_call(np.diff, [n.atom(n.numpy_call(np.ravel, [n.call_arg(a)]))])


def _written_pieces(n, call, name):
    """The pieces of `name`((a, b, ...)), written in the call, each lowered to an atom."""
    pieces = _bind(call, name, ("tup",))["tup"]
    if not isinstance(pieces, (gast.Tuple, gast.List)) or not pieces.elts or \
            any(isinstance(e, gast.Starred) for e in pieces.elts):
        _refuse(f"{name} other than of arrays written in the call", call)
    return [n.atom(piece) for piece in pieces.elts]


def column_stack(n, call):
    """np.column_stack((a, b)) is np.hstack of each piece as columns: a 1-D piece of n entries
    reshaped to (n, 1), a 2-D one as it is."""
    columns = []
    for piece in _written_pieces(n, call, "np.column_stack"):
        rows = n.atom(gast.Subscript(value=gast.Attribute(value=piece, attr="shape",
                                                          ctx=gast.Load()),
                                     slice=_const(0), ctx=gast.Load()))
        shape = gast.Tuple(elts=[rows, _const(-1)], ctx=gast.Load())
        columns.append(n.atom(n.numpy_call(np.reshape, [anno.deepcopy(piece), shape])))
    return n.numpy_call(np.hstack, [gast.Tuple(elts=columns, ctx=gast.Load())])


def dstack(n, call):
    """np.dstack((a, b)) is np.concatenate of each piece's np.atleast_3d along axis 2."""
    pieces = [n.atom(n.numpy_call(np.atleast_3d, [piece]))
              for piece in _written_pieces(n, call, "np.dstack")]
    return n.numpy_call(np.concatenate, [gast.Tuple(elts=pieces, ctx=gast.Load()), _const(2)])


def _whole():
    return gast.Slice(lower=None, upper=None, step=None)


def _split(name, equal, doc):
    """np.split or np.array_split (`equal`: np.split, whose pieces must have one length)."""
    def split(n, call):
        bound = _bind(call, name, ("ary", "indices_or_sections", "axis"), required=2)
        where, axis = _constant(bound["indices_or_sections"]), \
            _constant(bound.get("axis", _const(0)))
        if type(axis) is not int or not (
                type(where) is int and where > 0 or
                isinstance(where, tuple) and all(type(k) is int for k in where)):
            _refuse(f"{name} other than into a number of pieces or at indices written in the "
                    "call, along an axis written as a number", call)
        ary = n.atom(bound["ary"])
        if isinstance(where, tuple):
            bounds = [None] + [_const(k) for k in where] + [None]
        else:
            length = n.atom(templates.fill("a.shape[k]", a=ary, k=_const(axis)))
            if equal:
                n.visit_If(anno.copy_loc(templates.fill_stmt(
                    "if n % k != 0: raise ValueError('array split does not result in an "
                    "equal division')", n=length, k=_const(where)), call))
            piece = n.atom(templates.fill("n // k", n=length, k=_const(where)))
            bounds = [templates.fill("k * q", k=_const(k), q=piece) for k in range(1, where)]
            if not equal:
                extra = n.atom(templates.fill("n % k", n=length, k=_const(where)))
                bounds = [gast.BinOp(left=b, op=gast.Add(), right=n.numpy_call(
                    np.minimum, [_const(k), anno.deepcopy(extra)]))
                    for k, b in enumerate(bounds, start=1)]
            bounds = [None] + bounds + [None]
        pieces = []
        for lower, upper in zip(bounds[:-1], bounds[1:], strict=True):
            index = ([_whole() for _ in range(axis)] if axis >= 0 else
                     [gast.Constant(value=Ellipsis, kind=None)]) + \
                [gast.Slice(lower=lower, upper=upper, step=None)] + \
                [_whole() for _ in range(-axis - 1)]
            pieces.append(n.atom(gast.Subscript(
                value=anno.deepcopy(ary), ctx=gast.Load(),
                slice=index[0] if len(index) == 1 else gast.Tuple(elts=index, ctx=gast.Load()))))
        return gast.Tuple(elts=pieces, ctx=gast.Load())
    split.__doc__ = doc
    return split


def _same_as(numpy_function, path, name, params):
    def same_as_numpys(n, call):
        bound = _bind(call, name, params, required=len(params))
        return n.library_call(numpy_function, path, [n.call_arg(bound[p]) for p in params])
    same_as_numpys.__doc__ = f"{name}({', '.join(params)}) is np.{path}({', '.join(params)})."
    return same_as_numpys


def exp10(n, call):
    """scipy.special.exp10(x) is np.power(10.0, x)."""
    x = _bind(call, "scipy.special.exp10", ("x",))["x"]
    return n.numpy_call(np.power, [_const(10.0), n.call_arg(x)])


def softplus(n, call):
    """scipy.special.softplus(x) is np.logaddexp(0.0, x)."""
    x = _bind(call, "scipy.special.softplus", ("x",))["x"]
    return n.numpy_call(np.logaddexp, [_const(0.0), n.call_arg(x)])


def logsumexp(n, call):
    """scipy.special.logsumexp(a, axis, b, keepdims) with weights b is m + log(sum(b * exp(a -
    m))) along the axes, m a's largest value there (0 where that is not finite, as SciPy's):
    the derivatives through m cancel. Without b, the call is its rule's."""
    bound = _bind(call, "scipy.special.logsumexp", ("a", "axis", "b", "keepdims",
                                                    "return_sign"))
    if "b" not in bound:
        return None
    keepdims = _constant(bound.get("keepdims", _const(False)))
    if _constant(bound.get("return_sign", _const(False))) is not False or \
            not isinstance(keepdims, bool):
        _refuse("scipy.special.logsumexp with weights b other than with keepdims written as True "
                "or False and without return_sign", call)
    parts = {"a": n.call_arg(bound["a"]), "b": n.call_arg(bound["b"]), "np": n.np_name,
             "axis": n.call_arg(bound["axis"]) if "axis" in bound else _const(None),
             "keepdims": _const(keepdims)}
    parts["a"] = n.atom(templates.fill("a + np.zeros_like(b)", **parts))  # (a broadcast by b)
    top = n.atom(templates.fill("np.max(a, axis=axis, keepdims=True)", **parts))
    parts["m"] = n.atom(templates.fill("np.where(np.isfinite(m), m, 0.0)", **parts, m=top))
    return n.atom(templates.fill("np.log(np.sum(b * np.exp(a - m), axis=axis, "
                                 "keepdims=keepdims)) + np.sum(m, axis=axis, keepdims=keepdims)",
                                 **parts))


def diag_indices(n, call):
    """np.diag_indices(n, ndim) is the tuple of ndim times np.arange(n)."""
    bound = _bind(call, "np.diag_indices", ("n", "ndim"))
    ndim = _constant(bound.get("ndim", _const(2)))
    if type(ndim) is not int or ndim < 0:
        _refuse("np.diag_indices with ndim other than a number written in the call", call)
    indices = n.atom(n.numpy_call(np.arange, [n.call_arg(bound["n"])]))
    return gast.Tuple(elts=[anno.deepcopy(indices) for _ in range(ndim)], ctx=gast.Load())


def diff(n, call):
    """np.diff(a, n, axis, prepend=v, append=w) is np.diff of the concatenation of v, a and w
    along the axis, a number v or w spread to one slice of a's shape (kn.diff_padding). Without
    prepend and append, the call is its rule's."""
    bound = _bind(call, "np.diff", ("a", "n", "axis", "prepend", "append"))
    if not {"prepend", "append"} & set(bound):
        return None
    a = n.call_arg(bound["a"])
    axis = n.call_arg(bound["axis"]) if "axis" in bound else _const(-1)
    pieces = [n.kernel_atom(array_kernels.diff_padding, [n.call_arg(bound[k]), anno.deepcopy(a),
                                                         anno.deepcopy(axis)])
              if k in bound else anno.deepcopy(a) for k in ("prepend", "a", "append")
              if k in bound]
    joined = n.atom(n.numpy_call(np.concatenate, [gast.Tuple(elts=pieces, ctx=gast.Load())],
                                 [_keyword("axis", anno.deepcopy(axis))]))
    return n.numpy_call(np.diff, [joined] + ([n.call_arg(bound["n"])] if "n" in bound else
                                             [_const(1)]) + [anno.deepcopy(axis)])


def math_prod(n, call):
    """math.prod((a, b, c), start=s) is s * a * b * c (numbers written in the call)."""
    bound = _bind(call, "math.prod", ("iterable", "start"))
    numbers = bound["iterable"]
    if not isinstance(numbers, (gast.Tuple, gast.List)) or \
            any(isinstance(e, gast.Starred) for e in numbers.elts):
        _refuse("math.prod other than of numbers written in the call", call)
    factors = ([bound["start"]] if "start" in bound else []) + numbers.elts
    if not factors:
        return _const(1)
    product = n.call_arg(factors[0])
    for k, factor in enumerate(factors[1:]):
        product = gast.BinOp(left=product, op=gast.Mult(), right=n.call_arg(factor))
        if k < len(factors) - 2:
            product = n.atom(product)
    return product


# SciPy's and math's names of NumPy's functions: {function: (NumPy's, its path under np, the
# parameters taken)} (the tape takes them as NumPy's too)
_SAME_AS_NUMPYS = {
    scipy.special.expm1: (np.expm1, "expm1", ("x",)),
    scipy.special.log1p: (np.log1p, "log1p", ("x",)),
    scipy.special.cbrt: (np.cbrt, "cbrt", ("x",)),
    scipy.special.exp2: (np.exp2, "exp2", ("x",)),
    scipy.linalg.solve: (np.linalg.solve, "linalg.solve", ("a", "b")),
    scipy.linalg.inv: (np.linalg.inv, "linalg.inv", ("a",)),
    scipy.linalg.det: (np.linalg.det, "linalg.det", ("a",)),
    math.cbrt: (np.cbrt, "cbrt", ("x",)),
    math.exp2: (np.exp2, "exp2", ("x",)),
}
NUMPYS = {function: same[0] for function, same in _SAME_AS_NUMPYS.items()}

COMPOSITIONS = {
    np.fliplr: _flipped_along(1, "np.fliplr"), np.flipud: _flipped_along(0, "np.flipud"),
    np.rot90: rot90, np.rollaxis: rollaxis, np.ptp: ptp, np.inner: inner, np.vdot: vdot,
    np.linalg.lstsq: lstsq, np.meshgrid: meshgrid, scipy.linalg.cho_factor: cho_factor,
    np.linalg.multi_dot: multi_dot, np.heaviside: heaviside, np.select: select,
    np.correlate: correlate, np.corrcoef: corrcoef, np.ediff1d: ediff1d,
    np.column_stack: column_stack, np.dstack: dstack,
    np.nanmax: _nan_extremum(np.max, -math.inf, "np.nanmax"),
    np.nanmin: _nan_extremum(np.min, math.inf, "np.nanmin"), scipy.special.exp10: exp10,
    math.prod: math_prod, scipy.special.logsumexp: logsumexp, np.diag_indices: diag_indices,
    np.diff: diff,
    np.split: _split("np.split", True, "np.split(ary, k or indices, axis) is the tuple of ary's "
                     "slices along the axis at the indices, or into k of one length (else "
                     "NumPy's ValueError)."),
    np.array_split: _split("np.array_split", False, "np.array_split(ary, k or indices, axis) is "
                           "the tuple of ary's slices along the axis at the indices, or into k, "
                           "the first n % k of them one longer than n // k."),
    **{function: _same_as(numpy_function, path, _spelled(function), params)
       for function, (numpy_function, path, params) in _SAME_AS_NUMPYS.items()},
}
if hasattr(np, "cumulative_sum"):  # (NumPy 2.1)
    COMPOSITIONS[np.cumulative_sum] = cumulative_sum
if hasattr(np, "matrix_transpose"):  # (NumPy 2.0)
    COMPOSITIONS[np.matrix_transpose] = COMPOSITIONS[np.linalg.matrix_transpose] = \
        matrix_transpose
    COMPOSITIONS[np.linalg.diagonal] = linalg_diagonal
if hasattr(scipy.special, "softplus"):  # (SciPy 1.15)
    COMPOSITIONS[scipy.special.softplus] = softplus
