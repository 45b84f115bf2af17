"""NumPy idioms found by surveying common user code (each was refused by name): methods
`x.clip()`, `x.round()`, `x.swapaxes()`; `np.newaxis`; einsum with implicit output; `np.moveaxis`,
`np.swapaxes`, `np.atleast_2d`; `s[None]` and `s[...]` of an element or a sum; `np.real` of real
numbers; `np.sinc` (at 0 too), `np.nan_to_num`; `np.average` with weights or an axis;
`np.polyval`; `x.item()`; `math.log(x, base)` and `divmod` (found refused by a helper's attack);
`np.float64` of arrays; `np.finfo(np.float64).eps`; `math.fmod`; lists where NumPy reads a tuple
or an index (`axes=([1], [1])`, `x[[0, 2]]`); `np.pad`; `np.r_[a, b]` of arrays and numbers,
`np.atleast_1d` of a number, `np.vstack` of 1-D and 2-D pieces (found by a helper's attack);
`for t in (0.5, 2.0)`; `scipy.linalg.expm`; a name rebound to another rank; an index held in a
tuple (`np.triu_indices`); `np.clip(x, min=, max=)` (found by a helper's probe).
Values against the function's, gradients against finite differences, compiled and as Python."""

import math
import re
import warnings

import numpy as np
import pytest
import scipy.linalg
from numpy import float64

import srcad
from srcad import check


def clip_method(x):
    return np.sum(x.clip(0.3, 0.7) ** 2)


def round_method(x):
    return np.sum(x * x.round())


def newaxis(x):
    return np.sum(x[:, np.newaxis] * x[np.newaxis, :] ** 2)


def einsum_implicit(x):
    a = x.reshape(2, 2)
    return np.einsum("ij,ij", a, a) + np.sum(np.einsum("ij,jk", a, a) ** 2)


def moved_and_swapped_axes(x):
    a = x.reshape(1, 2, 2)
    b = np.moveaxis(a, 0, -1) * np.swapaxes(a, 1, 2).reshape(2, 2, 1)
    return np.sum(b ** 2) + np.sum(x.reshape(2, 2).swapaxes(0, 1) @ x[:2])


def at_least_2d(x):
    return np.sum(np.atleast_2d(x) @ np.atleast_2d(x).T)


def real_part(x):
    return np.real(x[0]) * x[1] + np.sum(np.real(x) ** 3)


def sinc_through_zero(x):
    return np.sum(np.sinc(x - x[0]) * x)  # (the first argument of sinc is exactly 0)


def nan_to_num(x):
    return np.sum(np.nan_to_num(np.log(x - 0.5)) * x)  # (nan where x < 0.5: no gradient there)


def weighted_average(x):
    return np.average(x ** 2, weights=x) + np.average(x, weights=np.arange(1.0, x.size + 1))


def average_along_an_axis(x):
    return np.sum(np.average(x.reshape(2, 2) ** 2, axis=0) ** 2) + np.average(x)


def polynomials(x):
    # (a subexpression of one Horner step was reused in the next: the 1.0 term was lost)
    return np.sum(np.polyval(x, x) ** 2) + np.polyval(x[1:], x[0]) + \
        np.polyval((1.0, x[0], 2.0), 0.5)


def item_of_a_product(x):
    return (x[None, :] @ x[:, None]).item() * x[1:2].item()


def newaxis_of_an_element(x):
    # (an element is a NumPy scalar: its adjoint was indexed like an array, a TypeError)
    return np.sum(x[0][None] * x) + np.sum(np.sin(x[1][None, None]))


def ellipsis_of_numpy_scalars(x):
    # (a NumPy scalar's 0-d view: `s[...]` became `s[:]`, an IndexError, as Python and compiled;
    # then, found by an attack, of a builtin sum, a loop's accumulator and `x @ x`)
    s = np.sum(x * x)
    t = sum(x)
    u = 0.0
    for i in range(2):
        u += x[i]
    return s[...] * x[0] + x[1][...] * np.sin(s) + t[...] * u[...] + (x @ x)[...] * x[1]


def reductions_in_a_dtype(x):
    m = np.reshape(x, (2, 2))
    return np.sum(x * x, dtype=np.float64) + np.mean(np.sin(m), axis=0, dtype=float).sum() + \
        x.sum(dtype=np.float64) * m.prod(dtype="float64") + np.cumsum(x, dtype=np.float64)[-1]


def an_array_written_in_the_call_in_a_dtype(x):
    y = np.array([x[0], x[1] * 2.0], dtype=x.dtype) + np.array((x[2], 1.0), np.float64)
    return np.sum(y * y)


def reductions_of_lists(x):
    # (a list where NumPy reads an array was a tuple argument: refused, then the tape refused it)
    a, b = x[:2], x[2:]
    return np.sum([x[0] * x[1], x[2]]) + np.max((x[0] * 2.0, x[1], x[3])) + \
        np.mean([x[0], x[1] * x[2]]) + np.sum(np.exp([x[0], x[3]])) + \
        np.sum(np.maximum([x[0], x[1]], [x[2], 0.5])) + np.sum(np.sum([a, b], axis=0) ** 2) + \
        np.sum(np.prod([[x[0], x[1]], [x[2], x[0]]], axis=0))


def arguments_of_none(x):
    # (an out of None by position was refused as a write; a dtype of None by position as an
    # argument too many)
    m = x.reshape(2, 2)
    return np.sum(np.max(m, 1, None, True) * m) + np.sum(np.exp(x, None)) + \
        np.cumsum(x, 0, None, None)[-1] + np.sum(np.mean(m, axis=0, out=None))


