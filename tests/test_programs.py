"""Every program in programs.py, w.r.t. all its float arguments, in both jit modes,
against central finite differences on random inputs (and its value against the function's)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from tests import programs


@pytest.mark.parametrize("fn", programs.PROGRAMS, ids=lambda f: f.__name__)
def test_gradient_matches_finite_differences(fn, jit, rng):
    for _ in range(2):
        args = programs.make_inputs(fn, rng)
        wrt = programs.float_params(fn, args)
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with warnings.catch_warnings():
            warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
            value, grads = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
        for a, b in zip(args, before):
            np.testing.assert_array_equal(a, b)  # the caller's arrays are never modified
        np.testing.assert_allclose(value, fn(*before), rtol=1e-12, atol=1e-12)
        check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", programs.PROGRAMS, ids=lambda f: f.__name__)
def test_tape_agrees_with_source(fn, rng):
    args = programs.make_inputs(fn, rng)
    wrt = programs.float_params(fn, args)
    source_grads = srcad.grad(fn, wrt=wrt, mode="source", jit=False)(*args)
    tape_grads = srcad.grad(fn, wrt=wrt, mode="tape")(*args)
    for s, t in zip(source_grads, tape_grads, strict=True):
        np.testing.assert_allclose(s, t, rtol=1e-9, atol=1e-12)


NESTED = [fn for fn in programs.PROGRAMS if fn.__name__.startswith("checkpoint_") or
          fn.__name__ == "loop_reads_array_overwritten_later"]


@pytest.mark.parametrize("fn", NESTED, ids=lambda f: f.__name__)
def test_checkpointed_loops_match_finite_differences(fn, jit, rng, monkeypatch):
    # re-run every eligible loop's trips in the reverse sweep, whatever the cost model says
    from srcad import api
    from srcad.transforms import reverse
    monkeypatch.setattr(api, "_COMPILED", {})
    monkeypatch.setattr(reverse.Differentiator, "rerun_is_cheaper", lambda self, path, loop: True)
    args = programs.make_inputs(fn, rng)
    wrt = programs.float_params(fn, args)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        g = srcad.grad(fn, wrt=wrt, mode="source", jit=jit)
        grads = g(*args)
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", programs.PROGRAMS, ids=lambda f: f.__name__)
def test_every_value_saved_is_read_back(fn, rng):
    """The forward sweep saves only what the reverse sweep restores: a save buffer written and
    never read costs a store per trip and memory for every trip (the GMM's accumulators)."""
    import re
    args = programs.make_inputs(fn, rng)
    wrt = programs.float_params(fn, args)
    text = srcad.source(srcad.grad(fn, wrt=wrt, mode="source", jit=False), *args)
    for buf in set(re.findall(r"\b(_\w+_(?:saves|snapshots|shapes)\d*)\b", text)):
        read = re.search(rf"=\s*{buf}\[|{buf}\.pop\(\)|rt\.saved_(array|shape)\((\w+, )?{buf}\b",
                         text)
        assert read, f"{buf} is filled and never read:\n{text}"


_SOURCES = """
import hashlib, numpy as np, srcad
from tests import programs
digest = hashlib.sha256()
for fn in programs.PROGRAMS[::3]:  # (a third of the corpus: one run takes seconds)
    args = programs.make_inputs(fn, np.random.default_rng(1))
    digest.update(srcad.source(srcad.grad(fn, wrt=programs.float_params(fn, args),
                                          mode="source"), *args).encode())
print(digest.hexdigest())
"""


def test_the_generated_code_does_not_depend_on_the_hash_seed(tmp_path):
    # (found comparing the corpus's sources: the adjoint of an array literal's rows named its
    # temporaries in the order of a set of strings, which Python's hash seed decides)
    assert programs.matrix_literals_of_elements in programs.PROGRAMS[::3]  # (that program)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, SRCAD_CACHE_DIR=str(tmp_path / seed),
                   PYTHONPATH=root)
        done = subprocess.run([sys.executable, "-c", _SOURCES], env=env, cwd=root,
                              capture_output=True, text=True, timeout=600, check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1
