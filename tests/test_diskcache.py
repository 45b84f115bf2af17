"""cache=True: a second process reuses the generated gradient (without running the pipeline)
and Numba's machine code; editing the function or a helper, a global's type, a custom_vjp
called by name or an njit option invalidates what was cached, and so does a tampered entry."""

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
    from srcad.compiler import normalize
    transformed, normalize_ = [], normalize.normalize
    normalize.normalize = lambda *a: transformed.append(1) or normalize_(*a)
    g = srcad.grad(model.loss, cache=True)
    print(g(np.linspace(0.1, 1.0, 5)).sum())
    print("hits", g._last.call.stats.cache_hits)
    print(bool(transformed))
""")


def run(tmp_path, transformed=None, **environ):
    """(the gradient's sum, Numba's cache hits) from a new process with `environ` added;
    `transformed`: whether the pipeline must have run (False: the generated gradient was
    reused)."""
    env = dict(os.environ, SRCAD_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]),
               PYTHONDONTWRITEBYTECODE="1", **environ)  # (a model edited within a second is read anew)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    if transformed is not None:
        assert out[2] == str(transformed)
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
    first, hits = run(tmp_path, transformed=True)
    assert hits.endswith("[])") or "hits" in hits
    second, hits = run(tmp_path, transformed=False)
    assert second == first
    assert "hits Counter()" not in hits and "hits" in hits  # numba loaded the machine code
    assert first == np.sum(2 * np.linspace(0.1, 1.0, 5))


def test_a_gradient_read_from_the_cache_imports_no_scipy_kernels(tmp_path):
    # (the key's fingerprint of `kn` once probed it for an attribute, which imports them)
    (tmp_path / "vectorised.py").write_text(
        "import numpy as np\n\ndef loss(x):\n    return np.sum(np.sum(np.sin(x), axis=0) ** 2)\n")
    script = ("import sys, numpy as np, srcad, vectorised\n"
              "srcad.grad(vectorised.loss, cache=True)(np.ones((3, 2)))\n"
              "print('srcad.special' in sys.modules)")
    env = dict(os.environ, SRCAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)]
    assert runs[1] == "False"


def test_editing_a_helper_invalidates(tmp_path):
    write_model(tmp_path, 2)
    run(tmp_path)
    write_model(tmp_path, 3)
    value, _ = run(tmp_path, transformed=True)
    assert np.isclose(value, np.sum(3 * np.linspace(0.1, 1.0, 5) ** 2))


def test_editing_the_function_or_a_globals_type_invalidates(tmp_path):
    (tmp_path / "helper.py").write_text("def term(v):\n    return v * v\n")
    model = "import numpy as np\nC = {c}\n\ndef loss(x):\n    return np.sum({body})\n"
    x = np.linspace(0.1, 1.0, 5)
    for c, body, expected, transformed in [
            ("2", "C * x * x", 2 * 2 * x, True), ("2", "C * x * x", 2 * 2 * x, False),
            ("3", "C * x * x", 3 * 2 * x, False),  # (a value: read at every call)
            ("2.5", "C * x * x", 2.5 * 2 * x, True),  # (another type)
            ("2.5", "C * x * x * x", 2.5 * 3 * x * x, True)]:
        (tmp_path / "model.py").write_text(model.format(c=c, body=body))
        value, _ = run(tmp_path, transformed=transformed)
        assert np.isclose(value, np.sum(expected))


def test_a_tampered_entry_is_not_read(tmp_path):
    write_model(tmp_path, 2)
    run(tmp_path, transformed=True)
    (entry,) = (tmp_path / "cache" / "generated").glob("*.entry")
    data = bytearray(entry.read_bytes())
    data[-5] ^= 1
    entry.write_bytes(bytes(data))
    value, _ = run(tmp_path, transformed=True)
    assert np.isclose(value, np.sum(2 * np.linspace(0.1, 1.0, 5)))
    run(tmp_path, transformed=False)  # (written again, signed)


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


def test_machine_code_is_kept_per_optimisation_level(tmp_path):
    """Numba's own index ignores NUMBA_OPT: code compiled at -O0 must not be run at -O3."""
    write_model(tmp_path, 2)
    value, _ = run(tmp_path, NUMBA_OPT="0")
    assert run(tmp_path, NUMBA_OPT="3") == (value, "hits Counter()")
    assert run(tmp_path, NUMBA_OPT="3")[1] != "hits Counter()"


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


# ---- found by an attack on the reuse across processes ----------------------------------------

X = np.linspace(0.1, 1.0, 5)


def write(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))