def forms_found_by_an_attack(x):
    # (clip's bounds of None by keyword reached the code; a method's None by position was an
    # argument too many; cumsum, diff and sort of lists were tuple arguments; concatenate with
    # axis=None an internal IndexError)
    m = x.reshape(2, 2)
    return np.sum(np.clip(x, a_min=None, a_max=0.5) * x) + np.sum(np.clip(x, 0.3, a_max=None)) + \
        np.sum(m.sum(0, None, None, True) * m) + np.sum(m.max(1, None, True) * m) + \
        np.sum(m.std(0, None, None, 1)) + np.sum(np.cumsum([x[0], x[1], x[2]]) * x[1:]) + \
        np.sum(np.diff([x[0], x[1] * x[2], x[3]]) ** 2) + np.sort([x[2], x[0]])[0] * x[3] + \
        np.sum(np.concatenate((m, m[:1] ** 2), axis=None) * np.arange(6.0))


def two_argument_forms(x):
    # math.log(x, base) is log(x) / log(base); divmod(x, y) is (x // y, x % y), as CPython's
    q, r = divmod(x[0] * 7.0, x[1])
    s = 0.0
    for i in range(x.shape[0]):
        s += math.log(x[i], 1.5 + x[3]) * divmod(x[i], 0.25)[1]
    return math.log(x[2] + 1.0, 2.5) * q + r * r + s


def dot_of_a_number(x):
    # (found by a helper's attack: the adjoint of np.dot of a number was an internal error)
    return np.sum(np.dot(2.0, x)) + np.sum(np.dot(x, x[0])) + np.dot(x[1], x[2]) * x[3]


def numpy_divmod(x):
    # (np.divmod unpacked was refused as a tuple variable: found by a helper's attack)
    q, r = np.divmod(x * 3.0, 0.7)
    return np.sum(q * x + r * r)


def float64_of_arrays(x):
    # (np.float64 of an array, imported by name too, is the array: Numba converts numbers only)
    return np.sum(np.float64(x) ** 2) + np.sum(float64(x[1:]) * x[0]) + float64(x[2]) * x[3]


def machine_limits(x):
    # (np.finfo / np.iinfo of a constant dtype are numbers: the attribute was refused)
    eps = np.finfo(np.float64).eps
    return np.sum(np.log(x + eps)) + np.finfo("float32").eps * x[0] + \
        np.finfo(float).tiny * np.iinfo(np.int32).max * x[1]


def math_fmod(x):
    # (math.fmod had no rule, np.fmod did; Numba has no math.fmod: found by a helper's attack)
    return math.fmod(x[1] * 3.0, 0.3) ** 2 * x[0] + math.fmod(-x[0], x[2] + 0.05)


def lists_where_numpy_reads_a_tuple_or_an_index(x):
    # (nested lists in arguments and list indices were refused: found by a helper's attack)
    a = np.outer(x, x[::-1])
    y = np.zeros(5)
    y[[0, 2, 2]] += x[:3] ** 2
    return np.sum(np.tensordot(a, a, axes=([1], [1])) ** 2) * 1e-2 + np.sum(a[[1, 0, 1]] ** 3) + \
        np.sum(y * np.arange(5.0)) + np.sum(a[:, [2, 2]].T * a[[True, False, True, False]][0])


def padded_stencil(x):
    p = np.pad(x.reshape(2, 2), ((1, 1), (2, 0)), constant_values=x[0])
    return np.sum(np.cos(p[1:, 1:] - p[:-1, :-1])) + np.sum(np.pad(x, 1) ** 3 * np.arange(6.0))


def joins_with_literal_pieces(x):
    # (a piece written as a list, first, crashed the gradient: found by a helper's attack)
    return np.sum(np.concatenate([[0.0], x]) ** 2) + np.sum(np.hstack(([1, 2], x, [x[0]])) ** 3) + \
        np.sum(np.vstack(([1.0, 2.0, 3.0, 4.0], x)) * x) + \
        np.sum(np.stack(([x[1], 2.0, 3.0, x[2]], x), axis=1) ** 2)


def joined_by_r_(x):  # (np.r_[...] was a 'float, not an index' error)
    h = np.r_[x[1:], x[:1], 2.0 * x[0], 0.5, [1.0, 2.0], [x[0], x[1] * x[2]], (x[3], 1.5)]
    return np.sum(np.sin(h) * h) + np.sum(np.atleast_1d(x[2] * x[3]) ** 2)


def stacked_row_beside_rows(x):  # (Numba's np.vstack stacks pieces of one rank)
    m = x.reshape(2, 2)
    h = np.vstack((m, np.tanh(m[-1] * x[:2]), m * 0.5))
    for _ in range(2):
        h = np.vstack((h, np.sin(h[-1] * x[1:3])))
    return np.sum(h * h * h)


def loops_over_numbers_written_in_the_loop(x):  # (refused: loops ran over arrays)
    total = 0.0
    for t in (0.5, -2.0, 8.0):
        total += np.sum(np.sin(t * x))
    for k in [2, 0, -1]:
        total += x[k] * k
    for k, c in enumerate((1.5, 2.5)):
        total += c * x[k] ** 2
    for t in (1, 2.5, -3):  # (ints beside floats: a helper's attack)
        total += np.sum(np.cos(t * x))
    for k, c in enumerate([2, 0, -1]):
        total += c * x[k]
    for a, b in zip((0.5, 1.5), [1, 2]):
        total += a * x[b]
    return total


def rebound_to_other_ranks(x):  # (refused: srcad gave each variable one type)
    m = np.outer(x, x)
    m = np.sum(m * m, axis=0)
    x = x.reshape(2, 2)
    return np.sum(m * x.ravel()) + np.sum(x @ x)


def rebound_after_updates_in_place(x):  # (a helper's attack: an internal error, a refusal)
    y = x * 1.0
    y += 1.0
    y = np.sum(y * y)
    z = x[:2]
    z = z * 2.0
    x = np.sum(x.reshape(2, 2), axis=1)
    z = np.sum(z) + np.sum(x)
    return y + z


