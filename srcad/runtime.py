"""The helpers generated gradient code calls. Every one runs as plain Python and compiles in
Numba nopython mode.

Helpers whose work depends on argument types (scalar or array, rank) have a Python body for
`jit=False` and a `numba.extending.overload` for compiled code, where the choice is made once
per signature at typing time. Helpers that are the same code either way are
`register_jitable`.
"""

import builtins
import math

import numpy as np
from numba import literal_unroll
from numba.core import errors, types
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype
from numba.np.unsafe.ndarray import to_fixed_tuple

from .errors import PYTHON_TEXT, EmptyStack, ListItemShapeError, ShapeAssumptionFailed
from .kernels.rows import shape_of


def _is_array(t):
    return isinstance(t, types.Array)


# ---- broadcasting -------------------------------------------------------------------------

def unbroadcast(g, x):
    """Sum the adjoint `g` of a broadcast result back to the shape of operand `x` (an array, a
    scalar, or an array's shape as a tuple): `g` itself when the shapes already agree."""
    shape = shape_of(x)
    if not shape:
        return np.float64(np.sum(g))
    g = np.asarray(g)
    if g.shape == shape:
        return g
    extra = len(shape) - g.ndim  # (a value stored into a slice may have leading axes of 1)
    if extra > 0 and all(n == 1 for n in shape[:extra]):
        g = g.reshape((1,) * extra + g.shape)
    if g.ndim < len(shape) or any(gn not in (xn, 1) and xn != 1
                                  for gn, xn in zip(g.shape[g.ndim - len(shape):], shape,
                                                    strict=False)):
        return np.broadcast_to(g, shape).copy()
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def seed(b, value):
    """The cotangent of an array result: `b` itself, or the scalar `b` spread over its shape."""
    return np.full(np.shape(value), b) if np.ndim(b) == 0 else b


@overload(seed)
def _seed(b, value):
    if _is_array(b):
        return lambda b, value: b
    return lambda b, value: np.full(value.shape, b)


def clip(a, a_min, a_max):
    """`np.clip(a, a_min, a_max)`, the bounds broadcast against `a` (Numba's keeps a's shape)."""
    return np.clip(a, a_min, a_max)


@overload(clip)
def _clip(a, a_min, a_max):
    def missing(bound):
        return isinstance(bound, (types.NoneType, types.Omitted))
    if missing(a_min) and missing(a_max):
        return lambda a, a_min, a_max: np.clip(a, a_min, a_max)  # (NumPy's error)
    if missing(a_min):
        return lambda a, a_min, a_max: np.minimum(a, a_max)
    if missing(a_max):
        return lambda a, a_min, a_max: np.maximum(a, a_min)
    return lambda a, a_min, a_max: np.minimum(np.maximum(a, a_min), a_max)


@register_jitable
def broadcast_tangent(t, ans):
    """The tangent `t` of an elementwise result spread to the result `ans`'s shape (only a
    broadcast operand carried one), as a new array."""
    return t + np.zeros_like(ans)


def unbroadcast_copy(g, x):
    """`unbroadcast` always returning a new array (so the result may become an adjoint that is
    updated in place while `g` lives on)."""
    out = unbroadcast(g, x)
    return out.copy() if np.may_share_memory(out, g) else out


@register_jitable
def _sum_to_shape(g, shape):
    out = np.zeros(shape, g.dtype)
    flat = out.reshape(out.size)
    offset = g.ndim - len(shape)
    for idx in np.ndindex(g.shape):
        k = 0
        for j in range(len(shape)):
            k = k * shape[j] + (idx[offset + j] if shape[j] != 1 else 0)
        flat[k] += g[idx]
    return out


@register_jitable
def _covers(big, shape):
    """Whether every axis of `shape` is 1 or `big`'s length (`big` broadcasts to nothing)."""
    for a, b in zip(big, shape):
        if b != 1 and b != a:
            return False
    return True


# `_sum_to_shape` of a 2-D or 3-D `g` whose axes are `shape`'s or reduced to 1: the innermost
# axis summed in a local when it is reduced, added along a row when it is kept (loops LLVM
# vectorises, where np.ndindex's are not; no views of rows, whose reference counts cost more)
@register_jitable
def _sum_to_shape2(g, shape):
    out = np.zeros(shape, g.dtype)
    keep0, keep1 = shape[0] != 1, shape[1] != 1
    for i in range(g.shape[0]):
        oi = i if keep0 else 0
        if keep1:
            for k in range(g.shape[1]):
                out[oi, k] += g[i, k]
        else:
            s = 0.0
            for k in range(g.shape[1]):
                s += g[i, k]
            out[oi, 0] += s
    return out


@register_jitable
def _sum_to_shape3(g, shape):
    out = np.zeros(shape, g.dtype)
    keep0, keep1, keep2 = shape[0] != 1, shape[1] != 1, shape[2] != 1
    for i in range(g.shape[0]):
        oi = i if keep0 else 0
        for j in range(g.shape[1]):
            oj = j if keep1 else 0
            if keep2:
                for k in range(g.shape[2]):
                    out[oi, oj, k] += g[i, j, k]
            else:
                s = 0.0
                for k in range(g.shape[2]):
                    s += g[i, j, k]
                out[oi, oj, 0] += s
    return out


# the same sums of the products a * b, `b` broadcast to `a`'s shape (one inner loop per case, so
# that LLVM vectorises each)
@register_jitable
def _sum_product_to_shape2(a, b, out):
    keep0, keep1 = out.shape[0] != 1, out.shape[1] != 1
    along0, along1 = b.shape[0] != 1, b.shape[1] != 1
    for i in range(a.shape[0]):
        oi, bi = i if keep0 else 0, i if along0 else 0
        if keep1 and along1:
            for k in range(a.shape[1]):
                out[oi, k] += a[i, k] * b[bi, k]
        elif keep1:
            v = b[bi, 0]
            for k in range(a.shape[1]):
                out[oi, k] += a[i, k] * v
        elif along1:
            s = 0.0
            for k in range(a.shape[1]):
                s += a[i, k] * b[bi, k]
            out[oi, 0] += s
        else:
            s = 0.0
            for k in range(a.shape[1]):
                s += a[i, k]
            out[oi, 0] += s * b[bi, 0]
    return out


@register_jitable
def _sum_product_to_shape3(a, b, out):
    keep0, keep1, keep2 = out.shape[0] != 1, out.shape[1] != 1, out.shape[2] != 1
    along0, along1, along2 = b.shape[0] != 1, b.shape[1] != 1, b.shape[2] != 1
    for i in range(a.shape[0]):
        oi, bi = i if keep0 else 0, i if along0 else 0
        for j in range(a.shape[1]):
            oj, bj = j if keep1 else 0, j if along1 else 0
            if keep2 and along2:
                for k in range(a.shape[2]):
                    out[oi, oj, k] += a[i, j, k] * b[bi, bj, k]
            elif keep2:
                v = b[bi, bj, 0]
                for k in range(a.shape[2]):
                    out[oi, oj, k] += a[i, j, k] * v
            elif along2:
                s = 0.0
                for k in range(a.shape[2]):
                    s += a[i, j, k] * b[bi, bj, k]
                out[oi, oj, 0] += s
            else:
                s = 0.0
                for k in range(a.shape[2]):
                    s += a[i, j, k]
                out[oi, oj, 0] += s * b[bi, bj, 0]
    return out


def _rank(x):
    """The rank of the operand type `x` (an array, or a shape tuple); None for a scalar."""
    if _is_array(x):
        return x.ndim
    if isinstance(x, types.BaseTuple):
        return len(x) or None
    return None


