"""The tape's op table: one entry per differentiable operation.

An entry is a name, a forward function on NumPy values, and the vector-Jacobian product of each
input, `vjp(g, ans, *inputs, **params)`: `g` is the gradient of the result, `ans` the result,
`inputs` the input values and `params` the non-differentiable keyword arguments (axis, index,
condition). The engine sums each returned gradient back to its input's shape, so an entry states
only the math; a vjp may return an IndexedGrad for a gradient that is zero but at an index. The
name gives the grad_fn label: "mul" -> <MulBackward>.

  defvjp(name, forward, *vjps)          the vjps may read input values and `ans`
  deflinear(name, forward, *vjps)       the vjps read only `g`, params and shapes: the node saves
                                        no values (and, as in torch, survives a second backward)
  deflinear_many(name, forward, vjp)    linear, any number of inputs: vjp returns all gradients

To add an op: one entry here and one row in tests/tape/test_ops.py; tensor.py maps NumPy
ufuncs to entries by their forward function.
"""

import math

import numpy as np


class Op:
    __slots__ = ("forward", "label", "linear", "name", "vjp_all", "vjps")

    def __init__(self, name, forward, vjps=(), vjp_all=None, linear=False):
        self.name, self.forward, self.vjps, self.vjp_all = name, forward, vjps, vjp_all
        self.linear = linear
        self.label = "".join(part.capitalize() for part in name.split("_")) + "Backward"


OPS = {}


def _register(op):
    if op.name in OPS:
        raise KeyError(f"tape op {op.name!r} is defined twice")
    OPS[op.name] = op


def defvjp(name, forward, *vjps):
    _register(Op(name, forward, vjps))


def deflinear(name, forward, *vjps):
    _register(Op(name, forward, vjps, linear=True))


def deflinear_many(name, forward, vjp_all):
    _register(Op(name, forward, vjp_all=vjp_all, linear=True))


def is_basic_index(index):
    """True for an index made of ints, slices, None and Ellipsis (NumPy returns a view)."""
    if type(index) is int:  # the common x[i], first
        return True
    items = index if isinstance(index, tuple) else (index,)
    return all(
        item is None
        or item is Ellipsis
        or isinstance(item, slice)
        or (isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)))
        for item in items
    )


# ---- helpers for the entries ----


