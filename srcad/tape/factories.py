"""The top-level functions of torch's namespace that make tensors or apply ops to them.

    srcad.tensor([1, 2, 3])              int64, as torch; srcad.tensor([1., 2.]) float64
    srcad.zeros(2, 3), ones, full, eye, arange, linspace, rand, randn, *_like
    srcad.manual_seed(0)                 seeds rand/randn (NumPy's generator: other numbers
                                         than torch's for the same seed)
    srcad.exp(t), srcad.sigmoid(t), ...  each is the tensor method of the same name
    srcad.cat([a, b], dim=0), srcad.stack, srcad.where, srcad.matmul, ...

Floats are float64 unless dtype= says otherwise (torch's default float is float32).
"""

import numpy as np

from srcad.tape import dtypes
from srcad.tape.tensor import Tensor, apply, new

_generator = np.random.default_rng()


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of data (nested lists, arrays, numbers, a tensor)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing `array`'s memory (writes to either show in both), as torch's."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.default_for(array)
    return new(array)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def manual_seed(seed):
    global _generator
    _generator = np.random.default_rng(seed)


def _shape(size):
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _made(value, dtype, requires_grad):
    value = dtypes.with_default_float(value) if dtype is None else \
        value.astype(dtypes.as_numpy(dtype))
    t = new(value)
    t.requires_grad = requires_grad
    return t