@overload(unbroadcast)
def _unbroadcast(g, x):
    rank = _rank(x)
    if rank is None:
        if _is_array(g):
            return lambda g, x: np.sum(g)
        return lambda g, x: g
    if not _is_array(g):
        return lambda g, x: np.full(shape_of(x), g)
    if g.ndim == rank == 1:  # (simple forms for the common ranks compile much faster)
        def vector(g, x):
            if g.shape[0] == shape_of(x)[0]:
                return g
            return np.full(1, np.sum(g))
        return vector
    if g.ndim == 2 and rank == 1:
        def rows(g, x):
            n = shape_of(x)[0]
            out = np.zeros(n, g.dtype)
            for i in range(g.shape[0]):
                if n == 1:
                    out[0] += np.sum(g[i])
                else:
                    out += g[i]
            return out
        return rows
    if g.ndim == rank:
        loops = {2: _sum_to_shape2, 3: _sum_to_shape3}.get(rank, _sum_to_shape)

        def same_rank(g, x):
            shape = shape_of(x)
            if g.shape == shape:
                return g
            return loops(g, shape) if _covers(g.shape, shape) else _sum_to_shape(g, shape)
        return same_rank
    return lambda g, x: _sum_to_shape(g, shape_of(x))


def unbroadcast_product(a, b, x):
    """`unbroadcast(a * b, x)`; compiled, for a 2-D or 3-D `a` of the product's shape, without
    the product's array (the sums of `_sum_to_shape`, in its order)."""
    return unbroadcast(a * b, x)


@overload(unbroadcast_product)
def _unbroadcast_product(a, b, x):
    rank = _rank(x)
    if not (_is_array(a) and _is_array(b) and a.ndim == b.ndim == rank and rank in (2, 3)):
        return lambda a, b, x: unbroadcast(a * b, x)

    dtype = np.result_type(as_dtype(a.dtype), as_dtype(b.dtype))
    sums = _sum_product_to_shape2 if a.ndim == 2 else _sum_product_to_shape3

    def product(a, b, x):
        shape = shape_of(x)
        if _covers(b.shape, a.shape) and not _covers(a.shape, b.shape):
            a, b = b, a  # (the one of the product's shape first)
        if not (_covers(a.shape, shape) and _covers(a.shape, b.shape)) or \
                a.shape == shape and b.shape == shape:
            return unbroadcast(a * b, x)
        return sums(a, b, np.zeros(shape, dtype))
    return product


@overload(unbroadcast_copy)
def _unbroadcast_copy(g, x):
    if not _is_array(g) or _rank(x) != g.ndim:
        return lambda g, x: unbroadcast(g, x)  # (a new array whenever the ranks differ)

    def copy(g, x):
        if g.shape == shape_of(x):
            return g.copy()
        return unbroadcast(g, x)
    return copy


def floats_beside_float32(a):
    """Integer or boolean array `a` in the float type NumPy computes it in beside a float32
    array: float32 for bool, int8, int16, uint8, uint16; float64 for wider integers (Numba
    would compute all of them in float32)."""
    return a.astype(np.result_type(a.dtype, np.float32))


@overload(floats_beside_float32)
def _floats_beside_float32(a):
    dtype = np.result_type(as_dtype(a.dtype), np.float32)
    return lambda a: a.astype(dtype)


# ---- np.add.at ------------------------------------------------------------------------------

def scatter_length(indices, values, where):
    """len(indices), the trips of the loop np.add.at(y, indices, values) is lowered to, after
    NumPy's check that an array of values has one item per index."""
    if np.ndim(values) and np.shape(values)[0] != len(indices):
        raise ScatterLengthError(np.shape(values)[0], len(indices), where)
    return len(indices)


@overload(scatter_length)
def _scatter_length(indices, values, where):
    if not _is_array(values):
        return lambda indices, values, where: len(indices)

    def one_per_index(indices, values, where):
        if values.shape[0] != len(indices):
            raise ScatterLengthError(values.shape[0], len(indices), where)
        return len(indices)
    return one_per_index


def pair_count(rows, cols, values, where):
    """len(rows), the trips of the loop `y[rows, cols] = values` is lowered to, after checking
    that the two index arrays have one length and an array of values one item per pair."""
    if len(rows) != len(cols):
        raise PairLengthError(len(rows), len(cols), where)
    return scatter_length(rows, values, where)


@overload(pair_count)
def _pair_count(rows, cols, values, where):
    def count(rows, cols, values, where):
        if len(rows) != len(cols):
            raise PairLengthError(len(rows), len(cols), where)
        return scatter_length(rows, values, where)
    return count


# ---- the checks Python makes (inserted by guards.py) --------------------------------------

# The errors compiled code raises take their values as arguments and format the message in
# Python when they are raised: string formatting compiled by Numba (str(int), concatenation)
# would add about two seconds to every gradient's first call.

class ScatterLengthError(ValueError):
    def __init__(self, n_values, n_indices, where):
        super().__init__(f"{where}: {n_values} values for {n_indices} indices (srcad takes one "
                         "value per index, or one scalar)")


class PairLengthError(IndexError):
    def __init__(self, n_rows, n_cols, where):
        super().__init__(f"{where}: index arrays of {n_rows} and {n_cols} entries (srcad stores "
                         "through two index arrays of one length)")


class IndexOutOfBounds(IndexError):
    def __init__(self, index, size, axis, where):
        super().__init__(f"index {index} is out of bounds for axis {axis} with size {size} "
                         f"({where})")


class MaskMismatch(IndexError):
    def __init__(self, axis, where):
        super().__init__(f"boolean index did not match the indexed array along axis {axis} "
                         f"({where})")


class SliceShapeMismatch(ValueError):
    def __init__(self, value_shape, slice_shape):
        super().__init__(f"could not broadcast input array from shape {value_shape} into "
                         f"shape {slice_shape}")


class UpdateShapeMismatch(ValueError):
    def __init__(self, target_shape, value_shape):
        super().__init__(f"non-broadcastable output operand with shape {target_shape} doesn't "
                         f"match the broadcast shape of {value_shape}")


@register_jitable
def shape_slot(rank):
    """Where `assume_shape` keeps the first shape of a class: the shape, then 0 until one is
    seen."""
    slot = np.empty(rank + 1, np.int64)
    slot[rank] = 0
    return slot


@register_jitable
def assume_shape(slot, shape):
    rank = len(shape)
    if slot[rank] == 0:
        for k in range(rank):
            slot[k] = shape[k]
        slot[rank] = 1
        return
    for k in range(rank):
        if slot[k] != shape[k]:
            raise ShapeAssumptionFailed()


@register_jitable
def identical_or_apart(a, b):
    """Do the arrays `a` and `b` (of one shape) view the same elements in the same order, or
    share no memory? (Fusion's loop over both is then what NumPy computes.)"""
    if a.size == 0 or a.ctypes.data == b.ctypes.data and a.strides == b.strides:
        return True
    a_low, a_high = _address_range(a)
    b_low, b_high = _address_range(b)
    return a_high <= b_low or b_high <= a_low


class IntegerDivisionByZero(ZeroDivisionError):
    def __init__(self, where):
        super().__init__(f"integer division or modulo by zero ({where})")


class AdjointShapeError(ValueError):
    def __init__(self, where, adjoint_shape, x_shape):
        super().__init__(f"{where} has shape {adjoint_shape}, its argument {x_shape}")


class InplaceShapeError(ValueError):
    def __init__(self, where):
        super().__init__(f"non-broadcastable output operand ({where}): an in-place operation "
                         "keeps its array's shape, and this value would broadcast it to another")


class FusionMismatch(AssertionError):
    def __init__(self):
        super().__init__("internal error in srcad: the arrays of a fused loop have different "
                         "shapes (please report it with the function)")


@register_jitable
def fusion_mismatch():
    raise FusionMismatch()


@register_jitable
def assumption_failed():
    raise ShapeAssumptionFailed()


@register_jitable
def index_error(index, size, axis, where):
    raise IndexOutOfBounds(index, size, axis, where)


# (not inline="always": Numba's inlining of every call site doubled the compile time of a
# gradient with many checks, and LLVM inlines the compiled call anyway: the same speed)
@register_jitable
def check_index(index, size, axis, where):
    """Raise IndexError, as NumPy does, unless -size <= index < size."""
    if not -size <= index < size:
        index_error(index, size, axis, where)