def _unreduce(g, shape, axis, keepdims):
    """Broadcast the gradient of a reduction over `axis` back to the input's shape."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def _to_extremes(g, ans, x, axis, keepdims):
    """Gradient of max/min: shared equally by the elements that attain it (torch's amax)."""
    hits = x == _unreduce(ans, x.shape, axis, keepdims)
    return hits * _unreduce(g, x.shape, axis, keepdims) / hits.sum(axis=axis, keepdims=True)


class IndexedGrad:
    """The gradient of x[index]: zero except at index, where it is g. The engine adds it into
    an accumulated gradient at index only, so reading n elements one by one costs O(n), not
    O(n**2)."""

    __slots__ = ("g", "index", "shape")

    def __init__(self, g, shape, index):
        self.g, self.shape, self.index = g, shape, index

    def add_to(self, out):
        if is_basic_index(self.index):  # names each element once: plain += is enough
            out[self.index] += self.g
        else:
            np.add.at(out, self.index, self.g)
        return out

    def dense(self):
        return self.add_to(np.zeros(self.shape))


def _log_base(x):
    return np.log(np.where(x == 0, 1.0, x))  # d(0**y)/dy is 0, not nan


def _others_product(x, axis):
    """Each element's product of the other elements along axis, from prefix and suffix
    products: exact where x has zeros, where ans / x is not (srcad.runtime.prod_adjoint)."""
    if x.size == 0:
        return np.zeros(x.shape)
    if axis is None:
        return _others_product(x.reshape(-1), 0).reshape(x.shape)
    axes = tuple(np.atleast_1d(axis) % x.ndim)
    ends = tuple(range(x.ndim - len(axes), x.ndim))
    moved = np.moveaxis(x, axes, ends)
    flat = moved.reshape(moved.shape[: x.ndim - len(axes)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((left * right).reshape(moved.shape), ends, axes)


def _prod_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims) * _others_product(x, axis)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# gradients of maximum and minimum: a tie goes to the first argument, as in srcad.rules
def _if_ge(g, ans, x, y):
    return g * (x >= y)


def _if_lt(g, ans, x, y):
    return g * (x < y)


def _if_le(g, ans, x, y):
    return g * (x <= y)


def _if_gt(g, ans, x, y):
    return g * (x > y)


def _pow_dx(g, ans, x, y):
    return g * y * x ** np.where(y == 0, 1, y - 1)  # 0 for y == 0, as torch


def _pow_dy(g, ans, x, y):
    return g * ans * _log_base(x)


def _clip_dx(g, ans, x, lo, hi):
    return g * ((lo <= x) & (x <= hi))


def _clip_dlo(g, ans, x, lo, hi):
    return g * (x < lo)


def _clip_dhi(g, ans, x, lo, hi):
    return g * (x > hi)


def _where(x, y, cond):
    return np.where(cond, x, y)


def _where_dx(g, ans, x, y, cond):
    return np.where(cond, g, 0.0)


def _where_dy(g, ans, x, y, cond):
    return np.where(cond, 0.0, g)


def _arctan2_dy(g, ans, y, x):  # np.arctan2(y, x)
    return g * x / (x * x + y * y)


def _arctan2_dx(g, ans, y, x):
    return -g * y / (x * x + y * y)


def _logaddexp_dx(g, ans, x, y):
    return g * np.exp(x - ans)


def _logaddexp_dy(g, ans, x, y):
    return g * np.exp(y - ans)


def _sum_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims)


def _mean_dx(g, ans, x, axis, keepdims):
    return _unreduce(g, x.shape, axis, keepdims) * (ans.size / x.size)


def _cumsum_dx(g, ans, x, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis).reshape(x.shape)


def _matmul_dx(g, ans, x, y):
    if y.ndim == 1:
        return np.multiply.outer(g, y)
    return g @ y.T if x.ndim == 2 else y @ g


def _matmul_dy(g, ans, x, y):
    if x.ndim == 1:
        return np.multiply.outer(x, g)
    return x.T @ g


def _solve_da(g, ans, a, b):
    gb = np.linalg.solve(a.T, g)
    return -(np.multiply.outer(gb, ans) if ans.ndim == 1 else gb @ ans.T)


def _solve_db(g, ans, a, b):
    return np.linalg.solve(a.T, g)


def _transpose_dx(g, ans, x, axes):
    return np.transpose(g, None if axes is None else np.argsort(axes))


def _reshape(x, shape):
    return np.reshape(x, shape)


def _reshape_dx(g, ans, x, shape):
    return np.reshape(g, x.shape)


def _getitem(x, index):
    return x[index]


def _getitem_dx(g, ans, x, index):
    return IndexedGrad(g, x.shape, index)


def _put(x, v, index):
    x[index] = v  # index_put is only used for y[i] = v: it writes into y's storage
    return x


def _put_dx(g, ans, x, v, index):
    out = np.array(g)
    out[index] = 0.0
    return out


def _put_dv(g, ans, x, v, index):
    return g[index]


def _stack(*xs, axis):
    return np.stack(xs, axis)


def _unstack(g, ans, *xs, axis):
    return list(np.moveaxis(g, axis, 0))


def _concatenate(*xs, axis):
    return np.concatenate(xs, axis)


def _split(g, ans, *xs, axis):
    return np.split(g, np.cumsum([x.shape[axis] for x in xs[:-1]]), axis)


# ---- arithmetic ----

deflinear("add", np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g)
deflinear("sub", np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
deflinear("neg", np.negative, lambda g, ans, x: -g)
defvjp("mul", np.multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defvjp("div", np.true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)
defvjp("pow", np.power, _pow_dx, _pow_dy)
defvjp("mod", np.mod, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * np.floor(x / y))
defvjp("square", np.square, lambda g, ans, x: g * 2 * x)
defvjp("reciprocal", np.reciprocal, lambda g, ans, x: -g * ans * ans)
defvjp("abs", np.absolute, lambda g, ans, x: g * np.sign(x))
defvjp("maximum", np.maximum, _if_ge, _if_lt)
defvjp("minimum", np.minimum, _if_le, _if_gt)
defvjp("clip", np.clip, _clip_dx, _clip_dlo, _clip_dhi)
deflinear("where", _where, _where_dx, _where_dy)

# ---- elementary functions ----

defvjp("exp", np.exp, lambda g, ans, x: g * ans)
defvjp("exp2", np.exp2, lambda g, ans, x: g * ans * np.log(2))
defvjp("expm1", np.expm1, lambda g, ans, x: g * (ans + 1))
defvjp("log", np.log, lambda g, ans, x: g / x)
defvjp("log2", np.log2, lambda g, ans, x: g / (x * np.log(2)))
defvjp("log10", np.log10, lambda g, ans, x: g / (x * np.log(10)))
defvjp("log1p", np.log1p, lambda g, ans, x: g / (1 + x))
defvjp("logaddexp", np.logaddexp, _logaddexp_dx, _logaddexp_dy)
defvjp("sqrt", np.sqrt, lambda g, ans, x: g * 0.5 / ans)
defvjp("cbrt", np.cbrt, lambda g, ans, x: g / (3 * ans * ans))
defvjp("sin", np.sin, lambda g, ans, x: g * np.cos(x))
defvjp("cos", np.cos, lambda g, ans, x: -g * np.sin(x))
defvjp("tan", np.tan, lambda g, ans, x: g / np.cos(x) ** 2)
defvjp("arcsin", np.arcsin, lambda g, ans, x: g / np.sqrt(1 - x**2))
defvjp("arccos", np.arccos, lambda g, ans, x: -g / np.sqrt(1 - x**2))
defvjp("arctan", np.arctan, lambda g, ans, x: g / (1 + x**2))
defvjp("arctan2", np.arctan2, _arctan2_dy, _arctan2_dx)
defvjp("hypot", np.hypot, lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans)
defvjp("sinh", np.sinh, lambda g, ans, x: g * np.cosh(x))
defvjp("cosh", np.cosh, lambda g, ans, x: g * np.sinh(x))
defvjp("tanh", np.tanh, lambda g, ans, x: g * (1 - ans**2))
defvjp("arcsinh", np.arcsinh, lambda g, ans, x: g / np.sqrt(x**2 + 1))
defvjp("arccosh", np.arccosh, lambda g, ans, x: g / np.sqrt(x**2 - 1))
defvjp("arctanh", np.arctanh, lambda g, ans, x: g / (1 - x**2))
defvjp("erf", _erf, lambda g, ans, x: g * (2 / math.sqrt(math.pi)) * np.exp(-x * x))

# ---- reductions (max and min share g equally among ties, as srcad.runtime does) ----

deflinear("sum", np.sum, _sum_dx)
deflinear("mean", np.mean, _mean_dx)
defvjp("prod", np.prod, _prod_dx)
defvjp("max", np.max, _to_extremes)
defvjp("min", np.min, _to_extremes)
deflinear("cumsum", np.cumsum, _cumsum_dx)

# ---- linear algebra (1-D and 2-D operands; np.dot and @ share matmul) ----

defvjp("matmul", np.matmul, _matmul_dx, _matmul_dy)
defvjp("inv", np.linalg.inv, lambda g, ans, x: -ans.T @ g @ ans.T)
defvjp("det", np.linalg.det, lambda g, ans, x: g * ans * np.linalg.inv(x).T)
defvjp("solve", np.linalg.solve, _solve_da, _solve_db)

# ---- shape, indexing and copies ----

deflinear("transpose", np.transpose, _transpose_dx)
deflinear("reshape", _reshape, _reshape_dx)
deflinear("broadcast_to", np.broadcast_to, lambda g, ans, x, shape: g)
deflinear("clone", np.copy, lambda g, ans, x: g)
deflinear("getitem", _getitem, _getitem_dx)
deflinear("index_put", _put, _put_dx, _put_dv)
deflinear_many("stack", _stack, _unstack)
deflinear_many("concatenate", _concatenate, _split)
