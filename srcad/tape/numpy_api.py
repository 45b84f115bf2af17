"""What NumPy functions do when called on tensors: np.sin(t), np.sum(t, axis=0), np.dot(a, b).

NumPy hands a call with a tensor argument to Tensor.__array_ufunc__ / __array_function__, which
look the function up in the tables this module fills (tensor.HANDLED_UFUNCS, HANDLED_FUNCTIONS):
each entry records ops of ops.OPS. Functions in the ZERO_GRADIENT sets run on the plain arrays
(comparisons, floor, argmax, shape queries). Any other NumPy function raises on a tensor that
requires grad rather than drop its gradient. The vjps in ops.py rely on these entries when they
run on tensors (backward(create_graph=True)).
"""

import functools

import numpy as np

from srcad.tape import mode
from srcad.tape.ops import OPS
from srcad.tape.tensor import (
    HANDLED_FUNCTIONS,
    HANDLED_UFUNCS,
    ZERO_GRADIENT_FUNCTIONS,
    ZERO_GRADIENT_UFUNCS,
    Tensor,
    apply,
    as_tensor,
    operand,
    plain,
)


def matmul(a, b):
    return apply("matmul", a, b)


def dot(a, b):
    if np.ndim(operand(a)) == 0 or np.ndim(operand(b)) == 0:
        return apply("mul", a, b)
    return matmul(a, b)


def transpose(x, axes=None):
    return apply("permute", x, axes=None if axes is None else tuple(axes))


def where(condition, x, y):
    return apply("where", x, y, cond=np.asarray(operand(condition), dtype=bool))


def clip(a, a_min=None, a_max=None, **bounds):
    """np.clip(a, a_min, a_max), also spelled with NumPy 2's min= and max= keywords."""
    lo, hi = bounds.pop("min", a_min), bounds.pop("max", a_max)
    if bounds:
        raise TypeError(f"srcad.tape: np.clip with {sorted(bounds)} is not supported")
    return apply("clip", a, -np.inf if lo is None else lo, np.inf if hi is None else hi)


def reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.pop("newshape", shape)  # NumPy < 2.1 spelled it newshape
    if order != "C" or kwargs.get("copy") is False:
        raise NotImplementedError("srcad.tape supports np.reshape in C order only")
    return apply("view", a, shape=shape)


def ravel(a, order="C"):
    return reshape(a, -1, order)


def expand_dims(a, axis):
    return apply("unsqueeze", a, axis=axis)


def power(x, y):
    if not isinstance(y, Tensor) and np.ndim(y) == 0:
        return apply("pow", x, exponent=y)
    if not isinstance(x, Tensor) and np.ndim(x) == 0:
        return apply("rpow", y, base=x)
    return apply("pow_tensors", x, y)


def erf(x):
    """math.erf on a tensor (run.py gives it to user code that calls math.erf)."""
    return apply("erf", x)


def stack(tensors, axis=0):
    return apply("stack", *tensors, axis=axis)


def concatenate(tensors, axis=0):
    return apply("concatenate", *tensors, axis=axis)


def broadcast_to(x, shape):
    return apply("expand", x, shape=tuple(shape) if np.ndim(shape) else (shape,))


def outer(a, b):
    return apply("view", a, shape=(-1, 1)) * apply("view", b, shape=(1, -1))


def norm(x, ord=None, axis=None, keepdims=False):
    if ord is not None:
        raise TypeError(f"srcad.tape has no derivative for numpy.linalg.norm with ord={ord!r}")
    return apply("norm", x, axis=axis, keepdims=keepdims)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return apply("var", a, axis=axis, ddof=ddof, keepdims=keepdims)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return apply("std", a, axis=axis, ddof=ddof, keepdims=keepdims)


def hstack(tensors):
    parts = [x if np.ndim(operand(x)) else apply("view", x, shape=(1,)) for x in tensors]
    return concatenate(parts, axis=0 if all(np.ndim(operand(x)) == 1 for x in parts) else 1)