@register_jitable
def checked_update(target, value):
    """The array `value`, for `target += value`, after raising NumPy's ValueError unless it
    broadcasts to `target`'s shape (Numba's in-place update reads part of a larger value
    without a word)."""
    if value.ndim > target.ndim:
        raise UpdateShapeMismatch(target.shape, value.shape)
    for k in range(1, value.ndim + 1):
        if value.shape[value.ndim - k] != 1 and \
                value.shape[value.ndim - k] != target.shape[target.ndim - k]:
            raise UpdateShapeMismatch(target.shape, value.shape)
    return value


@register_jitable
def check_indices(indices, size, axis, where):
    """`check_index` for every entry of an integer index array."""
    if indices.size and (np.min(indices) < -size or np.max(indices) >= size):
        bad = np.min(indices) if np.min(indices) < -size else np.max(indices)
        index_error(bad, size, axis, where)


@register_jitable
def check_mask(mask, x, axis, where):
    """Raise IndexError unless boolean index `mask` has the shape of the axes of `x` it
    indexes, from `axis` on."""
    for k in range(mask.ndim):
        if axis + k >= x.ndim or mask.shape[k] != x.shape[axis + k]:
            raise MaskMismatch(axis + k, where)


@register_jitable
def check_divisor(divisor, where):
    """Raise ZeroDivisionError for an integer division by zero (Numba would give 0)."""
    if divisor == 0:
        raise IntegerDivisionByZero(where)


def only_adjoint(adjoints):
    """The adjoint a custom vjp of one argument returns, alone or in a 1-tuple."""
    return adjoints[0] if isinstance(adjoints, tuple) else adjoints


@overload(only_adjoint, inline="always")
def _only_adjoint(adjoints):
    if isinstance(adjoints, types.BaseTuple):
        return lambda adjoints: adjoints[0]
    return lambda adjoints: adjoints


def broadcast_shape(*shapes):
    """np.broadcast_shapes(*shapes): the shape arrays of these shapes broadcast to, or NumPy's
    ValueError. Compiled, its code is written for the shapes' lengths (Numba's own
    np.broadcast_shapes compiles for about a second)."""
    return np.broadcast_shapes(*shapes)


_BROADCAST_MISMATCH = "shape mismatch: objects cannot be broadcast to a single shape"


@overload(broadcast_shape)
def _broadcast_shape(*shapes):
    if len(shapes) == 1 and isinstance(shapes[0], types.StarArgTuple):
        shapes = shapes[0].types
    lengths = [len(shape) for shape in shapes]
    rank = max(lengths)
    lines = ["def shape(*shapes):"]
    for axis in range(rank):
        lines.append(f"    n{axis} = 1")
        for k, length in enumerate(lengths):
            if axis >= rank - length:
                extent = f"shapes[{k}][{axis - rank + length}]"
                lines += [f"    if {extent} != 1:",
                          f"        if n{axis} != 1 and n{axis} != {extent}:",
                          "            raise ValueError(mismatch)",
                          f"        n{axis} = {extent}"]
    lines.append(f"    return ({''.join(f'n{axis}, ' for axis in range(rank))})")
    scope = {"mismatch": _BROADCAST_MISMATCH}
    exec("\n".join(lines), scope)  # noqa: S102 (code of our own, for these lengths)
    return scope["shape"]


def apart(a, other):
    """`a`, or a copy of it where it shares memory with `other`: a gradient or tangent handed
    back must not change another one, nor the caller's tangent or cotangent, when it is
    updated in place (one adjoint array serves both operands of `a + b`)."""
    if isinstance(a, np.ndarray) and isinstance(other, np.ndarray) and \
            np.may_share_memory(a, other):
        return a.copy()
    return a


@overload(apart)
def _apart(a, other):
    if not (_is_array(a) and _is_array(other)):
        return lambda a, other: a

    def impl(a, other):  # (NumPy's may_share_memory: their address ranges meet)
        if a.size and other.size:
            low, high = _address_range(a)
            other_low, other_high = _address_range(other)
            if low < other_high and other_low < high:
                return a.copy()
        return a
    return impl


@register_jitable
def _address_range(a):
    low = high = a.ctypes.data
    for k in range(a.ndim):
        step = (a.shape[k] - 1) * a.strides[k]
        if step < 0:
            low += step
        else:
            high += step
    return low, high + a.itemsize


def text_of(x):
    """`str(x)` in compiled code (loading.jit): Numba's str of a float is '<object
    type:float64>', not its digits, so compiling one is an error, and srcad runs the
    generated Python instead."""
    return str(x)


@overload(text_of)
def _text_of(x):
    if isinstance(x, (types.UnicodeType, types.Integer)):
        return lambda x: str(x)
    raise errors.TypingError(f"srcad: str() of a {x} (Numba writes '<object type:{x}>' for it, "
                             f"not its digits; {PYTHON_TEXT})")


def repr_of(x):
    """`repr(x)` in compiled code (loading.jit): Numba has none of its own (a float's is
    '<object type:float64>'), so srcad runs the generated Python instead."""
    return repr(x)


@overload(repr_of)
def _repr_of(x):
    raise errors.TypingError(f"srcad: repr() of a {x} (Numba writes '<object type:{x}>' for "
                             f"it; {PYTHON_TEXT})")


def print_of(*args):
    """`print(*args)` in compiled code (loading.jit): Numba prints a float32 number as the
    float64 it converts it to (0.10000000149011612), so that runs as the generated Python."""
    print(*args)


@overload(print_of)
def _print_of(*args):
    if any(isinstance(a, types.Float) and a.bitwidth == 32 for a in args):
        raise errors.TypingError("srcad: print() of a float32 number (Numba prints the float64 "
                                 f"it converts it to; {PYTHON_TEXT})")
    return lambda *args: print(*args)


def format_of(x, spec=""):
    """`format(x, spec)` in compiled code (loading.jit): an integer's or a string's text
    without a spec is its str(); anything else runs as the generated Python (Numba has no
    format())."""
    return format(x, spec)


@overload(format_of)
def _format_of(x, spec=""):
    empty = spec == "" or isinstance(spec, types.Omitted) and spec.value == "" or \
        isinstance(spec, types.StringLiteral) and spec.literal_value == ""
    if empty and isinstance(x, (types.UnicodeType, types.Integer)):
        return lambda x, spec="": str(x)
    raise errors.TypingError(f"srcad: format() of a {x} (Numba has no format(); {PYTHON_TEXT})")


def check_adjoint(adjoint, x, where):
    """Raise ValueError unless a custom vjp's `adjoint` has the shape of its argument `x`."""
    if np.shape(adjoint) != np.shape(x):
        raise AdjointShapeError(where, np.shape(adjoint), np.shape(x))


@overload(check_adjoint, inline="always")
def _check_adjoint(adjoint, x, where):
    if isinstance(adjoint, types.Number) and not _is_array(x):
        return lambda adjoint, x, where: None
    if not (_is_array(adjoint) and _is_array(x) and adjoint.ndim == x.ndim):
        def mismatch(adjoint, x, where):
            raise AdjointShapeError(where, np.shape(adjoint), np.shape(x))
        return mismatch

    def same_shape(adjoint, x, where):
        if adjoint.shape != x.shape:
            raise AdjointShapeError(where, adjoint.shape, x.shape)
    return same_shape


def checked_tangent(tangent, ans, where):
    """A custom jvp's `tangent` after raising ValueError unless it has the shape of the result
    `ans` (a number for a number)."""
    if np.shape(tangent) != np.shape(ans) or isinstance(tangent, (tuple, list)):
        raise AdjointShapeError(where, np.shape(tangent), np.shape(ans))
    return tangent


@overload(checked_tangent, inline="always")
def _checked_tangent(tangent, ans, where):
    if isinstance(tangent, types.Number) and isinstance(ans, types.Number):
        return lambda tangent, ans, where: tangent
    if not (_is_array(tangent) and _is_array(ans) and tangent.ndim == ans.ndim):
        def mismatch(tangent, ans, where):
            if len(where) >= 0:  # (always: typed as returning what the code after it reads)
                raise AdjointShapeError(where, np.shape(tangent), np.shape(ans))
            return ans
        return mismatch

    def same_shape(tangent, ans, where):
        if tangent.shape != ans.shape:
            raise AdjointShapeError(where, tangent.shape, ans.shape)
        return tangent
    return same_shape


