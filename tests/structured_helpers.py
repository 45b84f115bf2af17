"""Finite differences and comparisons for structured arguments, and the modes every gradient
test runs in."""

import inspect
import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from srcad.compiler import pytrees

MODES = [("source", True), ("source", False), ("tape", True), ("auto", True)]
MODE_IDS = ["source-jit", "source-python", "tape", "auto"]


@pytest.fixture(params=MODES, ids=MODE_IDS)
def mode(request):
    return request.param


def options(mode):
    name, jit = mode
    return {"mode": name, "jit": jit}


def compiled(gradient):
    """The gradient callable, failing the test if it runs on the tape in mode="auto"."""
    def call(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("error", srcad.FallbackWarning)
            return gradient(*args)
    return call


def numeric_grad(fn, args, wrt):
    """Central differences of fn w.r.t. args[wrt] (an index or a parameter name), a structure
    like it."""
    if isinstance(wrt, str):
        wrt = list(inspect.signature(fn).parameters).index(wrt)
    leaves, treedef = pytrees.flatten(args[wrt])

    def flat_fn(*flat):
        new = list(args)
        new[wrt] = treedef.unflatten(flat)
        return fn(*new)
    return treedef.unflatten(check.numeric_grad(flat_fn, leaves, k)
                             for k in range(len(leaves)))


def assert_tree_close(actual, expected, rtol=1e-6, atol=1e-8):
    actual_leaves, actual_def = pytrees.flatten(actual)
    expected_leaves, expected_def = pytrees.flatten(expected)
    assert actual_def == expected_def, f"structure {actual_def} != {expected_def}"
    for a, e in zip(actual_leaves, expected_leaves, strict=True):
        assert np.shape(a) == np.shape(e)
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def check_grad(fn, args, wrt=0, mode=("source", True), **kwargs):
    """srcad's gradient w.r.t. args[wrt] agrees with finite differences; returns it."""
    gradient = srcad.grad(fn, wrt=wrt, **options(mode), **kwargs)
    got = (compiled(gradient) if mode[0] == "auto" else gradient)(*args)
    assert_tree_close(got, numeric_grad(fn, args, wrt))
    return got