def zeros(*size, dtype=None, requires_grad=False):
    return _made(np.zeros(_shape(size)), dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _made(np.ones(_shape(size)), dtype, requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    return _made(np.full(_shape((size,)), fill_value), dtype, requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return _made(np.eye(n, m), dtype, requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Integers give int64 and any float a float tensor, as in torch."""
    start, end = (0, start) if end is None else (start, end)
    return _made(np.arange(start, end, step), dtype, requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False):
    return _made(np.linspace(start, end, steps), dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    return _made(_generator.random(_shape(size)), dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    return _made(_generator.standard_normal(_shape(size)), dtype, requires_grad)


def randint(low, high=None, size=(), dtype=None, requires_grad=False):
    low, high = (0, low) if high is None else (low, high)
    return _made(_generator.integers(low, high, _shape((size,))), dtype, requires_grad)


def _like(factory):
    def like(t, dtype=None, requires_grad=False):
        return factory(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)

    like.__name__ = f"{factory.__name__}_like"
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randperm(n, dtype=None, requires_grad=False):
    return _made(_generator.permutation(n), dtype, requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, requires_grad=False):
    return _made(np.logspace(start, end, steps, base=base), dtype, requires_grad)


def remainder(input, other):
    return input % other


def cat(tensors, dim=0):
    return apply("concatenate", *tensors, axis=dim)


concat = concatenate = cat


def stack(tensors, dim=0):
    return apply("stack", *tensors, axis=dim)


def where(condition, input, other):
    return apply("where", input, other, cond=np.asarray(getattr(condition, "_value", condition)))


def _method(name):
    """srcad.exp(t) and the like: the tensor method of the same name."""

    def function(input, *args, **kwargs):
        return getattr(input if isinstance(input, Tensor) else tensor(input), name)(
            *args, **kwargs
        )

    function.__name__ = name
    return function


def _methods(names):
    return [_method(name) for name in names.split()]


exp, log, log1p, expm1, log2, log10 = _methods("exp log log1p expm1 log2 log10")
sqrt, square, erf, reciprocal, sin, cos = _methods("sqrt square erf reciprocal sin cos")
tan, tanh, sinh, cosh, asin, acos = _methods("tan tanh sinh cosh asin acos")
atan, abs, neg, sigmoid, relu, sign = _methods("atan abs neg sigmoid relu sign")
floor, ceil, round, clamp, clip, maximum = _methods("floor ceil round clamp clip maximum")
minimum, pow, sum, mean, prod, max = _methods("minimum pow sum mean prod max")
min, cumsum, std, var, norm, argmax = _methods("min cumsum std var norm argmax")
argmin, softmax, log_softmax, matmul, mm, mv = _methods("argmin softmax log_softmax matmul mm mv")
dot, reshape, flatten, unsqueeze, squeeze, t = _methods("dot reshape flatten unsqueeze squeeze t")
transpose, permute, clone, detach, eq, ne = _methods("transpose permute clone detach eq ne")
lt, le, gt, ge, equal, isnan = _methods("lt le gt ge equal isnan")
isinf, isfinite, numel = _methods("isinf isfinite numel")
trace, amax, amin, topk, chunk, split = _methods("trace amax amin topk chunk split")
masked_fill, rsqrt, trunc, frac = _methods("masked_fill rsqrt trunc frac")
add, sub, mul, div, outer = _methods("add sub mul div outer")
allclose, isclose = _methods("allclose isclose")
subtract, multiply, divide, true_divide, ger = sub, mul, div, div, outer
sort, unbind, narrow, index_select = _methods("sort unbind narrow index_select")
gather, atan2, arctan2, flip = _methods("gather atan2 arctan2 flip")
tril, triu, diag, roll, kron, cross = _methods("tril triu diag roll kron cross")
hypot, fmod, sinc, logit, lerp, dist = _methods("hypot fmod sinc logit lerp dist")
addcmul, addcdiv, take_along_dim = _methods("addcmul addcdiv take_along_dim")


def einsum(equation, *operands):
    """torch.einsum(equation, a, b) or (equation, [a, b])."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    return np.einsum(equation, *operands)


def tensordot(a, b, dims=2):
    return np.tensordot(a, b, axes=dims)


def as_tensor(data, dtype=None):
    """`data` itself when it is a tensor of that dtype; an array's memory shared when it can."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and dtype is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def logsumexp(input, dim, keepdim=False):
    top = input.detach().amax(dim, keepdim=True)._value
    top = from_numpy(np.where(np.isfinite(top), top, np.zeros((), top.dtype)))  # (all -inf: -inf)
    out = (input - top).exp().sum(dim, keepdim=True).log() + top
    return out if keepdim else out.squeeze(dim)

__all__ = [
    "abs",
    "acos",
    "add",
    "addcdiv",
    "addcmul",
    "allclose",
    "amax",
    "amin",
    "arange",
    "arctan2",
    "argmax",
    "argmin",
    "as_tensor",
    "asin",
    "atan",
    "atan2",
    "cat",
    "ceil",
    "chunk",
    "clamp",
    "clip",
    "clone",
    "concat",
    "concatenate",
    "cos",
    "cosh",
    "cross",
    "cumsum",
    "detach",
    "diag",
    "dist",
    "div",
    "divide",
    "dot",
    "einsum",
    "empty",
    "empty_like",
    "eq",
    "equal",
    "erf",
    "exp",
    "expm1",
    "eye",
    "flatten",
    "flip",
    "floor",
    "fmod",
    "frac",
    "from_numpy",
    "full",
    "full_like",
    "gather",
    "ge",
    "ger",
    "gt",
    "hypot",
    "index_select",
    "is_tensor",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "kron",
    "le",
    "lerp",
    "linspace",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logit",
    "logspace",
    "logsumexp",
    "lt",
    "manual_seed",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "mul",
    "multiply",
    "mv",
    "narrow",
    "ne",
    "neg",
    "norm",
    "numel",
    "ones",
    "ones_like",
    "outer",
    "permute",
    "pow",
    "prod",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "reciprocal",
    "relu",
    "remainder",
    "reshape",
    "roll",
    "round",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "sinc",
    "sinh",
    "softmax",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "subtract",
    "sum",
    "t",
    "take_along_dim",
    "tan",
    "tanh",
    "tensor",
    "tensordot",
    "topk",
    "trace",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "trunc",
    "unbind",
    "unsqueeze",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