def check_inplace(value, target, where):
    """Raise ValueError, as NumPy does, unless `value` broadcasts to the shape of `target` (the
    array `target op= value` updates in place)."""
    if np.broadcast_shapes(np.shape(value), np.shape(target)) != np.shape(target):
        raise InplaceShapeError(where)


@overload(check_inplace)
def _check_inplace(value, target, where):
    if not _is_array(value):
        return lambda value, target, where: None
    if not _is_array(target) or value.ndim > target.ndim:
        def never(value, target, where):
            raise InplaceShapeError(where)
        return never

    def broadcasts(value, target, where):
        for k in range(1, value.ndim + 1):
            n = value.shape[value.ndim - k]
            if n != 1 and n != target.shape[target.ndim - k]:
                raise InplaceShapeError(where)
    return broadcasts


# ---- the logistic sigmoid -------------------------------------------------------------------
# normalize writes `1 / (1 + exp(-x))` as these: the same arithmetic, but the derivative
# s (1 - s) needs only the result, where the expression's three steps would each be kept (as in
# JAX and PyTorch, s (1 - s) is exact to an absolute 1e-17, not relatively, where s rounds to 1)

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_math(x):
    return 1.0 / (1.0 + math.exp(-x))


def _one(x):
    """1 in the precision of `x`'s type (float32 arrays and scalars stay float32)."""
    dtype = x.dtype if _is_array(x) else x
    return np.float32(1.0) if dtype == types.float32 else 1.0


@overload(sigmoid)
def _sigmoid(x):
    one = _one(x)
    return lambda x: one / (one + np.exp(-x))


@overload(sigmoid_math)
def _sigmoid_math(x):
    one = _one(x)
    return lambda x: one / (one + math.exp(-x))


# ---- masks -------------------------------------------------------------------------------

def masked(value, mask):
    """value where mask holds and 0 elsewhere, also where value is inf or nan (value * mask is
    nan there): the derivative of np.maximum(x, 0.0) at x < 0 is 0 whatever follows (sqrt at
    0), as in JAX and torch."""
    if np.ndim(value) == 0 and np.ndim(mask) == 0:
        return value if mask else 0.0
    return np.where(mask, value, np.zeros((), np.result_type(value, np.float32)))


@overload(masked)
def _masked(value, mask):
    if not _is_array(value) and not _is_array(mask):
        return lambda value, mask: value if mask else 0.0
    zero = as_dtype(value.dtype if _is_array(value) else value).type(0)
    return lambda value, mask: np.where(mask, value, zero)


# ---- powers -------------------------------------------------------------------------------

def pow_dx(x, y, k=1):
    """The k-th derivative of x ** y in x, y (y - 1) ... (y - k + 1) x ** (y - k): 0 where that
    product is (an integer 0 <= y < k: x ** y is a polynomial of lower degree), also at
    x == 0, where x ** (y - k) is infinite (so that no derivative of x ** 0 is 0 * inf)."""
    factor = falling(y, k)
    with np.errstate(divide="ignore", invalid="ignore"):  # (the branch np.where drops)
        return np.where(factor == 0, 0.0, factor * np.power(x, np.subtract(y, k)))


@register_jitable
def falling(y, k, m=0):
    """The m-th derivative in y of y (y - 1) ... (y - k + 1), the falling factorial (k >= 1):
    the product itself for m = 0 (pow_dx's, at every element: nothing allocated), else its
    polynomial's coefficients, differentiated m times, at y."""
    if m == 0:
        out = y * 0.0 + 1.0
        for j in range(k):
            out = out * (y - j)
        return out
    coefficients = np.zeros(k + 1)  # (lowest degree first)
    coefficients[0] = 1.0
    for j in range(k):  # (times y - j)
        for degree in range(j + 1, 0, -1):
            coefficients[degree] = coefficients[degree - 1] - j * coefficients[degree]
        coefficients[0] = -j * coefficients[0]
    out = y * 0.0
    for degree in range(k, m - 1, -1):
        coefficient = coefficients[degree]
        for t in range(m):
            coefficient *= degree - t
        out = out * y + coefficient
    return out


def log_or_zero(x):
    """log(x), with 0 where x == 0: d(x ** y)/dy = x ** y * log(x) is 0 there for y > 0."""
    return np.log(np.where(x == 0, 1.0, x))


def int_power(a, b):
    """a ** b of integers: Python's (a float for a negative b) or NumPy's (ValueError)."""
    return a ** b


@overload(int_power)
def _int_power(a, b):
    # (Numba's integer power gives 0 for 2 ** -2: Python gives 0.25 and NumPy raises; the
    # generated code types the result an integer, so a negative exponent is an error here)
    message = "an integer to a negative integer power in compiled code (Python gives a " \
              "float: write float(a) ** b; NumPy raises for its integers)"
    if _is_array(b):
        def power_of_array(a, b):
            if np.any(b < 0):
                raise ValueError(message)
            return a ** b
        return power_of_array

    def power(a, b):
        if b < 0:
            raise ValueError(message)
        return a ** b
    return power


def inverse_or_zero(x):
    """1 / x, with 0 where x == 0: the derivative of log_or_zero (constant where it is
    patched), so that x ** y's second derivatives at x == 0 are not 0 * inf."""
    return np.where(x == 0, 0.0, 1.0 / np.where(x == 0, 1.0, x))


@overload(pow_dx)
def _pow_dx(x, y, k=1):
    if not _is_array(x) and not _is_array(y):
        def scalar(x, y, k=1):
            factor = falling(y, k)
            # (a float exponent: inf at 0, as NumPy, where an integer one divides by zero)
            return 0.0 if factor == 0 else factor * x ** (y - 1.0 * k)
        return scalar

    def array(x, y, k=1):
        factor = falling(y, k)
        return np.where(factor == 0, 0.0, factor * np.power(x, y - k))
    return array


@overload(log_or_zero)
def _log_or_zero(x):
    if not _is_array(x):
        return lambda x: 0.0 if x == 0 else np.log(x)
    return lambda x: np.log(np.where(x == 0, 1.0, x))


@overload(inverse_or_zero)
def _inverse_or_zero(x):
    if not _is_array(x):
        return lambda x: 0.0 if x == 0 else 1.0 / x
    return lambda x: np.where(x == 0, 0.0, 1.0 / np.where(x == 0, 1.0, x))


def xdivy(x, y):
    """x / y, and 0 where x is 0 (the partial of x log y in y, which is 0 wherever x is)."""
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        return 0.0 if x == 0 else x / y
    return np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y))


@overload(xdivy)
def _xdivy(x, y):
    if _is_array(x) or _is_array(y):
        return lambda x, y: np.where(x == 0, 0.0, x / np.where(x == 0, 1.0, y))
    return lambda x, y: 0.0 if x == 0 else x / y


# ---- derivatives of np.sinc -----------------------------------------------------------------

@register_jitable
def _sinc_dx_at(x, k):
    """The k-th derivative of sinc(x) = sin(pi x) / (pi x) (k >= 1): near 0 from its Taylor
    series (the quotient below is 0 / 0 at 0 and loses digits near it), elsewhere from
    x s^(k) + k s^(k-1) = pi^(k-1) sin(pi x + k pi / 2), Leibniz's rule on x s = sin(pi x) / pi."""
    if abs(x) < 1.0:
        total, j = 0.0, (k + 1) // 2  # sum over j of (-1)^j (pi x)^(2j) / (2j + 1)!, k times
        while j < (k + 1) // 2 + 20:
            term = (-1.0) ** j * np.pi ** (2 * j) / math.gamma(2 * j + 2)
            for t in range(k):
                term *= 2 * j - t
            total += term * x ** (2 * j - k)
            j += 1
        return total
    s = np.sinc(x)
    for m in range(1, k + 1):
        s = (np.pi ** (m - 1) * np.sin(np.pi * x + m * np.pi / 2) - m * s) / x
    return s