def indexed_by_the_nonzero_entries(x):  # (a 1-tuple of indices: refused)
    nz = np.nonzero(x > 0.5)
    y = x * 1.0
    y[nz] = 0.0
    return np.sum(x[nz] ** 2) + np.sum(y ** 3)


def indexed_by_a_tuple_of_index_arrays(x):  # (refused: the tuple's type was unknown)
    m = np.outer(x, np.sin(x))
    upper = np.triu_indices(x.shape[0], 1)
    i, j = np.tril_indices(4)
    return np.sum(m[upper] ** 2) + np.sum(m[i, j] * 2.0) + np.sum(m[np.diag_indices(4)])


def clip_with_min_and_max(x):  # (NumPy 2.1's spelling: refused)
    return np.sum(np.clip(x, min=0.3, max=0.7) ** 2) + np.sum(x.clip(max=0.5) * x)


def shifted_by_the_kept_maximum(x):  # (its adjoint did not compile)
    return np.sum(np.exp(x - np.max(x, axis=None, keepdims=True)))


CASES = [loops_over_numbers_written_in_the_loop, rebound_to_other_ranks,
         rebound_after_updates_in_place, indexed_by_the_nonzero_entries,
         indexed_by_a_tuple_of_index_arrays, clip_with_min_and_max, shifted_by_the_kept_maximum,
         clip_method, round_method, newaxis,
         einsum_implicit, moved_and_swapped_axes,
         at_least_2d, real_part, sinc_through_zero, nan_to_num, weighted_average,
         average_along_an_axis, polynomials, item_of_a_product, newaxis_of_an_element,
         ellipsis_of_numpy_scalars, reductions_in_a_dtype, an_array_written_in_the_call_in_a_dtype,
         reductions_of_lists, arguments_of_none, forms_found_by_an_attack, two_argument_forms,
         dot_of_a_number, numpy_divmod, float64_of_arrays, machine_limits, math_fmod,
         lists_where_numpy_reads_a_tuple_or_an_index, padded_stencil, joins_with_literal_pieces,
         joined_by_r_, stacked_row_beside_rows]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_idioms(fn, jit, rng):
    x = rng.uniform(0.1, 0.9, 4)
    with np.errstate(invalid="ignore"):
        value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
        assert value == pytest.approx(fn(x), rel=1e-12)
        check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", [newaxis_of_an_element, ellipsis_of_numpy_scalars,
                                reductions_of_lists, arguments_of_none, two_argument_forms,
                                joined_by_r_, stacked_row_beside_rows])
def test_tangent_of_an_elements_view(fn, jit, rng):
    x, t = rng.uniform(0.1, 0.9, 4), rng.standard_normal(4)
    value, tangent = srcad.jvp(fn, (x,), (t,), mode="source", jit=jit)
    assert value == pytest.approx(fn(x), rel=1e-12)
    assert tangent == pytest.approx(check.along(fn, [x], [t]), rel=1e-6)


def ellipsis_of_a_python_number(x, c):
    return x[0] * c[...]


def test_ellipsis_of_a_python_number_raises_as_python_does():
    with pytest.raises(TypeError, match="not subscriptable"):
        ellipsis_of_a_python_number(np.ones(2), 2.0)
    with pytest.raises(TypeError, match="not subscriptable"):
        srcad.grad(ellipsis_of_a_python_number, mode="source", jit=False)(np.ones(2), 2.0)


def averages_with_weights(x):
    m = x.reshape(3, 4)
    return np.sum(np.average(m, axis=0, weights=x[4:7]) ** 2) + \
        np.sum(np.average(m, -1, np.sin(x[:4])) ** 3) + np.average(m, weights=m * m) + \
        np.sum(np.average(x.reshape(2, 3, 2), axis=1, weights=x.reshape(2, 3, 2) ** 2) ** 2)


def average_with_weights_of_another_shape(x, w, axis):
    return np.sum(np.average(x.reshape(3, 4), axis, w))


def item_in_a_message(x):
    m = x[0:1].item()
    assert m > 0, f"{m!r}"
    return m * m


def test_item_is_a_python_number(jit):
    """Found by a helper's attack: as Python, rt.item gave a NumPy scalar (its repr differs)."""
    with pytest.raises(AssertionError, match=r"^-0\.5$"):
        srcad.grad(item_in_a_message, mode="source", jit=jit)(np.array([-0.5, 1.0]))


def limit_of_a_variables_dtype(x):
    return np.sum(x) * np.finfo(x.dtype).eps


