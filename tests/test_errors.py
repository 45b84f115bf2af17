"""Errors name the construct and the user's file:line."""

import inspect
import math
import random
import re
import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from srcad.errors import UserCodeError


def unknown_call(x):
    return np.sum(np.nancumsum(x) * x[0])


def unknown_call_of_several_results(x):
    mantissa, exponent = np.frexp(x)  # (np.linalg.qr has a rule now)
    return np.sum(mantissa)


def unsupported_statement(x):
    with open("f") as fh:
        pass
    return x


def opaque(x):
    return x


def comprehension(x):  # (one in a branch of `a if c else b`: lists.py takes the others)
    return np.sum(np.array([v * v for v in x]) if x[0] > 0.0 else x)


ACTIVATIONS = [np.sin, np.cos]


def call_of_an_item(x):
    return np.sum(ACTIVATIONS[1](x))


def call_of_a_local_lists_item(x):  # (the message quoted the lowered fs[rt.list_index(...)])
    fs = [lambda v: v * 2.0, lambda v: v * 3.0]
    return np.sum(fs[0](x))


def no_return(x):
    y = x * 2.0  # noqa: F841


def calls_no_return(x):
    c = no_return(x)  # noqa: F841
    return np.sum(x)


def loop_over_a_list(x):
    s = 0.0
    for v in [x[0], x[1]]:
        s += v
    return s


def line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, ln in enumerate(lines) if text in ln)


@pytest.mark.parametrize("fn,text,what", [
    (unknown_call, "np.nancumsum", "no derivative rule for .nancumsum"),
    (unknown_call_of_several_results, "np.frexp", "no derivative rule for .frexp"),
    (unsupported_statement, "with open", "a with statement is not supported"),
    (comprehension, "np.array([", "ListComp|list"),
    (call_of_an_item, "ACTIVATIONS[1](x)", r"call of 'ACTIVATIONS\[1\]'"),
    (call_of_a_local_lists_item, "fs[0](x)", r"call of 'fs\[0\]', which"),
    (calls_no_return, "c = no_return", "'no_return', which has no return statement"),
    (loop_over_a_list, "for v in", r"a for loop over '\[x\[0\], x\[1\]\]'"),
])
def test_unsupported_names_construct_and_line(fn, text, what):
    with pytest.raises(srcad.UnsupportedError, match=what) as info:
        srcad.grad(fn, mode="source")(np.linspace(0.1, 1.0, 4))
    message = str(info.value)
    assert f"test_errors.py:{line_of(fn, text)}" in message


def test_source_unavailable():
    fn = eval("lambda x: x * x")
    with pytest.raises(srcad.UnsupportedError, match="cannot read the source"):
        srcad.grad(fn, mode="source")(2.0)


def test_a_library_function_is_differentiated_by_its_rule(jit):
    assert np.isclose(srcad.grad(np.sin, mode="source", jit=jit)(2.0), np.cos(2.0))
    assert np.isclose(srcad.grad(math.log, jit=jit)(2.0), 0.5)
    assert srcad.grad(np.hypot, wrt=(0, 1), jit=jit)(3.0, 4.0) == (0.6, 0.8)


def test_a_builtin_without_a_rule_is_refused():
    with pytest.raises(srcad.UnsupportedError, match="not a Python function"):
        srcad.grad(print)


def writes_through_alias(x):
    y = np.zeros(3)
    z = y
    z[0] = x[0]
    return np.sum(y * x)


def writes_through_view(A):
    row = A[0]
    row[1] = 5.0
    return np.sum(A * A)


def writes_through_ascontiguousarray(x):
    y = np.ascontiguousarray(x)
    y[0] = 0.0
    return np.sum(x * x)


def reads_an_unpacked_alias_after_a_write(x):
    a, b = x, x * 2.0
    x[0] = 0.0
    return np.sum(a * b)


def reads_a_view_of_a_view_after_a_write(x):
    v = x[1:]
    w = v[1:]
    x[2] = 0.0
    return np.sum(w * w)


