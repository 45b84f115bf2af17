"""Transform time grows about linearly with the size of the function (straight-line length,
loop nesting depth, the number of terms in one expression), with no recursion limit hit; a
failure inside srcad's transform falls back to the tape in mode="auto", saying why.

Times are not asserted (machines differ): the sizes are chosen so that a super-linear
transform would take minutes, which the CI time limit catches."""

import importlib.util
import warnings

import numpy as np
import pytest

import srcad
from srcad import pipeline
from srcad.compiler import typeinfer


def load(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text("import numpy as np\n\n" + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def straight_line(n):
    lines = ["def f(x, y):", "    a = x * y"]
    lines += [f"    a = a * 0.5 + np.sin(a) * {k % 7 + 1}.0 - y" for k in range(n)]
    return "\n".join(lines + ["    return a"]) + "\n"


def nested_loops(depth):
    lines, indent = ["def f(x, y):", "    s = 0.0"], "    "
    for d in range(depth):
        lines.append(f"{indent}for i{d} in range(2):")
        indent += "    "
        lines.append(f"{indent}s = s * 0.9 + np.sin(x) * y")
    return "\n".join(lines + ["    return s"]) + "\n"


def long_sum(n):
    return "def f(x, y):\n    return " + " + ".join(f"x * {k}.0" for k in range(n)) + " + y\n"


def expected_straight_line(x, y, n):
    a, da = x * y, y  # d/dx
    for k in range(n):
        a, da = a * 0.5 + np.sin(a) * (k % 7 + 1) - y, da * (0.5 + np.cos(a) * (k % 7 + 1))
    return da


@pytest.mark.parametrize("n", [10, 100, 400])
def test_straight_line_code_of_any_length(tmp_path, n):
    f = load(tmp_path, f"straight{n}", straight_line(n))
    g = srcad.grad(f, mode="source", jit=False)
    assert np.isclose(g(0.3, 0.7), expected_straight_line(0.3, 0.7, n))


@pytest.mark.parametrize("depth", [3, 6, 9, 12])
def test_loops_nested_deeply(tmp_path, depth):
    f = load(tmp_path, f"nested{depth}", nested_loops(depth))
    generated = pipeline.transform(f, ("x", "y"), (typeinfer.FLOAT, typeinfer.FLOAT))
    value, bx, by = generated.gradient(np.float64(0.3), np.float64(0.7))
    assert np.isclose(value, f(0.3, 0.7))
    srcad.gradcheck(f, (0.3, 0.7), wrt=(0, 1), jit=False)


@pytest.mark.parametrize("n", [250, 1200])
def test_an_expression_with_thousands_of_terms(tmp_path, n):
    f = load(tmp_path, f"long_sum{n}", long_sum(n))
    assert srcad.grad(f, wrt=(0, 1), mode="source", jit=False)(1.0, 2.0) == \
        (sum(float(k) for k in range(n)), 1.0)


def test_an_internal_failure_falls_back_to_the_tape(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("_t2")
    monkeypatch.setattr(pipeline.cleanup, "cleanup", broken)

    def f(x):
        return x * x * 3.0
    with pytest.warns(srcad.FallbackWarning, match=r"failed \(KeyError.*bug in srcad"):
        assert srcad.grad(f)(2.0) == 12.0
    with pytest.raises(srcad.UnsupportedError, match="bug in srcad"):
        srcad.grad(f, mode="source")(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert srcad.grad(f, mode="tape")(2.0) == 12.0