def limit_beyond_int64(x):
    return np.sum(x) * (np.iinfo(np.uint64).max // 10 ** 18)


def test_machine_limits_of_a_variables_dtype_or_beyond_int64_are_refused_by_name():
    with pytest.raises(srcad.UnsupportedError, match=r"np.finfo\(x.dtype\).eps.*a constant"):
        srcad.grad(limit_of_a_variables_dtype, mode="source")(np.ones(3))
    # (folded, it overflowed in compiled code: found by a helper's attack)
    with pytest.raises(srcad.UnsupportedError, match=r"does not fit the 64-bit integers"):
        srcad.grad(limit_beyond_int64, mode="source")(np.ones(3))


def average_over_two_axes(x):
    return np.sum(np.average(x.reshape(2, 3, 2), axis=(2, 0), weights=x[:4].reshape(2, 2)) ** 2)


def test_average_with_weights_over_two_axes_is_the_tapes(rng):
    x = rng.uniform(0.1, 0.9, 12)
    with pytest.raises(srcad.UnsupportedError, match="np.average with weights over several"):
        srcad.grad(average_over_two_axes, mode="source")(x)
    value, g = srcad.value_and_grad(average_over_two_axes, mode="tape")(x)
    assert value == pytest.approx(average_over_two_axes(x), rel=1e-12)
    check.compare(average_over_two_axes, (x,), [0], [g])


def test_averages_with_weights_along_an_axis(jit, rng):
    """(weights along an axis were refused; weights of another shape than the array's
    broadcast against it where NumPy raises)"""
    x, v = rng.uniform(0.1, 0.9, 12), rng.normal(size=12)
    value, g = srcad.value_and_grad(averages_with_weights, mode="source", jit=jit)(x)
    assert value == pytest.approx(averages_with_weights(x), rel=1e-12)
    check.compare(averages_with_weights, (x,), [0], [g])
    assert srcad.jvp(averages_with_weights, (x,), (v,), mode="source", jit=False)[1] == \
        pytest.approx(check.along(averages_with_weights, [x], [v]), rel=1e-6)
    for w, axis, error in ((np.ones(4), None, TypeError), (np.ones(4), 0, ValueError),
                           (np.ones((4, 1)), 1, ValueError),
                           (np.array([1.0, -1.0, 0.0, 0.0]), 1, ZeroDivisionError)):
        with pytest.raises(error) as numpys:
            average_with_weights_of_another_shape(x, w, axis)
        with pytest.raises(error, match=re.escape(str(numpys.value))):
            srcad.grad(average_with_weights_of_another_shape, mode="source", jit=jit)(x, w, axis)


def rows_of_an_array_of_its_dtype(x):
    h = np.zeros((3, x.shape[0]), dtype=x.dtype)
    h[0] = x * 2.0
    h[1] = np.sin(h[0])
    return np.sum(h[1] * x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_array_made_with_another_arrays_dtype(dtype, jit, rng):
    """(`dtype=x.dtype` left the array's type unknown: a read of its row was refused)"""
    x = rng.standard_normal(4).astype(dtype)
    g = srcad.grad(rows_of_an_array_of_its_dtype, mode="source", jit=jit)(x)
    assert g.dtype == dtype
    check.compare(rows_of_an_array_of_its_dtype, (x.astype(np.float64),), [0],
                  [g.astype(np.float64)], rtol=1e-3 if dtype == np.float32 else 1e-5)


def transposed_by_axes(x, axes):
    return np.sum(np.transpose(x, axes) ** 2 * np.arange(4.0))


@pytest.mark.parametrize("axes", [(1, 0, 2), (2, 1, 0)])
def test_transpose_by_axes_an_argument_holds(axes, jit, rng):
    """(axes passed in, not constants, were refused: type inference ran np.transpose on
    stand-ins without them)"""
    x = rng.standard_normal((2, 3, 4) if axes[2] == 2 else (4, 3, 2))
    g = srcad.grad(transposed_by_axes, mode="source", jit=jit)(x, axes)
    check.compare(transposed_by_axes, (x, axes), [0], [g])


def norm_of_order(M, o):
    return np.linalg.norm(M, o)


def norm_of_order_by_name(M, o):
    return np.linalg.norm(M, ord=o)


def norm_of_negative_infinity(M):
    return np.linalg.norm(M, ord=-np.inf)


def row_norms_of_order(M, o):
    return np.sum(np.linalg.norm(M, o, 1, True) ** 2)


@pytest.mark.parametrize("o", [np.inf, -np.inf, 1.0, -1, 2])
def test_a_matrix_norm_of_an_order_not_a_constant(o, jit, rng):
    """(found by an attack: an order held in a variable, or -np.inf, was refused as a type
    srcad could not infer: type inference ran the norm with a stand-in order)"""
    M = rng.standard_normal((4, 3))
    for fn in (norm_of_order, norm_of_order_by_name, row_norms_of_order):
        g = srcad.grad(fn, mode="source", jit=jit)(M, o)
        check.compare(fn, (M, o), [0], [g], rtol=1e-5, atol=1e-6)
    g = srcad.grad(norm_of_negative_infinity, mode="source", jit=jit)(M)
    check.compare(norm_of_negative_infinity, (M,), [0], [g], rtol=1e-5, atol=1e-6)


def matrix_norm_over_axes(M, o, axes):
    return np.linalg.norm(M, ord=o, axis=axes) * 1.5


@pytest.mark.parametrize("o", [2, -2, 1, -1, np.inf, -np.inf, "nuc", "fro"])
def test_a_matrix_norm_over_its_axes_in_either_order(o, jit, rng):
    """(found by an attack: axis=(1, 0), the norm of the transpose, was refused at run time,
    "matrix norms are supported over axes (0, 1) only", a ValueError that did not fall back)"""
    M = rng.standard_normal((4, 3))
    for axes in ((1, 0), (-1, -2), (0, 1)):
        value, g = srcad.value_and_grad(matrix_norm_over_axes, mode="source", jit=jit)(M, o,
                                                                                      axes)
        assert value == pytest.approx(matrix_norm_over_axes(M, o, axes), rel=1e-12)
        check.compare(matrix_norm_over_axes, (M, o, axes), [0], [g], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Duplicate axes given"):
        srcad.grad(matrix_norm_over_axes, mode="source", jit=jit)(M, o, (1, 1))


def solved_by_an_integer_matrix(x, M):
    return np.sum(np.linalg.solve(M, x) ** 2) + np.sum(np.linalg.inv(M) @ x) * np.linalg.det(M)


def test_an_integer_matrix_in_linalg_is_typed(rng):
    """(found by an attack: np.linalg.solve(M, x) of an integer M was refused in
    mode="source", "cannot infer the type": typed on a stand-in matrix of zeros, singular.
    Numba's solve takes no integer matrix: compiled, the generated Python runs)"""
    M = np.array([[3, 1, 0], [1, 4, 1], [0, 1, 5]])
    x = rng.standard_normal(3)
    g = srcad.grad(solved_by_an_integer_matrix, mode="source", jit=False)(x, M)
    check.compare(solved_by_an_integer_matrix, (x, M), [0], [g], rtol=1e-6, atol=1e-8)


def repeated_by_counts(x):
    return np.sum(np.repeat(x, [1, 2, 3], axis=1) ** 2) + \
        np.sum(np.repeat(x, np.array([2, 0, 1, 3]), axis=-1) ** 3)


def test_repeats_given_per_element_along_an_axis(jit, rng):
    """(found by an attack: a list of repeats was refused, "cannot infer the type": typed on a
    stand-in whose axes have one element, which three repeats do not fit)"""
    x = rng.standard_normal((2, 3, 4))
    g = srcad.grad(repeated_by_counts, mode="source", jit=jit)(x)
    check.compare(repeated_by_counts, (x,), [0], [g], rtol=1e-6, atol=1e-8)


def kron_of_slices(M, v):
    return np.sum(np.kron(M[:2, :2], M[1:, 2:]) ** 2) + np.sum(np.kron(M.T, v[::2]))


def test_kron_of_views_compiles(jit, rng):
    """(found by an attack: Numba's np.kron takes contiguous arrays only; the gradient of a
    kron of slices ran as Python with a FallbackWarning)"""
    M, v = rng.standard_normal((3, 4)), rng.standard_normal(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        g = srcad.grad(kron_of_slices, wrt=(0, 1), mode="source", jit=jit)(M, v)
    check.compare(kron_of_slices, (M, v), [0, 1], list(g))


@pytest.mark.parametrize("fn", [two_argument_forms, math_fmod, padded_stencil], ids=lambda f: f.__name__)
def test_two_argument_forms_on_the_tape(fn, rng):
    x = rng.uniform(0.1, 0.9, 4)
    value, g = srcad.value_and_grad(fn, mode="tape")(x)
    assert value == pytest.approx(fn(x), rel=1e-12)
    check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)


def pad_by_copies(x):
    y = x.reshape(2, 3)
    return np.sum(np.pad(y, ((1, 2), (4, 0)), mode="edge") ** 2 * 0.5) + \
        np.sum(np.sin(np.pad(x, 7, mode="reflect"))) + \
        np.sum(np.pad(y, 2, mode="symmetric") ** 3) + np.sum(np.cos(np.pad(x, (5, 1), "wrap")))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_pad_in_the_modes_that_copy_entries(mode, rng):
    """np.pad's edge, reflect, symmetric and wrap modes (widths past one period too) in both
    modes, against differences and in second derivatives."""
    x = rng.uniform(-1, 1, 6)
    grad = srcad.grad(pad_by_copies, mode=mode)(x)
    check.compare(pad_by_copies, [x], [0], [grad], rtol=1e-6, atol=1e-8)
    v = rng.uniform(-1, 1, 6)
    eps = 1e-6
    fd = (srcad.grad(pad_by_copies, mode=mode)(x + eps * v) -
          srcad.grad(pad_by_copies, mode=mode)(x - eps * v)) / (2 * eps)
    if mode == "tape":
        from srcad.tape import run

        np.testing.assert_allclose(run.hvp(pad_by_copies, (x,), 0, v), fd, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(srcad.hvp(pad_by_copies)(x, v), fd, rtol=1e-5, atol=1e-6)


def pad_by_its_mean(x):
    return np.sum(np.pad(x, 1, mode="mean") ** 2)


def pad_by_two_constants(x):
    return np.sum(np.pad(x, 1, constant_values=(x[0], 2.0)) ** 2)


@pytest.mark.parametrize("fn", [pad_by_its_mean, pad_by_two_constants])
def test_pad_other_than_by_one_constant_or_copies_is_an_error(fn, rng):
    x = rng.uniform(0.1, 0.9, 4)
    with pytest.raises(srcad.UnsupportedError, match=r"test_numpy_idioms.py:\d+: np.pad other "
                                                     "than in mode 'constant'"):
        srcad.grad(fn, mode="source")(x)
    with pytest.raises(ValueError, match="np.pad in mode 'constant'"):
        srcad.grad(fn, mode="tape")(x)


def r_of_a_range(x):
    return np.sum(np.r_[0:3, x])


def c_of_columns(x):
    return np.sum(np.c_[x, x])


def r_bound_to_a_name(x):
    r = np.r_
    return np.sum(r[x, 1.0] * np.arange(5.0))


@pytest.mark.parametrize(("fn", "what"), [(r_of_a_range, r"np\.r_\[\.\.\.\] .* with slices"),
                                          (c_of_columns, r"np\.c_\[\.\.\.\] is not supported"),
                                          (r_bound_to_a_name, r"'np\.r_' used other than indexed")])
def test_numpys_other_index_objects_are_refused_by_name(fn, what):
    with pytest.raises(srcad.UnsupportedError, match=what):
        srcad.grad(fn, mode="source")(np.ones(3))


def test_r_on_the_tape(rng):
    """(found by a helper's attack: np.r_ bound to a name was a 'float, not an index' error in
    every mode; with slices on the tape the error named a dropped gradient, not np.r_)"""
    x = rng.uniform(0.1, 0.9, 4)
    with pytest.warns(srcad.FallbackWarning, match="used other than indexed"):
        g = srcad.grad(r_bound_to_a_name)(x)
    check.compare(r_bound_to_a_name, (x,), [0], [g])
    g = srcad.grad(joined_by_r_, mode="tape")(x)
    check.compare(joined_by_r_, (x,), [0], [g], rtol=1e-6, atol=1e-8)
    with pytest.raises(srcad.UnsupportedError, match=r"np\.r_\[\.\.\.\] with slices"):
        srcad.grad(r_of_a_range, mode="tape")(x[:3])


def cross_products(x):
    return np.sum(np.cross(x[:3], x[3:6]) * x[6:9]) + \
        np.sum(np.cross(x[:6].reshape(2, 3), x[9:]) ** 2)


def cross_of_2_vectors(x):
    return np.sum(np.cross(x[:2], x[2:4]))


def cross_of_2_and_3_vectors(x):
    return np.sum(np.cross(x[:2], x[2:5]))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_cross_products_of_3_vectors_broadcast(mode, jit, rng):
    """(np.cross was "no derivative rule"; the tape took two 3-vectors only)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x = rng.uniform(-1.0, 1.0, 12)
    value, g = srcad.value_and_grad(cross_products, mode=mode, jit=jit)(x)
    assert value == pytest.approx(cross_products(x), rel=1e-12)
    check.compare(cross_products, (x,), [0], [g])
    # (an attack found the tape computing NumPy's 2-by-3 form, and naming wrong shapes)
    for refused, shapes in ((cross_of_2_vectors, r"\(2,\) and \(2,\)"),
                            (cross_of_2_and_3_vectors, r"\(2,\) and \(3,\)")):
        with pytest.raises(ValueError, match="np.cross of vectors of 3 components.*" + shapes):
            srcad.grad(refused, mode=mode, jit=jit)(x)


COV_WEIGHTS = np.arange(16.0).reshape(4, 4)


def covariances(x):
    m = x.reshape(4, 6)
    return np.sum(np.cov(m) * COV_WEIGHTS) + np.cov(x[:6], ddof=0) + \
        np.sum(np.cov(m, rowvar=False, bias=True) ** 2)


def covariances_in_a_loop(x):
    s = 0.0
    for k in range(3):
        s += np.sum(np.cov(x.reshape(4, 6)[:, k:k + 3]) * COV_WEIGHTS) * (k + 1)
    return s


def covariance_of_two_arrays(x):
    return np.sum(np.cov(x[:6], x[6:12]))


@pytest.mark.parametrize("fn", [covariances, covariances_in_a_loop])
def test_covariances(fn, jit, rng):
    """(np.cov was "no derivative rule"): values, gradients, tangents and Hessian-vector
    products, against NumPy and finite differences; y= is refused by name."""
    x, v = rng.normal(size=24), rng.normal(size=24)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
    assert value == pytest.approx(fn(x), rel=1e-12)
    check.compare(fn, (x,), [0], [g])
    assert srcad.jvp(fn, (x,), (v,), mode="source", jit=False)[1] == \
        pytest.approx(check.along(fn, [x], [v]), rel=1e-6)
    grad = srcad.grad(fn, jit=False)
    np.testing.assert_allclose(srcad.hvp(fn, jit=jit)(x, v),
                               (grad(x + 1e-5 * v) - grad(x - 1e-5 * v)) / 2e-5, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(srcad.UnsupportedError, match=r"np.cov\(x\[:6\], x\[6:12\]\) with .* 'y'"):
        srcad.grad(covariance_of_two_arrays, mode="source", jit=jit)(x)


def picked_log_probabilities(x):
    z = x.reshape(4, 3)
    labels = np.array([2, 0, -1, 1])  # (-1: the last class, as NumPy counts)
    lp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(np.take_along_axis(lp, labels[:, None], axis=1))


def sorted_by_argsort(x):
    m = x.reshape(3, 4)
    order = np.argsort(m, axis=0)  # (Numba's np.argsort takes vectors only)
    ranks = m.argsort()
    return np.sum(np.take_along_axis(m, order, 0) * np.arange(3.0)[:, None]) + \
        np.sum(np.take_along_axis(m ** 2, ranks[:, :2], axis=-1)) + \
        np.sum(np.take_along_axis(x, np.argsort(x, axis=None)[::3], None) ** 3) + \
        np.sum(np.take_along_axis(m, np.array([0, 11, -1]), axis=None) * m.argsort(axis=None)[:3])


def picked_with_broadcast_indices(x):
    return np.sum(np.take_along_axis(x.reshape(3, 4), np.array([[3, 0, 3, 1, 2]]), axis=1) ** 2)


def agrees_with_finite_differences(fn, args, wrt, mode, jit, tangents=None, **tolerances):
    """fn's value (NumPy's to 1e-12) and its gradient along `wrt` (finite differences) in
    `mode`; given `tangents`, in the source transform its jvp along them too (as Python: the
    forward rule walker compiles each rule's tangent)."""
    value, grads = srcad.value_and_grad(fn, wrt=tuple(wrt), mode=mode, jit=jit)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    check.compare(fn, args, list(wrt), list(grads), **tolerances)
    if mode == "source" and tangents is not None:
        assert srcad.jvp(fn, args, tangents, mode="source", jit=False)[1] == \
            pytest.approx(check.along(fn, list(args), list(tangents)), rel=1e-6)


@pytest.mark.parametrize("fn", [picked_log_probabilities, sorted_by_argsort,
                                picked_with_broadcast_indices])
@pytest.mark.parametrize("mode", ["source", "tape"])
def test_take_along_axis(fn, mode, jit, rng):
    """(np.take_along_axis was "no derivative rule"; np.argsort of a matrix did not compile)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x, v = rng.normal(size=12), rng.normal(size=12)
    agrees_with_finite_differences(fn, (x,), [0], mode, jit, tangents=(v,))


def picked_out_of_bounds(x, labels):
    return np.sum(np.take_along_axis(x.reshape(4, 3), labels[:, None], axis=1))


@pytest.mark.parametrize("label", [3, -4])
def test_take_along_axis_out_of_bounds_raises(label, jit):
    labels = np.array([0, 1, label, 2])
    with pytest.raises(IndexError):
        srcad.grad(picked_out_of_bounds, wrt=0, mode="source", jit=jit)(np.ones(12), labels)


def spreads_with_no_degrees_of_freedom_left(x):
    return np.var(x[:2], ddof=3) + np.std(x[2:4], ddof=2) + np.std(x[4:5], ddof=1) + \
        np.sum(np.var(x[6:].reshape(2, 3), axis=0, ddof=2))


@pytest.mark.parametrize("fn", [lambda x: np.var(x[:2], ddof=3),
                                lambda x: np.std(x[2:4], ddof=2),
                                spreads_with_no_degrees_of_freedom_left])
def test_spreads_with_no_degrees_of_freedom_left_are_numpys_inf_or_nan(fn):
    """(compiled, np.var(x[:2], ddof=3) divided by -1: -0.5 where NumPy gives inf; the tape's
    unbiased var of an empty array was -0.0, found by a helper's attack): each engine's value
    is NumPy's, and their gradients (of inf and nan) agree."""
    x = np.array([0.0, 1.0, 0.5, 2.0, 3.0, 0.0, 1.0, 2.0, 4.0, 0.5, 0.25, 3.0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = fn(x)
        results = [srcad.value_and_grad(fn, mode=mode, jit=jit)(x)
                   for mode, jit in (("source", True), ("source", False), ("tape", True))]
    for value, g in results:
        np.testing.assert_equal(value, expected)
        np.testing.assert_equal(g, results[-1][1])


QR_WEIGHTS = np.linspace(-1.0, 2.0, 30).reshape(6, 5)


def qr_factors(x):
    q, r = np.linalg.qr(x[:15].reshape(5, 3))
    square_q = np.linalg.qr(x[15:].reshape(3, 3))[0]
    return np.sum(q * QR_WEIGHTS[:5, :3]) + np.sum(r ** 2 * QR_WEIGHTS[:3, :3]) + \
        np.sum(square_q * QR_WEIGHTS[3:, 2:])


def qr_of_a_wide_matrix(x):
    return np.sum(np.linalg.qr(x[:15].reshape(3, 5))[1])


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_qr_of_a_tall_or_square_matrix(mode, jit, rng):
    """(np.linalg.qr had no rule): both factors, in every engine, with tangents; a wide matrix
    is refused by name"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x, v = rng.normal(size=24), rng.normal(size=24)
    agrees_with_finite_differences(qr_factors, (x,), [0], mode, jit, tangents=(v,))
    with pytest.raises(ValueError, match="np.linalg.qr of a matrix with at least as many rows"):
        srcad.grad(qr_of_a_wide_matrix, mode=mode, jit=jit)(x)


def picked_with_indices_of_another_shape(x, indices):
    return np.sum(np.take_along_axis(x, indices, axis=1))


def solved_by_a_cholesky_factor(a):
    return np.sum(scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), a[0]))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_errors_of_take_along_axis_and_cho_factor_are_numpys(mode):
    """(an attack: the tape raised ValueError and its ShapeError where NumPy raises IndexError
    and LinAlgError)"""
    with pytest.raises(IndexError):
        srcad.grad(picked_with_indices_of_another_shape, wrt=0, mode=mode)(
            np.ones((3, 4)), np.zeros((2, 1), int))
    with pytest.raises(np.linalg.LinAlgError):
        srcad.grad(solved_by_a_cholesky_factor, mode=mode)(-np.eye(3))


def rotation_fit(theta, target):
    """A rotation from its axis-angle vector (the exponential of a skew-symmetric matrix)."""
    k = np.array([[0.0, -theta[2], theta[1]], [theta[2], 0.0, -theta[0]],
                  [-theta[1], theta[0], 0.0]])
    return np.sum((scipy.linalg.expm(k) - target) ** 2)


def propagated(a, x0):
    """x(t) = expm(t a) x0 of a linear ODE at three times; a's norm grows past the scaling
    threshold."""
    total = 0.0
    for t in (0.5, 2.0, 8.0):
        total += np.sum(np.tanh(scipy.linalg.expm(t * a) @ x0))
    return total


def expm_of_a_vector(x):
    return np.sum(scipy.linalg.expm(x))


def expm_of_a_wide_matrix(x):
    return np.sum(scipy.linalg.expm(x[:6].reshape(2, 3)))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_matrix_exponentials(mode, jit, rng):
    """(scipy.linalg.expm had no rule): values SciPy's to rounding, gradients, tangents and a
    Hessian against finite differences; SciPy's LinAlgError for what is not a square matrix"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    theta, target = rng.normal(size=3), rng.normal(size=(3, 3))
    a, x0 = rng.normal(size=(4, 4)) * 0.8, rng.normal(size=4)
    for fn, args in ((rotation_fit, (theta, target)), (propagated, (a, x0))):
        agrees_with_finite_differences(fn, args, [0], mode, jit, rtol=1e-6)
    if mode == "source":
        v = rng.normal(size=(4, 4))
        assert srcad.jvp(propagated, (a, x0), (v, None), jit=False)[1] == \
            pytest.approx(check.along(propagated, [a, x0], [v, None]), rel=1e-6)
        h = srcad.hessian(rotation_fit, jit=jit)(theta, target)
        expected = np.array([check.along(lambda t: srcad.grad(rotation_fit)(t, target), [theta],
                                         [np.eye(3)[k]]) for k in range(3)])
        np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-7)
    for fn in (expm_of_a_vector, expm_of_a_wide_matrix):
        with pytest.raises(np.linalg.LinAlgError):
            srcad.grad(fn, mode=mode, jit=jit)(rng.normal(size=9))


def smoothness(x, h):
    u = x.reshape(3, 4)
    return np.sum(np.gradient(x, h) ** 2) + np.sum(np.gradient(u, h, axis=1, edge_order=2) ** 3) \
        + np.sum(np.sin(np.gradient(u, axis=0)))


def slopes(x):
    return np.sum(np.gradient(x) ** 2)


def slopes_at_coordinates(x, t):
    return np.sum(np.gradient(x, t) ** 2)


def smoothness_along_every_axis(x):
    gx, gy = np.gradient(x.reshape(3, 4), 0.5)
    return np.sum(gx * gy)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_np_gradient(mode, jit, rng):
    """(refused in every engine: found by a helper's probe) np.gradient along one axis, in the
    spacing too; the tape's along every axis (the source transform refuses that by name)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x, h, t = rng.normal(size=12), 0.3, rng.normal(size=12)
    agrees_with_finite_differences(smoothness, (x, h), [0, 1], mode, jit, tangents=(t, 0.5))
    if mode == "source":
        with pytest.raises(srcad.UnsupportedError, match="without axis= .* per axis"):
            srcad.grad(smoothness_along_every_axis, mode=mode, jit=jit)(x)
    else:
        check.compare(smoothness_along_every_axis, (x,), [0],
                      [srcad.grad(smoothness_along_every_axis, mode=mode)(x)])
    with pytest.raises(ValueError, match="too small to calculate a numerical gradient"):
        srcad.grad(slopes, mode=mode, jit=jit)(x[:1])
    with pytest.raises((srcad.UnsupportedError, TypeError), match="coordinates"):
        # (an attack: the source transform took each coordinate for a spacing of its own)
        srcad.grad(slopes_at_coordinates, wrt=1, mode=mode, jit=jit)(x[:4], np.cumsum(x[:4]))



def cholesky_parametrised(theta, x):
    L = np.zeros((3, 3))
    L[np.tril_indices(3)] = theta
    L[np.diag_indices(3)] = np.exp(np.diag(L))
    return np.sum(np.linalg.solve(L @ L.T, x) * x) + 2.0 * np.sum(np.log(np.diag(L)))


def stored_through_pairs(x, rows, cols):
    a = np.outer(x, x)
    a[rows, cols] += x  # (a repeated pair: NumPy's buffered update keeps the last)
    a[rows, cols] -= 0.5
    a[cols, rows] = a[rows, cols] * 2.0
    a[np.triu_indices(3, 1)] = x[0]
    return np.sum(np.sin(a))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_stores_through_two_index_arrays(mode, jit, rng):
    """(refused in the source transform: a Cholesky factor filled from a vector of parameters,
    L[np.tril_indices(n)] = theta)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    theta, x = rng.normal(size=6) * 0.3, rng.normal(size=3)
    rows, cols = np.array([0, 1, 0]), np.array([2, 2, 2])
    for fn, args, wrt in ((cholesky_parametrised, (theta, x), [0, 1]),
                          (stored_through_pairs, (x, rows, cols), [0])):
        with warnings.catch_warnings():
            warnings.simplefilter("error", srcad.FallbackWarning)
            agrees_with_finite_differences(fn, args, wrt, mode, jit)
    with pytest.raises(IndexError, match="out of bounds"):
        srcad.grad(stored_through_pairs, mode=mode, jit=jit)(x, np.array([0, 5, 1]), cols)


def clip_bounds_given_twice(x):
    return np.sum(np.clip(x, a_min=-0.5, min=-0.5, a_max=1.0))


def upper_triangle_of_its_shape(a):
    return np.sum(a[np.triu_indices_from(a, 1)] ** 2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_clip_bounds_given_twice_and_indices_from_a_shape(mode, rng):
    """(a helper's attack: the tape took the last of two bounds where NumPy raises, and had no
    np.triu_indices_from)"""
    x = rng.normal(size=(3, 3))
    with pytest.raises((srcad.UnsupportedError, ValueError), match="min= or max= beside"):
        srcad.grad(clip_bounds_given_twice, mode=mode)(x)
    check.compare(upper_triangle_of_its_shape, (x,), [0],
                  [srcad.grad(upper_triangle_of_its_shape, mode=mode)(x)])


def diagonal_of_its_shape_replaced(a):
    a = a * 1.0
    a[np.diag_indices_from(a)] = np.exp(np.diag(a))
    return np.sum(a ** 2)


def test_indices_made_from_an_array_share_no_memory_with_it(rng):
    """(an attack: a store through np.diag_indices_from(a) was an AliasingError)"""
    a = rng.normal(size=(3, 3))
    check.compare(diagonal_of_its_shape_replaced, (a,), [0],
                  [srcad.grad(diagonal_of_its_shape_replaced, mode="source", jit=False)(a)])



def differences_up_to_and_past_the_length(x):
    return np.sum(np.diff(x[:3], 5) ** 2) + np.sum(np.diff(x.reshape(2, 3), 3, axis=0)) + \
        np.sum(np.diff(x, 6)) + np.sum(np.diff(x, 4) ** 2) + np.sum(x * x)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_differences_past_the_axis_length_are_empty(mode, jit, rng):
    """(np.diff(x, n) with n past the axis's length, which NumPy gives as an empty array, was a
    ValueError in every engine)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x, v = rng.normal(size=6), rng.normal(size=6)
    agrees_with_finite_differences(differences_up_to_and_past_the_length, (x,), [0], mode, jit,
                                   tangents=(v,))


def clipped_by_no_bound(x):
    return np.sum(x.clip() ** 2) + np.sum(np.clip(x, None, None) * x) + np.clip(x[0], max=None)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_clip_without_bounds_is_a_copy(mode, jit, rng):
    """(NumPy 2.1's np.clip(x) with no bound was refused by the source transform)"""
    if mode == "tape" and not jit:
        pytest.skip("the tape is not compiled")
    x, v = rng.normal(size=5), rng.normal(size=5)
    agrees_with_finite_differences(clipped_by_no_bound, (x,), [0], mode, jit, tangents=(v,))


def squeezed_whatever_its_sizes(x):
    x = np.squeeze(x)
    return np.sum(x ** 2)


def test_squeeze_without_constant_axes_is_refused_with_what_to_write(rng):
    with pytest.raises(srcad.UnsupportedError, match=r"np\.squeeze without constant axes "
                       r"\('np\.squeeze\(x\)' \(line \d+\)\) removes whichever axes"):
        srcad.grad(squeezed_whatever_its_sizes, mode="source")(rng.normal(size=(1, 4)))