def test_a_builtin_hidden_by_a_new_global_is_not_reused(tmp_path):
    loop = """
        def loss(x):
            s = 0.0
            for i in range(x.shape[0]):
                s += abs(x[i]) * 2.0
            return s
    """
    write(tmp_path, model=loop)
    assert np.isclose(run(tmp_path, transformed=True)[0], 2.0 * X.size)
    write(tmp_path, model=textwrap.dedent(loop) + "\n\ndef abs(v):\n    return v * v\n")
    assert np.isclose(run(tmp_path, transformed=True)[0], np.sum(4.0 * X))


CHAIN = "".join(f"""
    @numba.njit
    def d{k}(v):
        return d{k + 1}(v)
""" for k in range(1, 5))  # (d1 calls d2 ... calls d5: five helpers deep)
VJP_MODEL = """
    import numba
    import numpy as np
    import srcad
    import cfg

    K = np.float32({k})

{chain}
    @numba.njit{options}
    def d5(v, c={helper_default}):
        return {deep} * c * v * (1.0 + ((v + 1e16) - 1e16))

    @srcad.custom_vjp
    def sq(v):
        return v * v

    @sq.defvjp
    def sq_vjp(g, ans, v, c={vjp_default}):
        return g * cfg.C * K * c * d1(v)

    def loss(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += sq(x[i])
        return s
"""


CHANGES = {"module attribute": dict(c=3.0), "numpy scalar": dict(k=3.0),
           "fifth helper": dict(deep=3.0), "fifth helper's default": dict(helper_default=3.0),
           "the vjp's default": dict(vjp_default=3.0),
           # (without fastmath (v + 1e16) - 1e16 is 0 for v <= 1; with it, v)
           "fifth helper's fastmath": dict(options="(fastmath=True)")}


def test_values_numba_compiles_into_a_custom_vjp_are_in_its_key(tmp_path):
    """The machine code of a gradient calling a custom_vjp freezes what the vjp reads: a
    module's attribute, a NumPy scalar, a helper's helper's ... code, the defaults a call leaves
    out (a helper's, the vjp's) and a helper's Numba options. (Each change is made alone to
    the first model, one process each, the cache holding what the ones before kept.)"""
    def gradient(c=2.0, k=1.0, deep=1.0, helper_default=1.0, vjp_default=1.0, options=""):
        write(tmp_path, cfg=f"C = {c}\n", model=VJP_MODEL.format(
            chain=CHAIN, k=k, deep=deep, helper_default=helper_default,
            vjp_default=vjp_default, options=options))
        return np.sum(c * k * deep * helper_default * vjp_default * X *
                      (1.0 + (X if options else 0.0)))
    for change, values in [("none", {}), *CHANGES.items()]:
        expected = gradient(**values)  # (writes the modules)
        # (-O0 folds nothing)
        assert np.isclose(run(tmp_path, NUMBA_OPT="3")[0], expected), change


def test_an_index_restored_from_earlier_compiles_again(tmp_path):
    """Someone who can write the cache puts back a signed index of an earlier process, which
    names a data file since written for another signature."""
    model = "import numpy as np\nA = np.array([1, 2, 3, 4, 5], dtype=np.{})\n\n" \
        "def loss(x):\n    return np.sum(A * x * x)\n"
    generated = tmp_path / "cache" / "generated"
    write(tmp_path, model=model.format("float64"))
    run(tmp_path)
    saved = {p.name: p.read_bytes() for p in generated.glob("*.nbi")}
    for p in [*generated.glob("*.nbi"), *generated.glob("*.nbc")]:
        p.unlink()
    write(tmp_path, model=model.format("int64"))
    run(tmp_path)
    for name, data in saved.items():
        (generated / name).write_bytes(data)
    write(tmp_path, model=model.format("float64"))
    assert np.isclose(run(tmp_path)[0], np.sum(2 * np.arange(1, 6) * X))


def test_srcad_cache_turns_the_cache_on_for_every_gradient(tmp_path, monkeypatch):
    write_model(tmp_path, 3)
    script = SCRIPT.replace("cache=True", "")
    env = dict(os.environ, SRCAD_CACHE_DIR=str(tmp_path / "cache"), SRCAD_CACHE="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.split("\n")
            for _ in range(2)]
    assert [r[2] for r in runs] == ["True", "False"]  # (the second process reused the first's)
    x = np.linspace(0.1, 1.0, 5)
    assert float(runs[1][0]) == pytest.approx(np.sum(3 * x ** 2))


@pytest.mark.parametrize(("value", "on"), [("1", True), ("on", True), ("0", False),
                                           ("", False), ("maybe", False)])
def test_srcad_cache_values(monkeypatch, value, on):
    from srcad import diskcache
    monkeypatch.setenv("SRCAD_CACHE", value)
    if value == "maybe":
        with pytest.warns(srcad.CacheWarning, match=r"is not 1 \(true, yes, on\) or 0"):
            assert diskcache.wanted(None) is on
    else:
        assert diskcache.wanted(None) is on
    assert diskcache.wanted(True) is True and diskcache.wanted(False) is False