def sinc_dx(x, k=1):
    """The k-th derivative of np.sinc at x (elementwise), exact at and near 0."""
    if np.ndim(x) == 0:
        return _sinc_dx_at(x, k)
    return np.vectorize(_sinc_dx_at, otypes=[np.result_type(x, np.float32)])(x, k)


@overload(sinc_dx)
def _sinc_dx(x, k=1):
    if not _is_array(x):
        return lambda x, k=1: _sinc_dx_at(x, k)

    def elementwise(x, k=1):
        out = np.empty(x.shape, x.dtype)
        flat = out.reshape(-1)  # (contiguous: a view)
        for i, v in enumerate(x.flat):
            flat[i] = _sinc_dx_at(v, k)
        return out
    return elementwise


# ---- the results of slogdet and eigh, one primitive each (normalize splits the call) -------

@register_jitable
def det_sign(a):
    """np.linalg.slogdet(a)[0]."""
    return np.linalg.slogdet(a)[0]


@register_jitable
def logabsdet(a):
    """np.linalg.slogdet(a)[1]."""
    return np.linalg.slogdet(a)[1]


@register_jitable
def eigenvalues(a):
    """np.linalg.eigh(a)[0]."""
    return np.linalg.eigvalsh(a)


@register_jitable
def eigenvectors(a):
    """np.linalg.eigh(a)[1]."""
    return np.linalg.eigh(a)[1]


@register_jitable
def qr_q(a):
    """np.linalg.qr(a)[0]."""
    return np.linalg.qr(np.ascontiguousarray(a))[0]


@register_jitable
def qr_r(a):
    """np.linalg.qr(a)[1]."""
    return np.linalg.qr(np.ascontiguousarray(a))[1]


@register_jitable
def singular_values(a, full_matrices=True):
    """np.linalg.svd(a, full_matrices)[1] (the same for either), and
    np.linalg.svd(a, compute_uv=False)."""
    return np.linalg.svd(np.ascontiguousarray(a), False)[1]


@register_jitable
def left_singular_vectors(a, full_matrices=True):
    """np.linalg.svd(a, full_matrices)[0]."""
    return np.linalg.svd(np.ascontiguousarray(a), full_matrices)[0]


@register_jitable
def right_singular_vectors(a, full_matrices=True):
    """np.linalg.svd(a, full_matrices)[2]."""
    return np.linalg.svd(np.ascontiguousarray(a), full_matrices)[2]


# ---- linspace -----------------------------------------------------------------------------

@register_jitable
def linspace(start, stop, num, endpoint):
    """np.linspace(start, stop, num, endpoint) (Numba's has no `endpoint`)."""
    steps = num - 1 if endpoint else num
    step = (stop - start) / steps if steps > 0 else 0.0
    out = np.empty(num)
    for k in range(num):
        out[k] = start + k * step
    if endpoint and num > 1:
        out[num - 1] = stop
    return out


@register_jitable
def linspace_weighted(g, endpoint):
    """sum(g[k] * t[k]) for np.linspace's points start + (stop - start) * t[k]."""
    n = g.shape[0]
    steps = n - 1 if endpoint else n
    total = 0.0
    for k in range(n):
        total += g[k] * (k / steps if steps > 0 else 0.0)
    return total


