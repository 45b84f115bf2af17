"""A numba-compiled helper keeps, in its machine code, the global and closure numbers it read
when Numba compiled it; srcad differentiates its source, which reads them as they are now. When
one has changed since (found by an attack: value and gradient silently those of the new number,
on the source transform and on the tape), the gradient is refused by name in every mode."""

import importlib.util
import math
import warnings

import numba
import numpy as np
import pytest

import srcad
from srcad import check

SCALE = 2.0
TABLE = np.array([1.0, 2.0, 3.0])


@numba.njit
def scaled_tanh(x):
    return math.tanh(x) * SCALE


@numba.njit
def weighted(x):
    return np.sum(TABLE * x * x)


def through_scaled(x):
    return scaled_tanh(x) + x


def through_weighted(x):
    return weighted(x) + np.sum(x)


def test_an_unchanged_global_is_differentiated(rng):
    x = rng.uniform(-1, 1, 3)
    through_weighted(x)  # (compiled by Numba first)
    check.compare(through_weighted, [x], [0], [srcad.grad(through_weighted)(x)])
    y = float(rng.uniform(-1, 1))
    through_scaled(y)
    assert srcad.grad(through_scaled)(y) == pytest.approx(check.numeric_grad(through_scaled,
                                                                             [y], 0), rel=1e-7)


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_a_number_changed_since_numba_compiled_is_refused(mode):
    global SCALE
    through_scaled(0.3)
    saved, SCALE = SCALE, 7.0
    try:
        # (auto: no FallbackWarning, found by an attack: it said the tape would run it, and the
        # tape refuses it too; the suite's warnings filter turns one into an error)
        with pytest.raises(srcad.UnsupportedError, match="'SCALE' was 2.0 .* it is 7.0 now"):
            srcad.value_and_grad(through_scaled, mode=mode)(0.3)
        scaled_tanh.recompile()  # (the advice the message gives)
        value, g = srcad.value_and_grad(through_scaled, mode=mode)(0.3)
        assert value == pytest.approx(through_scaled(0.3), rel=1e-12)
        assert g == pytest.approx(check.numeric_grad(through_scaled, [0.3], 0), rel=1e-7)
    finally:
        SCALE = saved
        scaled_tanh.recompile()


def test_an_array_rebound_since_numba_compiled_is_refused(rng):
    global TABLE
    x = rng.uniform(-1, 1, 3)
    through_weighted(x)
    saved, TABLE = TABLE, np.array([7.0, 7.0, 7.0])
    try:
        with warnings.catch_warnings(), \
                pytest.raises(srcad.UnsupportedError, match="'TABLE' was an array of shape "
                              r"\(3,\) .* it is another array of shape \(3,\) now"):
            warnings.simplefilter("ignore", srcad.FallbackWarning)
            srcad.grad(through_weighted)(x)
        with pytest.raises(srcad.UnsupportedError, match="'TABLE' was an array"):
            srcad.jvp(through_weighted, (x,), (x,), mode="source")
    finally:
        TABLE = saved
        weighted.recompile()


CACHED_HELPERS = '''
import numba
import numpy as np

SCALE = 1.0
TABLE = np.array([[1.0, 2.0], [3.0, 4.0]])
LONG = np.arange(2000.0)


@numba.njit(cache=True)
def cubed(y):
    return SCALE * y ** 3


@numba.njit(cache=True)
def tabled(y):
    return TABLE[0, 1] * y ** 2


@numba.njit(cache=True)
def long_tabled(y):
    return LONG[2] * y ** 2


def through_cubed(x):
    return cubed(x) + x


def through_tabled(x):
    return tabled(x) + x


def through_long(x):
    return long_tabled(x) + x
'''


def _fresh_import(folder):
    """The module `cached_helpers` in `folder` imported anew, as a later process imports it:
    its numba functions load the machine code Numba's disk cache holds for them."""
    spec = importlib.util.spec_from_file_location("cached_helpers", folder / "cached_helpers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_a_number_changed_since_numba_cached_it_is_refused(tmp_path, mode):
    """Numba's disk cache keeps a global's value in its machine code and does not check it
    (found by an attack: a helper with cache=True, compiled by another process when the global
    had another value, gave the gradient of the new value with no warning)."""
    (tmp_path / "cached_helpers.py").write_text(CACHED_HELPERS)
    _fresh_import(tmp_path).through_cubed(0.5)  # (compiled, written to the cache, SCALE 1.0)
    unchanged = _fresh_import(tmp_path)
    assert srcad.grad(unchanged.through_cubed, mode=mode)(0.5) == pytest.approx(1.75)
    later = _fresh_import(tmp_path)
    later.SCALE = 3.0  # (before its first call: the cache holds what another process compiled)
    with pytest.raises(srcad.UnsupportedError, match="'SCALE' was 1.0 .* it is 3.0 now"):
        srcad.grad(later.through_cubed, mode=mode)(0.5)
    later.through_cubed(0.5)  # (loaded from the cache now)
    with pytest.raises(srcad.UnsupportedError, match="'SCALE' was 1.0 .* it is 3.0 now"):
        srcad.grad(later.through_cubed, mode=mode)(0.5)
    later.cubed.recompile()  # (the advice the message gives)
    value, g = srcad.value_and_grad(later.through_cubed, mode=mode)(0.5)
    assert value == pytest.approx(later.through_cubed(0.5), rel=1e-12)
    assert g == pytest.approx(check.numeric_grad(later.through_cubed, [0.5], 0), rel=1e-7)


def test_an_array_numba_cached_is_compared_by_its_printed_values(tmp_path):
    """An array in the cache's text is rounded to NumPy's print precision, and cut short when
    long: refused then, and when its printed values are not the array's of now."""
    (tmp_path / "cached_helpers.py").write_text(CACHED_HELPERS)
    first = _fresh_import(tmp_path)
    first.through_tabled(0.5), first.through_long(0.5)
    later = _fresh_import(tmp_path)
    assert srcad.grad(later.through_tabled, mode="source")(0.5) == pytest.approx(3.0)
    with pytest.raises(srcad.UnsupportedError, match="holds the array 'LONG'"):
        srcad.grad(later.through_long, mode="source")(0.5)
    later.long_tabled.recompile()
    assert srcad.grad(later.through_long, mode="source")(0.5) == pytest.approx(3.0)
    later = _fresh_import(tmp_path)
    later.TABLE = np.array([[1.0, 5.0], [3.0, 4.0]])
    with pytest.raises(srcad.UnsupportedError, match="holds the array 'TABLE'"):
        srcad.grad(later.through_tabled, mode="source")(0.5)


def not_calling_the_helper(x):
    return np.sum(2.0 * x ** 2)


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_changed_helper_the_function_does_not_call_is_no_concern(mode, rng):
    """(found by an attack: a numba function of the module whose value changed, called by no
    one, made every tape run in the process refuse: the tape refused it when patching the
    module's globals, not when it was called)"""
    global SCALE
    through_scaled(0.3)
    saved, SCALE = SCALE, 7.0
    try:
        x = rng.uniform(-1, 1, 3)
        np.testing.assert_allclose(srcad.grad(not_calling_the_helper, mode=mode)(x), 4 * x,
                                   rtol=1e-14)
    finally:
        SCALE = saved
        scaled_tanh.recompile()
