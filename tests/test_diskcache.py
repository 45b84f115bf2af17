"""cache=True: a second process reuses the generated module and Numba's machine code; editing
a helper's source, a custom_vjp called by name, or an njit option invalidates what was cached."""

import importlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import srcad

SRCAD_ROOT = os.path.dirname(os.path.dirname(srcad.__file__))  # (the srcad under test)

SCRIPT = textwrap.dedent("""
    import numpy as np, srcad, model
    g = srcad.grad(model.loss, cache=True)
    print(g(np.linspace(0.1, 1.0, 5)).sum())
    print("hits", g._last.call.stats.cache_hits)
""")


def run(tmp_path):
    env = dict(os.environ, SRCAD_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return float(out[0]), out[1]


def write_model(tmp_path, power):
    (tmp_path / "helper.py").write_text(f"def term(v):\n    return v ** {power}\n")
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import numpy as np
        from helper import term

        def loss(x):
            s = 0.0
            for i in range(x.shape[0]):
                s += term(x[i])
            return s
    """))


def test_second_process_reuses_the_cache(tmp_path):
    write_model(tmp_path, 2)
    first, hits = run(tmp_path)
    assert hits.endswith("[])") or "hits" in hits
    second, hits = run(tmp_path)
    assert second == first
    assert "hits Counter()" not in hits and "hits" in hits  # numba loaded the machine code
    assert first == np.sum(2 * np.linspace(0.1, 1.0, 5))


def test_editing_a_helper_invalidates(tmp_path):
    write_model(tmp_path, 2)
    run(tmp_path)
    write_model(tmp_path, 3)
    value, _ = run(tmp_path)
    assert np.isclose(value, np.sum(3 * np.linspace(0.1, 1.0, 5) ** 2))


def test_in_process_cache_is_shared_and_follows_the_running_code(tmp_path, monkeypatch):
    path = tmp_path / "cached_model.py"
    path.write_text("def loss(x):\n    return x * x * 3.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import cached_model
    first = srcad.grad(cached_model.loss, jit=False)
    assert first(2.0) == 12.0
    second = srcad.grad(cached_model.loss, jit=False)
    assert second(2.0) == 12.0 and second._last is first._last  # one compilation per process
    path.write_text("def loss(x):\n    return x * x * x * 2.0\n")  # edited, not reloaded
    assert srcad.grad(cached_model.loss, jit=False)(2.0) == 12.0  # what runs is still 3x^2
    importlib.reload(cached_model)
    third = srcad.grad(cached_model.loss, jit=False)
    assert third(2.0) == 24.0 and third._last is not first._last  # regenerated: 6x^2 at 2


def summed(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i] * 1e-3
    return s


def test_machine_code_is_kept_per_njit_option(tmp_path, monkeypatch):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    x = np.array([1e8, 1.0, -1e8, 1.0] * 64 + [3.3e-5] * 33)
    srcad.value_and_grad(summed, fastmath=True, cache=True)(x)
    g = srcad.value_and_grad(summed, fastmath=False, cache=True)
    assert g(x)[0] == srcad.value_and_grad(summed, jit=False)(x)[0]  # (in order, as Python)
    assert not g._last.call.stats.cache_hits  # (not fastmath's machine code, from the disk)


VJP_MODULE = """
import numpy as np, srcad
SCALE = {scale}

@srcad.custom_vjp
def sp(x):
    return np.log1p(np.exp(x))

@sp.defvjp
def sp_vjp(g, ans, x):
    return g / (1.0 + np.exp(-x)) * {factor}
"""


@pytest.mark.parametrize("edit", ["body", "global"])
def test_editing_a_custom_vjp_invalidates(tmp_path, monkeypatch, edit):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # (two versions in one second)
    helper, model = f"vjp_helper_{edit}", f"vjp_model_{edit}"
    (tmp_path / f"{model}.py").write_text(
        f"import numpy as np\nfrom {helper} import sp\n\n"
        "def loss(x):\n    return np.sum(sp(x) * 2.0)\n")
    x, values = np.array([0.5, 1.0]), []
    for scale in (1.0, 100.0):  # (the vjp multiplies by it, written in its body or a global)
        (tmp_path / f"{helper}.py").write_text(VJP_MODULE.format(
            scale=scale, factor=scale if edit == "body" else "SCALE"))
        for name in (helper, model):
            sys.modules.pop(name, None)
        values.append(srcad.grad(importlib.import_module(model).loss, cache=True)(x))
    assert np.allclose(values[1], 100 * values[0])