def matmul_adjoint_a(g, a, b):
    """The adjoint of `a` in `a @ b` (each operand a vector or a matrix; or in `np.dot(a, b)`,
    a number: the product a * b)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.sum(g * b) if np.ndim(a) == 0 else g * b
    if np.ndim(b) == 1:
        return g * b if np.ndim(a) == 1 else np.outer(g, b)
    return np.dot(b, g) if np.ndim(a) == 1 else np.dot(g, b.T)


def matmul_adjoint_b(g, a, b):
    """The adjoint of `b` in `a @ b`."""
    return matmul_adjoint_a(g, b, a) if np.ndim(a) == 0 or np.ndim(b) == 0 else \
        np.dot(a.T, g) if np.ndim(a) > 1 else g * a if np.ndim(b) == 1 else np.outer(a, g)


@overload(matmul_adjoint_a)
def _matmul_adjoint_a(g, a, b):
    if not _is_array(a):
        return lambda g, a, b: np.sum(g * b)
    if not _is_array(b):
        return lambda g, a, b: g * b
    if b.ndim == 1:
        if a.ndim == 1:
            return lambda g, a, b: g * b
        return lambda g, a, b: np.outer(g, b)
    if a.ndim == 1:
        return lambda g, a, b: np.dot(np.ascontiguousarray(b), np.ascontiguousarray(g))
    return lambda g, a, b: np.dot(np.ascontiguousarray(g), np.ascontiguousarray(b).T)


@overload(matmul_adjoint_b)
def _matmul_adjoint_b(g, a, b):
    if not _is_array(a) or not _is_array(b):
        return lambda g, a, b: matmul_adjoint_a(g, b, a)
    if a.ndim == 1:
        if b.ndim == 1:
            return lambda g, a, b: g * a
        return lambda g, a, b: np.outer(a, g)
    return lambda g, a, b: np.dot(np.ascontiguousarray(a).T, np.ascontiguousarray(g))


# ---- shapes and indexing ------------------------------------------------------------------

def reshape(a, newshape):
    """np.reshape, which copies an array it cannot view in the new shape (Numba's reshape
    takes C-contiguous arrays only: a transposed or Fortran-ordered argument is copied)."""
    return np.reshape(a, newshape)


@overload(reshape)
def _reshape(a, newshape):
    if not _is_array(a):
        return lambda a, newshape: np.reshape(a, newshape)
    return lambda a, newshape: np.ascontiguousarray(a).reshape(newshape)


def as_array(x):
    """A number as a 0-d array (`s[None]` of a number: Numba indexes arrays only)."""
    return np.asarray(x)


@overload(as_array)
def _as_array(x):
    return lambda x: np.asarray(x)


def at_least_1d(x):
    """np.atleast_1d(x), of a number too (Numba's takes arrays only)."""
    return np.atleast_1d(x)


@overload(at_least_1d)
def _at_least_1d(x):
    if isinstance(x, types.Array):
        return lambda x: np.atleast_1d(x)
    return lambda x: np.full(1, x)


def product(a, b):
    """np.dot with a number for an operand (Numba's takes arrays only)."""
    return a * b


@overload(product)
def _product(a, b):
    return lambda a, b: a * b


def fmod(a, b):
    """math.fmod, which Numba does not have, and np.fmod in compiled code: NumPy's (nan where
    math's raises: compiled code cannot raise it)."""
    return np.fmod(a, b)


@overload(fmod)
def _fmod(a, b):
    def integers(t):
        return isinstance(getattr(t, "dtype", t), types.Integer)
    if not (integers(a) and integers(b)):
        return lambda a, b: np.fmod(a, b)

    def truncated(a, b):  # (Numba's np.fmod of integers gave fmod(-7, 3) = 0, not -1)
        r = np.remainder(a, b)  # (the sign of b; fmod's has the sign of a)
        return r - ((r != 0) & ((r < 0) != (a < 0))) * b
    return truncated


def float64_array(x):
    """np.float64(x) of an array: x itself if it is float64, as in NumPy."""
    return np.asarray(x, dtype=np.float64)


@overload(float64_array)
def _float64_array(x):
    return lambda x: np.asarray(x, dtype=np.float64)


def absolute(x):
    """Builtin `abs(x)` of an array (Numba types abs of numbers only)."""
    return np.abs(x)


@overload(absolute)
def _absolute(x):
    return lambda x: np.abs(x)


def item(x):
    """`x.item()` of an array: its one element as a Python number (an error for any other
    size, as NumPy's); a number (`np.sum(x).item()`) as it is."""
    return x.item() if isinstance(x, (np.ndarray, np.generic)) else x


@overload(item)
def _item(x):
    if isinstance(x, types.Float):  # (a Python float: a float32's value in float64)
        return lambda x: np.float64(x)
    if isinstance(x, types.Number):
        return lambda x: x
    widen = isinstance(x.dtype, types.Float)

    def impl(x):
        if x.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return np.float64(x.ravel()[0]) if widen else x.ravel()[0]
    return impl


def reshape_like(g, x):
    """`g` in the shape of `x` (the adjoint of a reshape or ravel)."""
    if np.ndim(x) == 0:
        return np.float64(np.sum(g))
    return np.reshape(np.array(g), x.shape)


@overload(reshape_like)
def _reshape_like(g, x):
    if not _is_array(x):
        return lambda g, x: np.sum(g)
    # (Numba reshapes only C-contiguous arrays, and its copy of a transposed one is not)
    return lambda g, x: np.ascontiguousarray(g).copy().reshape(x.shape)


def add_at(bx, index, g):
    """`bx[index] += g` for an integer index array, accumulating repeated indices."""
    np.add.at(bx, index, g)


@overload(add_at)
def _add_at(bx, index, g):
    if _is_array(g):
        def from_array(bx, index, g):
            for k in range(index.shape[0]):
                bx[index[k]] += g[k]
        return from_array

    def from_scalar(bx, index, g):
        for k in range(index.shape[0]):
            bx[index[k]] += g
    return from_scalar


def take_pairs(x, rows, cols):
    """`x[rows, cols]` for a matrix and two 1-D integer arrays (Numba indexes with one)."""
    return x[rows, cols]


@overload(take_pairs)
def _take_pairs(x, rows, cols):
    def pairs(x, rows, cols):
        if rows.shape[0] != cols.shape[0]:
            raise IndexError("shape mismatch: indexing arrays could not be broadcast together")
        out = np.empty(rows.shape[0], x.dtype)
        for k in range(rows.shape[0]):
            out[k] = x[rows[k], cols[k]]
        return out
    return pairs


def add_at_pairs(bx, rows, cols, g):
    """`bx[rows, cols] += g`, accumulating repeated pairs: the adjoint of `x[rows, cols]`."""
    np.add.at(bx, (rows, cols), g)


@overload(add_at_pairs)
def _add_at_pairs(bx, rows, cols, g):
    if _is_array(g):
        def from_array(bx, rows, cols, g):
            for k in range(rows.shape[0]):
                bx[rows[k], cols[k]] += g[k]
        return from_array

    def from_scalar(bx, rows, cols, g):
        for k in range(rows.shape[0]):
            bx[rows[k], cols[k]] += g
    return from_scalar


def add_at_columns(bx, idx, g):
    """`bx[:, idx] += g`, accumulating repeated columns: the adjoint of `x[:, idx]`."""
    np.add.at(bx, (slice(None), idx), g)


@overload(add_at_columns)
def _add_at_columns(bx, idx, g):
    if _is_array(g):
        def from_array(bx, idx, g):
            for i in range(bx.shape[0]):
                for k in range(idx.shape[0]):
                    bx[i, idx[k]] += g[i, k]
        return from_array

    def from_scalar(bx, idx, g):
        for i in range(bx.shape[0]):
            for k in range(idx.shape[0]):
                bx[i, idx[k]] += g
    return from_scalar


def float_exponent(k):
    """An integer exponent of a float as a float: Numba's integer power raises ZeroDivisionError
    for 0.0 ** -1, where NumPy gives inf."""
    return k.astype(np.float64) if isinstance(k, np.ndarray) else np.float64(k)


def float32_exponent(k):
    """float_exponent's, of a float32 base."""
    return k.astype(np.float32) if isinstance(k, np.ndarray) else np.float32(k)


@overload(float_exponent)
def _float_exponent(k):
    return (lambda k: k.astype(np.float64)) if isinstance(k, types.Array) else \
        (lambda k: np.float64(k))


@overload(float32_exponent)
def _float32_exponent(k):
    return (lambda k: k.astype(np.float32)) if isinstance(k, types.Array) else \
        (lambda k: np.float32(k))


# ---- loop saves ---------------------------------------------------------------------------

@register_jitable
def grow(buffer, needed):
    """`buffer` with room for at least `needed` entries (doubling, so pushes cost O(1))."""
    while needed > buffer.shape[0]:  # (written with concatenate: it compiles 10x faster)
        buffer = np.concatenate((buffer, buffer))
    return buffer


# An array a loop saves per trip goes into row `k` (the trip's slot) of a 2-D buffer, its
# elements flattened, and its shape into row `k` of an integer buffer: no array object per
# save (a list of arrays costs an allocation and reference counting per save, and compiles
# slowly). Rows are as wide as the largest array saved, so the arrays may differ per trip.

def save_array(buffer, shapes, k, value):
    """Save `value` in row `k`; the buffer, widened when `value` does not fit in a row (and
    converted when it cannot hold `value`'s type exactly)."""
    if not np.can_cast(value.dtype, buffer.dtype):
        buffer = buffer.astype(np.result_type(buffer, value))
    buffer = _room_for(buffer, value.size)
    save_row(buffer, shapes, k, value)
    return buffer


def saved_in_row(buffer, shapes, k, value):
    """Save `value` in row `k` if a row of `buffer` holds it as it is; whether it did. (In a
    hot loop, `buffer = save_array(...)` costs reference counting for every rebinding, which a
    call returning a bool does not.)"""
    if value.size > buffer.shape[1] or not np.can_cast(value.dtype, buffer.dtype):
        return False
    save_row(buffer, shapes, k, value)
    return True


def save_row(buffer, shapes, k, value):
    """Save `value` in row `k` of `buffer`, which holds it."""
    shapes[k] = value.shape
    buffer[k, :value.size] = value.ravel()


@overload(save_array)
def _save_array(buffer, shapes, k, value):
    if not np.can_cast(as_dtype(value.dtype), as_dtype(buffer.dtype)):
        raise errors.TypingError(f"cannot save {value.dtype} arrays in {buffer.dtype} rows")

    def save(buffer, shapes, k, value):
        buffer = _room_for(buffer, value.size)
        save_row(buffer, shapes, k, value)
        return buffer
    return save


@overload(saved_in_row)
def _saved_in_row(buffer, shapes, k, value):
    def save(buffer, shapes, k, value):  # (types: save_array's check, beside it)
        if value.size > buffer.shape[1]:
            return False
        save_row(buffer, shapes, k, value)
        return True
    return save


@overload(save_row)
def _save_row(buffer, shapes, k, value):
    if value.ndim == 1:
        def copy(buffer, k, value):
            for j in range(value.shape[0]):
                buffer[k, j] = value[j]
    elif value.layout == "C":
        def copy(buffer, k, value):
            flat = value.reshape(value.size)
            for j in range(value.size):
                buffer[k, j] = flat[j]
    else:  # (in C order, as saved_array reads it back: np.nditer walks an F array in F order)
        def copy(buffer, k, value):
            for j, index in enumerate(np.ndindex(value.shape)):
                buffer[k, j] = value[index]
    copy = register_jitable(copy)

    def save(buffer, shapes, k, value):
        for d in range(value.ndim):
            shapes[k, d] = value.shape[d]
        copy(buffer, k, value)
    return save


@register_jitable
def _room_for(buffer, size):
    """`buffer`, or a copy with rows of at least `size` elements."""
    if size <= buffer.shape[1]:
        return buffer
    wider = np.empty((buffer.shape[0], max(size, 2 * buffer.shape[1])), buffer.dtype)
    wider[:, :buffer.shape[1]] = buffer
    return wider


def saved_array(buffer, shapes, k, ndim):
    """The array of `ndim` axes saved in row `k` (a view of the buffer)."""
    shape = tuple(int(n) for n in shapes[k])
    return buffer[k, :math.prod(shape)].reshape(shape)


@overload(saved_array)
def _saved_array(buffer, shapes, k, ndim):
    length = _literal(ndim)
    if length == 1:  # (a row's first elements: reshaping them costs a tenth of an LSTM step)
        return lambda buffer, shapes, k, ndim: buffer[k, :shapes[k, 0]]

    def view(buffer, shapes, k, ndim):
        shape = to_fixed_tuple(shapes[k], length)
        size = 1
        for n in shape:
            size *= n
        return buffer[k, :size].reshape(shape)
    return view


@register_jitable
def save_shape(shapes, k, shape):
    """Save `shape` (an array's, when the reverse sweep needs no more of it) in row `k`."""
    for d in range(len(shape)):
        shapes[k, d] = shape[d]


def saved_shape(shapes, k, ndim):
    return tuple(int(n) for n in shapes[k])


@overload(saved_shape)
def _saved_shape(shapes, k, ndim):
    length = _literal(ndim)
    return lambda shapes, k, ndim: to_fixed_tuple(shapes[k], length)


def _literal(ndim):
    if not isinstance(ndim, types.IntegerLiteral):
        raise errors.RequireLiteralValue(ndim)
    return ndim.literal_value


# ---- tuples of arrays ----------------------------------------------------------------------

@register_jitable
def concatenate_piece(g, arrays, k, axis):
    """The adjoint of `arrays[k]` in `np.concatenate(arrays, axis)`."""
    start, stop, j = 0, 0, 0
    for a in literal_unroll(arrays):  # (the arrays' layouts may differ: a tuple of types)
        if j < k:
            start += a.shape[axis]
        elif j == k:
            stop = start + a.shape[axis]
        j += 1
    part = np.moveaxis(g, axis, 0)[start:stop]
    return np.moveaxis(part, 0, axis).copy()


@register_jitable
def hstack_axis(arrays):
    """The axis np.hstack joins `arrays` along."""
    return 0 if arrays[0].ndim == 1 else 1


def vstack_piece(g, arrays, k):
    """The adjoint of `arrays[k]` in `np.vstack(arrays)` (a 1-D array is one row)."""
    start = sum(1 if a.ndim == 1 else a.shape[0] for a in arrays[:k])
    if arrays[k].ndim == 1:
        return g[start].copy()
    return g[start:start + arrays[k].shape[0]].copy()


def _vstacked_rows(g, start, piece):
    """The rows of `g` from `start` that `piece` of np.vstack became (a 1-D piece: one row)."""
    return g[start].copy() if piece.ndim == 1 else g[start:start + piece.shape[0]].copy()


@overload(_vstacked_rows)
def _vstacked_rows_impl(g, start, piece):
    if piece.ndim == 1:
        return lambda g, start, piece: g[start].copy()
    return lambda g, start, piece: g[start:start + piece.shape[0]].copy()


@overload(vstack_piece)
def _vstack_piece(g, arrays, k):
    if not isinstance(arrays, types.UniTuple):  # (1-D and 2-D pieces: k is a constant)
        if not isinstance(k, types.IntegerLiteral):
            return None

        def mixed(g, arrays, k):
            start = 0
            j = 0
            for piece in literal_unroll(arrays):
                if j < k:
                    start += 1 if piece.ndim == 1 else piece.shape[0]
                j += 1
            return _vstacked_rows(g, start, arrays[k])
        return mixed
    if arrays.dtype.ndim == 1:
        return lambda g, arrays, k: g[k].copy()

    def rows(g, arrays, k):
        start = 0
        for j in range(k):
            start += arrays[j].shape[0]
        return g[start:start + arrays[k].shape[0]].copy()
    return rows


# ---- blocks of tangents (transforms/batching.py) ------------------------------------------

def block_of(k, value):
    """`k` copies of `value` (a number or an array) stacked along a new leading axis."""
    return np.stack([np.asarray(value)] * k) if np.ndim(value) else np.full(k, float(value))


@overload(block_of)
def _block_of(k, value):
    if _is_array(value):
        def stacked(k, value):
            out = np.empty((k,) + value.shape, value.dtype)
            for i in range(k):
                out[i] = value
            return out
        return stacked
    return lambda k, value: np.full(k, np.float64(value))


def block_from(k, first):
    """An array of `k` rows shaped as the array `first`, whose row 0 is `first` (the others
    are filled by the caller)."""
    out = np.empty((k,) + np.shape(first), np.asarray(first).dtype)
    out[0] = first
    return out


@overload(block_from)
def _block_from(k, first):
    if _is_array(first):
        def block(k, first):
            out = np.empty((k,) + first.shape, first.dtype)
            out[0] = first
            return out
        return block
    return None


# ---- parallel loops (parallel=True) ---------------------------------------------------------
# A loop whose trips are independent runs as one chunk of trips per thread: the generated code
# passes its chunk function to `run_chunks`. Numba does not propagate an exception raised in a
# parallel region (the loop would return as if nothing happened), so each chunk runs under
# `_caught`, and a chunk that did not finish runs again serially, to raise its exception.

from numba import get_num_threads, njit, prange  # noqa: E402


@register_jitable
def chunk_count(trips):
    """How many chunks a loop of `trips` trips runs in: one per thread, at most one per trip."""
    return max(min(get_num_threads(), trips), 0)


@register_jitable
def chunk_start(c, chunks, start, stop):
    """The first trip of chunk `c` of `chunks` over `range(start, stop)` (`c == chunks`: stop)."""
    return start + (max(stop - start, 0) * c) // chunks


ELEMENTWISE_CHUNK_ELEMENTS = 1 << 13  # (below, a parallel region costs more than it saves)


@register_jitable
def elementwise_chunk_count(trips, elements):
    """How many chunks an elementwise loop nest of `trips` outer trips over `elements` elements
    runs in: one per thread, or one (serially) when it is small."""
    return 1 if elements < ELEMENTWISE_CHUNK_ELEMENTS else chunk_count(trips)


def run_chunks(chunk, rest):
    """Run `chunk(c, *rest)` for every chunk c < rest[0] (the number of chunks), on Numba's
    threads when compiled."""
    for c in range(rest[0]):
        chunk(c, *rest)


@overload(run_chunks)
def _run_chunks(chunk, rest):
    return lambda chunk, rest: _run_chunks_parallel(chunk, rest)


@njit(parallel=True)
def _run_chunks_parallel(chunk, rest):
    chunks = rest[0]
    finished = np.zeros(chunks, np.bool_)
    if chunks > 1:  # (one chunk: no parallel region)
        for c in prange(chunks):
            finished[c] = _caught(chunk, c, rest)
    for c in range(chunks):
        if not finished[c]:  # (it raised, or did not run: it raises again here, or runs)
            args = (c,) + rest
            chunk(*args)


@register_jitable
def _caught(chunk, c, rest):
    """Run `chunk(c, *rest)`; False when it raised."""
    try:
        args = (np.int64(c),) + rest  # (a prange index may be unsigned: int64 * uint64 is float)
        chunk(*args)
        return True
    except Exception:  # noqa: BLE001 (raised again by _run_chunks_parallel)
        return False


# With parallel=True, a matrix-vector product at the top of the gradient (a logistic loss's
# `X @ w` and its adjoint `g @ X`) runs one block of rows per thread; smaller ones, and any other
# kind of product, run as they are. The blocks are loops of their own, not BLAS's product of a
# block: OpenBLAS called from two threads at once ran 2-3x slower than from one (10k x 100).
# Their sums may be reassociated (vectorised), as BLAS's are.
PARALLEL_PRODUCT_SIZE = 1 << 17  # (elements of the matrix; below, a parallel region costs more)
_REASSOCIATED = {"reassoc", "contract"}


def parallel_matmul(a, b):
    """a @ b."""
    return a @ b


def parallel_dot(a, b):
    """np.dot(a, b)."""
    return np.dot(a, b)


def parallel_matmul_adjoint_b(g, a, b):
    """matmul_adjoint_b(g, a, b): a.T @ g for a matrix a."""
    return matmul_adjoint_b(g, a, b)


def _is_float_rows(a, v):
    """A C-contiguous float64 matrix and a float64 vector, taken by blocks of rows."""
    return isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C" and \
        a.dtype == types.float64 and isinstance(v, types.Array) and v.ndim == 1 and \
        v.dtype == types.float64


@overload(parallel_matmul)
def _parallel_matmul(a, b):
    if _is_float_rows(a, b):
        return lambda a, b: _rows_times_vector(a, b, np.dot)
    return lambda a, b: a @ b


@overload(parallel_dot)
def _parallel_dot(a, b):
    if _is_float_rows(a, b):
        return lambda a, b: _rows_times_vector(a, b, np.dot)
    return lambda a, b: np.dot(a, b)


@overload(parallel_matmul_adjoint_b)
def _parallel_matmul_adjoint_b(g, a, b):
    if _is_float_rows(a, g):
        return lambda g, a, b: _vector_times_rows(g, a)
    return lambda g, a, b: matmul_adjoint_b(g, a, b)


@register_jitable
def _row_blocks(a):
    """How many blocks of rows a product with `a` runs in (1: serially)."""
    if a.size < PARALLEL_PRODUCT_SIZE:
        return 1
    return max(min(get_num_threads(), a.shape[0]), 1)


@register_jitable
def _rows_times_vector(a, v, serial):
    blocks = _row_blocks(a)
    if blocks == 1 or a.shape[1] != v.shape[0]:  # (a mismatch raises NumPy's error there)
        return serial(a, v)
    return _rows_times_vector_parallel(a, v, blocks)


@njit(parallel=True, fastmath=_REASSOCIATED)
def _rows_times_vector_parallel(a, v, blocks):
    n, m = a.shape
    out = np.empty(n)
    for c in prange(blocks):
        for i in range(chunk_start(c, blocks, 0, n), chunk_start(c + 1, blocks, 0, n)):
            total = 0.0
            for j in range(m):
                total += a[i, j] * v[j]
            out[i] = total
    return out


@register_jitable
def _vector_times_rows(g, a):
    blocks = _row_blocks(a)
    if blocks == 1 or a.shape[0] != g.shape[0]:
        return np.dot(a.T, g)
    return _vector_times_rows_parallel(g, a, blocks)


@njit(parallel=True, fastmath=_REASSOCIATED)
def _vector_times_rows_parallel(g, a, blocks):
    n, m = a.shape
    partial = np.zeros((blocks, m))
    for c in prange(blocks):
        row = partial[c]
        for i in range(chunk_start(c, blocks, 0, n), chunk_start(c + 1, blocks, 0, n)):
            for j in range(m):
                row[j] += g[i] * a[i, j]
    return partial.sum(axis=0)


# ---- a loop's temporaries (compiler/buffers.py) -------------------------------------------

def buffer(previous, shape):
    """np.empty(shape) for a loop's trip: `previous`, the array of the trip before, where it
    has that shape (no allocation, no fresh pages)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return previous if previous.shape == shape else np.empty(shape, previous.dtype)


@overload(buffer)
def _buffer(previous, shape):
    if isinstance(shape, types.Integer):
        return lambda previous, shape: previous if previous.shape == (shape,) else \
            np.empty(shape, previous.dtype)
    return lambda previous, shape: previous if previous.shape == shape else \
        np.empty(shape, previous.dtype)


# ---- lists (compiler/lists.py lowers a list to an array of its items and a count) ---------

class ListIndexError(IndexError):
    def __init__(self, index, length, where):
        super().__init__(f"list index {index} out of range for a list of {length} items "
                         f"({where})")


def list_empty():
    """An empty list's array, in Python (compiler/lists.py gives it its items' type once
    types are known)."""
    return np.zeros(0)


def list_full(items, length, item, where):
    """Whether `items` has no room for one more `item` after its `length` items (checking
    `item` has the other items' shape: ListItemShapeError)."""
    if length and np.shape(item) != items.shape[1:]:
        raise ListItemShapeError(np.shape(item), items.shape[1:], where)
    return length == items.shape[0]


@overload(list_full)
def _list_full(items, length, item, where):
    if not _is_array(item) and items.ndim > 1:
        def scalar_among_arrays(items, length, item, where):
            if length:
                raise ListItemShapeError((), items.shape[1:], where)
            return length == items.shape[0]
        return scalar_among_arrays

    if not _is_array(item):
        return lambda items, length, item, where: length == items.shape[0]

    def full(items, length, item, where):
        if length and item.shape != items.shape[1:]:
            raise ListItemShapeError(item.shape, items.shape[1:], where)
        return length == items.shape[0]
    return full


def list_grown(items, length, item):
    """The `length` items of full `items` in an array with room for as many again (for 8 of
    `item`'s shape when empty)."""
    shape = items.shape[1:] if length else np.shape(item)
    grown = np.zeros((max(2 * length, 8), *shape), items.dtype)
    if length:  # (an empty list's array has no items' shape: (0, 0) for a list of rows)
        grown[:length] = items[:length]
    return grown


@overload(list_grown)
def _list_grown(items, length, item):
    if not _is_array(item):
        def grown_numbers(items, length, item):
            grown = np.zeros(max(2 * length, 8), items.dtype)
            grown[:length] = items[:length]
            return grown
        return grown_numbers

    def grown_arrays(items, length, item):
        shape = items.shape[1:] if length else item.shape
        grown = np.zeros((max(2 * length, 8),) + shape, items.dtype)
        if length:
            grown[:length] = items[:length]
        return grown
    return grown_arrays


@register_jitable
def list_grown_adjoint(rows, items):
    """The adjoint of list_grown's `items` from its result's, `rows`: their first rows (zeros
    shaped like an empty list's array, whose shape is no item's)."""
    adjoint = np.zeros_like(items)
    if items.shape[0]:
        adjoint[:] = rows[:items.shape[0]]
    return adjoint


@register_jitable
def list_stacked(length, where):
    """`length`, the items np.stack takes from a list, or NumPy's error for none."""
    if length == 0:
        raise EmptyStack(where)
    return length


@register_jitable
def list_index(index, length, where):
    """`index` into a list of `length` items as Python takes it (from the end if negative),
    or ListIndexError."""
    if not -length <= index < length:
        raise ListIndexError(index, length, where)
    return index + length if index < 0 else index


def list_slot(items, index, length, item, where):
    """The slot of item `index` (list_index), for `item` once its shape is the others'."""
    slot = list_index(index, length, where)
    if np.shape(item) != items.shape[1:]:
        raise ListItemShapeError(np.shape(item), items.shape[1:], where)
    return slot


@overload(list_slot)
def _list_slot(items, index, length, item, where):
    if not _is_array(item) and items.ndim > 1:
        def scalar_among_arrays(items, index, length, item, where):
            list_index(index, length, where)
            raise ListItemShapeError((), items.shape[1:], where)
        return scalar_among_arrays

    if not _is_array(item):
        return lambda items, index, length, item, where: list_index(index, length, where)

    def slot(items, index, length, item, where):
        at = list_index(index, length, where)
        if item.shape != items.shape[1:]:
            raise ListItemShapeError(item.shape, items.shape[1:], where)
        return at
    return slot


# An f-string message of a check (`raise ValueError(f"x = {x[i]}")`) is raised from compiled
# code as `rt.ValueError_formatted("x = {}", x[i])`: Numba formats no floats or arrays itself,
# and passes the values out; this subclass of the builtin formats them as the f-string would.
_FORMATTED = {}


def __getattr__(name):
    base, _, suffix = name.rpartition("_")
    builtin = getattr(builtins, base, None)
    if suffix != "formatted" or not (isinstance(builtin, type) and
                                     issubclass(builtin, Exception)):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _FORMATTED:
        def __init__(self, template, *values):
            builtin.__init__(self, template.format(*values))

        def __reduce__(self):  # (pickled, e.g. from a Dask worker, as the builtin itself)
            return builtin, self.args
        _FORMATTED[name] = type(base, (builtin,), {"__init__": __init__,
                                                   "__reduce__": __reduce__,
                                                   "__module__": "builtins"})
    return _FORMATTED[name]