@pytest.mark.parametrize("fn,arg", [(writes_through_alias, np.ones(3)),
                                    (writes_through_view, np.ones((2, 3))),
                                    (writes_through_ascontiguousarray, np.ones(4)),
                                    (reads_an_unpacked_alias_after_a_write, np.ones(4)),
                                    (reads_a_view_of_a_view_after_a_write, np.ones(4))])
def test_aliasing_writes_are_refused(fn, arg):
    with pytest.raises(srcad.AliasingError, match="shares its memory and is read later"):
        srcad.grad(fn, mode="source")(arg)
    # mode="auto" runs them on the tape, whose views share memory as NumPy's do
    arg = np.random.default_rng(0).uniform(0.5, 1.5, arg.shape)
    with pytest.warns(srcad.FallbackWarning):
        grads = srcad.grad(fn)(arg.copy())
    check.compare(fn, [arg.copy()], [0], (grads,), rtol=1e-5, atol=1e-6)


def scales_a_row_in_place(A):
    row = A[0]
    row *= 2.0
    return np.sum(A * A)


def test_in_place_operator_through_a_view_is_refused():
    with pytest.raises(srcad.UnsupportedError, match="write into 'row'"):
        srcad.grad(scales_a_row_in_place, mode="source")(np.ones((2, 3)))


def swaps_two_buffers(x):
    a = x * 1.0
    b = np.zeros(len(x))
    for _ in range(3):
        for i in range(len(x)):
            b[i] = np.sin(a[i]) + a[(i + 1) % len(x)] * 0.5
        a, b = b, a
    return np.sum(a * x)