def vstack(tensors):
    rows = [apply("view", x, shape=(1, -1)) if np.ndim(operand(x)) < 2 else x for x in tensors]
    return concatenate(rows, axis=0)


def cross(a, b):
    if np.shape(operand(a)) != (3,) or np.shape(operand(b)) != (3,):
        raise NotImplementedError("srcad.tape supports np.cross of two 3-vectors only")
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """start + (stop - start) * fraction, as NumPy computes it (the last sample is stop)."""
    if axis != 0 or (dtype is not None and np.dtype(dtype).kind != "f"):
        raise TypeError(
            mode.located(f"srcad.tape: np.linspace with axis={axis!r}, dtype={dtype!r}")
        )
    ndim = np.broadcast(operand(start), operand(stop)).ndim
    fractions = np.reshape(np.linspace(0.0, 1.0, num, endpoint), (-1,) + (1,) * ndim)
    samples = start + (stop - start) * fractions
    if endpoint and num > 1:
        samples = concatenate([samples[:-1], expand_dims(stop + 0.0 * start, 0)])
    step = (stop - start) / (num - 1 if endpoint else num) if num > int(endpoint) else np.nan
    return (samples, step) if retstep else samples


def _like(np_func):
    """np.zeros_like and friends: a constant tensor when the result is a float array."""

    def like(a, *args, **kwargs):
        result = np_func(plain(a), *args, **kwargs)
        return as_tensor(result) if result.dtype.kind == "f" else result

    return like


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, Tensor):
        return broadcast_to(fill_value, np.shape(operand(a)) if shape is None else shape)
    return _like(np.full_like)(a, fill_value, dtype, order, subok, shape)


def _reduction(name):
    def reduce(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        return apply(name, a, axis=axis, keepdims=keepdims)

    return reduce


HANDLED_UFUNCS.update(
    {
        op.forward: functools.partial(apply, name)
        for name, op in OPS.items()
        if isinstance(op.forward, np.ufunc)
    }
)
HANDLED_UFUNCS.update(
    {
        np.power: power,
        np.fabs: functools.partial(apply, "abs"),
        np.positive: functools.partial(apply, "clone"),
        np.matmul: matmul,
    }
)
ZERO_GRADIENT_UFUNCS.update(
    {
        *(np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal),
        *(np.logical_and, np.logical_or, np.logical_not, np.logical_xor),
        *(np.isnan, np.isinf, np.isfinite, np.signbit, np.sign),
        *(np.floor, np.ceil, np.trunc, np.rint),
    }
)
HANDLED_FUNCTIONS.update(
    {
        np.sum: _reduction("sum"),
        np.mean: _reduction("mean"),
        np.max: _reduction("max"),
        np.min: _reduction("min"),
        np.amax: _reduction("max"),
        np.amin: _reduction("min"),
        np.prod: _reduction("prod"),
        np.cumsum: lambda a, axis=None: apply("cumsum", a, axis=axis),
        np.reshape: reshape,
        np.ravel: ravel,
        np.expand_dims: expand_dims,
        np.copy: lambda a, order="K", subok=False: apply("clone", a),
        np.dot: dot,
        np.transpose: transpose,
        np.where: where,
        np.clip: clip,
        np.stack: stack,
        np.concatenate: concatenate,
        np.broadcast_to: broadcast_to,
        np.outer: outer,
        np.linspace: linspace,
        np.var: var,
        np.std: std,
        np.hstack: hstack,
        np.vstack: vstack,
        np.cross: cross,
        np.linalg.norm: norm,
        np.linalg.inv: functools.partial(apply, "inv"),
        np.linalg.det: functools.partial(apply, "det"),
        np.linalg.solve: functools.partial(apply, "solve"),
        np.zeros_like: _like(np.zeros_like),
        np.ones_like: _like(np.ones_like),
        np.empty_like: _like(np.empty_like),
        np.full_like: full_like,
    }
)
ZERO_GRADIENT_FUNCTIONS.update(
    {
        *(np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero),
        *(np.round, np.isclose, np.allclose, np.array_equal, np.count_nonzero),
    }
)