def test_swapped_buffers_are_compiled():
    # the arrays trade names every trip, but no name for one is read after a write through
    # another: nothing aliases, and the source transform follows program order
    x = np.random.default_rng(1).uniform(-1.0, 1.0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        grads = srcad.grad(swaps_two_buffers, mode="source")(x)
    check.compare(swaps_two_buffers, [x], [0], (grads,), rtol=1e-5, atol=1e-6)


def becomes_an_array(x):
    total = 0.0
    for row in x:
        total = total + row
    return np.sum(total)


def generator(x):
    yield x


def assigns_nonlocal(x):
    a = 1.0

    def inner():
        nonlocal a
        a = 2.0
    inner()
    return a * x


def misspelled_keyword(x):
    return np.sum(x, axsi=0)


def takes_kwargs(x, **kwargs):
    return x * kwargs["k"]


def imports_inside(x):
    import math as m
    return m.sin(x)


WEIGHTS_BY_NAME = {"w": 2.0}
WEIGHTS_LIST = [1.0, 2.0]


def reads_a_dict_global(x):
    return WEIGHTS_BY_NAME["w"] * x ** 3


def reads_a_list_global(x):
    return np.sum(WEIGHTS_LIST * x ** 3)


def builtin_min_of_an_array(x):
    return min(x) * 2.0


def asks_hasattr(x):  # (found by an attack: Numba's error named neither hasattr nor the line)
    return np.sum(x ** 2) if hasattr(x, "flatten") else 0.0


def scaled_by_a_random_draw(x):  # (the message named only the product: found by an attack)
    r = np.random.rand()
    return np.sum(x * r)


@pytest.mark.parametrize("fn, arg, message", [
    (scaled_by_a_random_draw, np.ones(2),
     r"computed from 'np\.random\.rand\(\)', a call with side effects"),
    (imports_inside, 0.5, r"an import inside the function \(math as m\)"),
    (reads_a_dict_global, 0.5, ("reads 'WEIGHTS_BY_NAME' from outside the function, which "
                                "is not a number, an array or a tuple of them")),
    (reads_a_list_global, np.ones(2), "reads 'WEIGHTS_LIST' from outside the function"),
    (builtin_min_of_an_array, np.ones(2), r"builtin min\(\) of one iterable.*np.min\(x\)"),
    (asks_hasattr, np.ones(2), r"hasattr\(\), which reads or runs code by name"),
    (becomes_an_array, np.ones((3, 2)),
     r"type of 'total \+ row': 'total' is a float at one point and a float\[1d\] at another"),
    (assigns_nonlocal, 1.0, "a nonlocal statement"),
    (misspelled_keyword, np.ones(3), "unexpected keyword argument 'axsi'"),
    (takes_kwargs, 1.0, r"\*args / \*\*kwargs parameters"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_errors_name_the_users_construct_and_line(fn, arg, message):
    line = inspect.getsourcelines(fn)[1]
    kwargs = {"k": 2.0} if fn is takes_kwargs else {}
    with pytest.raises(srcad.UnsupportedError, match=message) as info:
        srcad.grad(fn, mode="source")(arg, **kwargs)
    where = str(info.value).split(": ")[0]
    assert where.startswith(f"{__file__}:") and int(where.rsplit(":", 1)[1]) >= line
    assert "_t" not in str(info.value).split("\n")[0]  # never a srcad temporary


def keeps_a_dict(x):
    d = {"k": x}
    return d["k"] * 2.0


def shifts(x):
    return x * (3 << 1)


def defines_a_class(x):
    class Holder:
        pass
    return x * 2.0


def stops_by_a_local_exception(x):
    class Stop(Exception):
        pass
    try:
        if x > 0.0:
            raise Stop()
        y = x
    except Stop:
        y = x ** 2
    return y


@pytest.mark.parametrize("fn,message", [(keeps_a_dict, r"a dict display \(\{...\}\)"),
                                        (shifts, "the operator <<"),
                                        (defines_a_class, "a class defined in the function"),
                                        (stops_by_a_local_exception,  # (was "name 'Stop' is
                                         "a class defined in the function")])  # not defined")
def test_refused_constructs_are_named_as_the_user_writes_them(fn, message):
    # (found by an attack: messages named syntax tree nodes, 'Dict', 'LShift', 'ClassDef')
    with pytest.raises(srcad.UnsupportedError, match=f"{__file__}:[0-9]+: {message}"):
        srcad.grad(fn, mode="source")(1.5)


def seeded_draw(x):
    random.seed(1)
    return x * random.random()


def test_a_standard_library_function_is_not_inlined_as_the_users():
    # (found by an attack: random.seed was inlined, and refused at a line of CPython's
    # random.py for its super() call)
    with pytest.raises(srcad.UnsupportedError, match=f"{__file__}:[0-9]+: ") as info:
        srcad.grad(seeded_draw, mode="source")(0.7)
    assert "random.py" not in str(info.value)
    with pytest.warns(srcad.FallbackWarning, match=__file__):
        g = srcad.grad(seeded_draw)(0.7)
    random.seed(1)
    assert g == random.random()


async def coroutine(x):
    return x


def returns_nothing(x):
    x * 2.0


@pytest.mark.parametrize("fn,message", [
    (generator, r"generator is a generator \(yield\)"),
    (coroutine, "coroutine is an async function"),
    (returns_nothing, r"returns_nothing returns nothing \(no `return` of a value\)")])
def test_what_returns_no_number_is_refused_in_every_mode(fn, message):
    # (found by an attack: mode="auto" sent these to the tape, which then failed on what they
    # returned, and `srcad explain` said they ran on the tape)
    for mode in ("auto", "source"):
        with pytest.raises(UserCodeError, match=f"{__file__}:[0-9]+: {message}"):
            srcad.grad(fn, mode=mode)(1.0)


def slices_of_two_lengths(x, b):
    y = x * 2.0
    return np.sum(np.exp(x[0:b] * x[b:]) * y[b:])


def singular_solve(A, b):
    return np.sum(np.linalg.solve(A, b) ** 2)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("transform", ["grad", "jvp", "hessian", "vjp"])
def test_errors_of_the_generated_code_name_the_users_line(transform, jit):
    # (found by an attack: compiled code raised Numba's "unable to broadcast argument 1 to
    # output array" at line 1 of the generated module; the generated Python, NumPy's error at
    # a line of the generated code)
    grad = srcad.grad(slices_of_two_lengths, jit=jit)
    hessian = srcad.hessian(slices_of_two_lengths, jit=jit)
    call = {"grad": lambda x: grad(x, 2),
            "jvp": lambda x: srcad.jvp(slices_of_two_lengths, (x, 2), (x, 0), jit=jit),
            "hessian": lambda x: hessian(x, 2),
            "vjp": lambda x: srcad.vjp(slices_of_two_lengths, x, 2, jit=jit)[1](1.0)}[transform]
    call(np.linspace(0.1, 0.4, 4))  # (then the same types again: the fast path of a call)
    with pytest.raises(ValueError, match=r"could not be broadcast together with shapes") as info:
        call(np.linspace(0.1, 0.5, 5))
    line = inspect.getsourcelines(slices_of_two_lengths)[1] + 2
    assert info.value.__notes__ == [(
        f"(raised where srcad's generated code computes test_errors.py:{line}: "
        "return np.sum(np.exp(x[0:b] * x[b:]) * y[b:]))")]


def rows_plus_a_column(A, v):
    return np.sum(A + v)


@pytest.mark.parametrize("jit", [True, False])
def test_a_broadcast_of_two_ranks_that_fails_names_the_users_line(jit):
    # (found by an attack: the loop nest of a broadcast had no place in the user's source)
    with pytest.raises(ValueError, match=r"\(3, 4\) and arg 1 with shape \(3,\)") as info:
        srcad.grad(rows_plus_a_column, jit=jit)(np.ones((3, 4)), np.ones(3))
    line = inspect.getsourcelines(rows_plus_a_column)[1] + 1
    assert info.value.__notes__ == [
        f"(raised where srcad's generated code computes test_errors.py:{line}: "
        "return np.sum(A + v))"]


@pytest.mark.parametrize("jit", [True, False])
def test_a_singular_matrix_in_the_generated_code_names_the_users_line(jit):
    A = np.ones((3, 3))
    with pytest.raises(np.linalg.LinAlgError) as info:
        srcad.grad(singular_solve, jit=jit)(A, np.ones(3))
    line = inspect.getsourcelines(singular_solve)[1] + 1
    assert f"test_errors.py:{line}: return np.sum(np.linalg.solve(A, b) ** 2)" in \
        info.value.__notes__[0]


def sliced_by_an_argument(x, s):
    return np.sum(x[s] ** 2)


@pytest.mark.parametrize("index", [slice(0, 2), Ellipsis], ids=["slice", "ellipsis"])
def test_a_slice_passed_as_an_argument_is_refused_by_name_and_taken_by_the_tape(index, rng):
    """(an attack: "cannot infer the type of x[s]" did not say the argument was the cause)"""
    x = rng.normal(size=4)
    with pytest.raises(srcad.UnsupportedError, match=rf"argument 's' of sliced_by_an_argument "
                       rf"is {re.escape(repr(index))}: srcad's source transform takes"):
        srcad.grad(sliced_by_an_argument, mode="source")(x, index)
    with pytest.warns(srcad.FallbackWarning):
        g = srcad.grad(sliced_by_an_argument)(x, index)
    check.compare(lambda v: sliced_by_an_argument(v, index), (x,), [0], [g])


def summed_over_an_axis_twice(x):
    return np.sum(np.sum(x, axis=(0, 0)))


def test_a_call_refused_on_stand_in_values_says_what_it_raised(rng):
    """(found by an attack: a duplicate axis was "a library call ... which this one refuses",
    not NumPy's error)"""
    with pytest.raises(srcad.UnsupportedError, match=r"stand-in values, where it raised "
                       r"ValueError: duplicate value in 'axis'\)"):
        srcad.grad(summed_over_an_axis_twice, mode="source")(rng.normal(size=(2, 3)))
