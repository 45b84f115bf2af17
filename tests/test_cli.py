"""The `srcad` command: show, explain, --version, and its one error handler (a one-line
message on stderr, no traceback, a nonzero exit status) for every kind of wrong input."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import srcad
from srcad import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import math

        import numpy as np

        def loss(w, x):
            return np.sum((x @ w) ** 2)

        def looped(x, a):
            s = 0.0
            for i in range(len(x)):
                s += math.sin(a * x[i])
            return s

        def scalar(a, b):
            return math.sin(a) * b

        def vector(x):
            return np.sin(x)

        def fails(a):
            raise RuntimeError("the user's own bug")

        def noparams():
            return 1.0

        def keyed(x, y=2.0, *, z=3.0, w):
            return x * y * z * w

        class Model:
            scale = 2.0

            def energy(self, x):
                return self.scale * np.sum(x ** 2)

            @staticmethod
            def curve(x):
                return np.sum(np.sin(x))

        model = Model()
    """))
    return path


def error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_show_and_explain_with_args(model, capsys):
    assert cli.main(["show", f"{model}:loss", "--args", "np.ones(3), np.ones((4, 3))"]) == 0
    assert capsys.readouterr().out.startswith("def loss_grad(w, x, b_out=1.0):")
    assert cli.main(["explain", f"{model}:loss", "--wrt", "w",
                     "--args", "np.ones(3), np.ones((4, 3))"]) == 0
    assert "source+numba" in capsys.readouterr().out


def test_methods_are_named_by_their_attributes(model, capsys):
    assert cli.main(["show", f"{model}:model.energy", "--args", "np.ones(3)"]) == 0
    assert capsys.readouterr().out.startswith("def energy_grad(x, self_scale, b_out=1.0):")
    assert cli.main(["show", f"{model}:Model.curve", "--args", "np.ones(3)"]) == 0
    assert "np.cos" in capsys.readouterr().out
    assert cli.main(["explain", f"{model}:Model.missing"]) != 0
    assert "has no function 'Model.missing'" in error_line(capsys)


def test_show_and_explain_forward_mode_and_hvp(model, capsys):
    args = ["--args", "np.linspace(0, 1, 4), 0.5"]
    assert cli.main(["show", f"{model}:looped", "--transform", "jvp", "--wrt", "x,a", *args]) == 0
    assert capsys.readouterr().out.startswith("def looped_jvp(x, a, dx, da):")
    assert cli.main(["show", f"{model}:looped", "--transform", "hvp", *args]) == 0
    assert capsys.readouterr().out.startswith("def looped_jvp_grad(x, a, dx, b_out=1.0):")
    assert cli.main(["explain", f"{model}:scalar", "--transform", "hvp"]) == 0
    assert "scalar: hvp by source transformation" in capsys.readouterr().out
    assert cli.main(["show", f"{model}:loss", "--transform", "nosuch"]) == 2
    assert "invalid choice: 'nosuch'" in error_line(capsys)


def test_explain_says_forward_mode_runs_on_the_tape_what_the_source_refuses(tmp_path, capsys):
    path = tmp_path / "recursive.py"
    path.write_text("def power(x, n):\n    return x if n == 0 else x * power(x, n - 1)\n")
    for transform in ("jvp", "hvp"):
        assert cli.main(["explain", f"{path}:power", "--transform", transform,
                         "--args", "2.0, 3"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"power: {transform} on the runtime tape") and "recursi" in out
    assert "power: tape" in srcad.explain(srcad.grad(_power_of(path)), 2.0, 3)
    capsys.readouterr()


def _power_of(path):
    return cli.load_function(f"{path}:power")


def test_scalar_function_needs_no_args(model, capsys):
    assert cli.main(["show", f"{model}:scalar", "--wrt", "0,1"]) == 0
    assert "def scalar_grad(a, b" in capsys.readouterr().out
    assert cli.main(["explain", f"{model}:scalar"]) == 0
    assert "every parameter without a default taken to be a float" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["show", "explain"])
def test_array_parameters_without_args_are_refused_with_what_to_pass(model, capsys, command):
    assert cli.main([command, f"{model}:looped"]) == 2
    line = error_line(capsys)
    assert line.startswith(f"srcad {command}: looped uses its parameter 'x' as an array")
    assert "--args \"np.ones(3), 1.0\"" in line


def test_defaults_keyword_only_parameters_and_keyword_args(model, capsys):
    # (found by a helper's attack: every parameter was guessed a float by position, and the
    # message suggested as many arguments again)
    assert cli.main(["show", f"{model}:keyed"]) == 0
    assert "def keyed_grad(x, y, z, w, b_out=1.0):" in capsys.readouterr().out
    assert cli.main(["show", f"{model}:keyed", "--args", "1.5, z=np.float64(2.0), w=0.5",
                     "--wrt", "z"]) == 0
    assert "def keyed_grad(x, y, z, w, b_out=1.0):" in capsys.readouterr().out
    assert cli.main(["explain", f"{model}:keyed", "--args", "1.5, w=0.5"]) == 0
    assert cli.suggest_args(cli.load_function(f"{model}:keyed"), {"x"}) == "np.ones(3), w=1.0"


def test_a_file_with_bytes_that_are_not_utf8_in_a_comment(tmp_path, capsys):
    # (found by a helper's attack: Python imports it; srcad said its source was not available)
    path = tmp_path / "latin.py"
    path.write_bytes(b"def f(x):\n    return x * 2  # \xff\xfe\n")
    assert cli.main(["show", f"{path}:f"]) == 0
    assert "bx = b_out * 2" in capsys.readouterr().out


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"srcad {srcad.__version__}"


@pytest.mark.parametrize("argv,status,message", [
    (["show", "{model}:loss", "--args", "np.onez(3)"], 2,
     "srcad show: --args 'np.onez(3)': AttributeError: module 'numpy' has no attribute 'onez'"),
    (["show", "{model}:loss", "--args", "np.ones(3"], 2, "srcad show: --args 'np.ones(3': "),
    (["show", "{model}:loss", "--args", "np.ones(3)"], 2,
     "srcad show: --args gives 1 argument(s) for loss(w, x)"),
    (["show", "/no/such/file.py:f"], 1, "srcad show: no such file: /no/such/file.py"),
    (["show", "{model}:nosuch"], 1, "has no function 'nosuch' (it defines: Model, fails, keyed"),
    (["show", "model.py"], 2, "srcad show: expected FILE.py:FUNCTION, got 'model.py'"),
    (["explain", "{model}:scalar", "--wrt", "c"], 2,
     "srcad explain: --wrt c: scalar has no parameter 'c' (its parameters: a, b)"),
    (["show", "{model}:scalar", "--traceback", "--wrt", "c"], 2, "--wrt c: scalar has no"),
    (["show", "{model}:noparams"], 2, "noparams has no parameters: there is nothing to"),
    (["show", "{model}:vector", "--args", "np.ones(3)"], 1,
     "srcad show: TypeError: vector returns an array"),
    (["nosuch"], 2, "srcad: argument COMMAND: invalid choice: 'nosuch'"),
    ([], 2, "srcad: the following arguments are required: COMMAND"),
    (["show"], 2, "srcad show: the following arguments are required: target"),
])
def test_user_errors_are_one_line(model, capsys, argv, status, message):
    assert cli.main([a.format(model=model) for a in argv]) == status
    assert message in error_line(capsys)


def test_errors_inside_the_users_module_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import nosuchmodule\n\ndef f(a):\n    return a\n")
    assert cli.main(["show", f"{broken}:f"]) == 1
    assert error_line(capsys) == (f"srcad show: cannot import {broken}: {broken}:1: "
                                  "ModuleNotFoundError: No module named 'nosuchmodule'")


@pytest.mark.parametrize("command", ["show", "bench"])
def test_a_module_that_exits_or_a_folder_is_said_so(tmp_path, capsys, command):
    # (found by an attack: a module calling sys.exit(3) at import ended srcad with status 3
    # and no word; a folder named x.py was "no such file")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n\ndef f(a):\n    return a * a\n")
    extra = ["-q"] if command == "bench" else []
    assert cli.main([command, f"{exits}:f", "--args", "1.0", *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"srcad {command}: cannot import {exits}: it calls sys.exit(3) when imported "
                   "(keep that under `if __name__ == \"__main__\":`)")
    (tmp_path / "folder.py").mkdir()
    assert cli.main(["show", f"{tmp_path / 'folder.py'}:f", "--args", "1.0"]) == 1
    assert "folder.py is a directory, not a Python file" in error_line(capsys)


@pytest.mark.parametrize("where", ["before", "after"])
def test_traceback_on_request(model, capsys, where):
    argv = ["show", f"{model}:vector", "--args", "np.ones(3)"]
    argv = ["--traceback", *argv] if where == "before" else [*argv, "--traceback"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "returns an array" in err


def test_args_as_python_writes_them(model, capsys):
    """A trailing comma is Python; an empty --args is no arguments."""
    assert cli.main(["show", f"{model}:scalar", "--args", "1.5, 0.5,"]) == 0
    assert capsys.readouterr().out.startswith("def scalar_grad(a, b, b_out=1.0):")
    assert cli.evaluate_args("  ") == ()


def test_show_and_explain_say_the_tape_runs_it_once(tmp_path, capsys):
    """With or without --args alike; no raw FallbackWarning on stderr."""
    path = tmp_path / "guarded.py"
    path.write_text("def guarded(x):\n    try:\n        y = x * x\n    except ValueError:\n"
                    "        y = x\n    return y\n")
    for args in ([], ["--args", "4.0"]):
        assert cli.main(["show", f"{path}:guarded", *args]) == 0
        captured = capsys.readouterr()
        assert captured.out.startswith("# guarded runs on the runtime tape:")
        assert captured.err == ""


def test_python_dash_m_srcad(model):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-m", "srcad", "show", f"{model}:nosuch"], env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "has no function 'nosuch'" in r.stderr


def test_a_new_subcommand_is_one_function():
    def add_hello(sub):
        p = sub.add_parser("hello")
        p.set_defaults(run=lambda opts: 7)

    original = cli.COMMANDS
    try:
        cli.COMMANDS = (*original, add_hello)
        assert cli.main(["hello"]) == 7
    finally:
        cli.COMMANDS = original


def test_a_failure_under_the_float_guess_says_what_to_pass(model, capsys, monkeypatch):
    def internal_error(*args, **kwargs):
        raise KeyError("_t2")

    monkeypatch.setattr(srcad.api, "source", internal_error)
    assert cli.main(["show", f"{model}:scalar"]) == 1
    assert error_line(capsys) == (
        "srcad show: KeyError: '_t2' (taking every argument of scalar to be a float; if some "
        "are arrays or integers, give example arguments, e.g. --args \"np.ones(3), np.ones(3)\")")


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    g = srcad.grad(lambda x: x * x, cache=True)
    assert g(3.0) == 6.0
    # (found by an attack: explain said "generated in memory" of a gradient in the disk cache)
    assert f"gradient generated in {tmp_path / 'cache' / 'generated'}" in srcad.explain(g, 3.0)
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "cache") in out and "(used; " in out and "1 generated module," in out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert cli.main(["cache", "info"]) == 0 and "0 generated modules" in capsys.readouterr().out


# ---- found by an attack on the command line ---------------------------------------------------

@pytest.mark.parametrize("stem", ["random", "numba", "math", "os.path"])
def test_a_file_named_as_a_module_replaces_nothing(tmp_path, capsys, stem):
    # (its module took that name in sys.modules: srcad failed inside itself, "module 'random'
    # has no attribute 'shuffle'", a later `import numba` found the user's file)
    folder = tmp_path / stem.replace(".", "_")
    folder.mkdir()
    (folder / f"{stem}.py").write_text("import math\n\ndef f(x):\n    return math.sin(x) * x\n")
    assert cli.main(["show", f"{folder / stem}.py:f", "--args", "0.5"]) == 0
    assert "np.cos(x)" in capsys.readouterr().out


def test_a_main_module_and_a_package_module_import_as_python_m_would(tmp_path, capsys):
    # (__main__.py ran its main program; a relative import failed: "no known parent package")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "util.py").write_text("import math\n\ndef helper(x):\n    return math.sin(x)\n")
    (package / "rel.py").write_text("from .util import helper\n\ndef g(x):\n"
                                    "    return helper(x) * x\n")
    (package / "__main__.py").write_text("import sys\n\ndef f(x):\n    return x * x\n\n"
                                         "if __name__ == '__main__':\n    sys.exit(7)\n")
    assert cli.main(["show", f"{package / 'rel.py'}:g", "--args", "0.5"]) == 0
    assert "np.cos(x)" in capsys.readouterr().out
    assert cli.main(["show", f"{package / '__main__.py'}:f", "--args", "0.5"]) == 0


def test_a_package_named_as_a_module_of_python_is_refused_by_name(tmp_path, capsys):
    # (found by an attack: `srcad show email/utils.py:quote` showed the standard library's
    # email.utils.quote; json/mine.py was "No module named 'json.mine'")
    for package, stem in (("email", "utils"), ("json", "mine"), ("zoneinfo", "mine")):
        before = sys.modules.get(package)
        folder = tmp_path / package
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / f"{stem}.py").write_text("def quote(x):\n    return x * x\n")
        assert cli.main(["show", f"{folder / stem}.py:quote", "--args", "0.5"]) == 1
        assert f"cannot import {folder / stem}.py as {package}.{stem}: '{package}' is " \
            in error_line(capsys)
        assert sys.modules.get(package) is before  # (the user's package was not imported)


def test_what_a_file_does_at_import_stays_out_of_the_output(tmp_path, capsys):
    # (found by an attack: its prints were mixed into the source `show` prints; a file taking
    # its folder out of sys.path, or clearing it, crashed srcad, "list.remove(x): x not in list")
    before = list(sys.path)
    for n, code in enumerate(("print('at import')", "import sys\nsys.path.pop(0)",
                              "import sys\nsys.path.clear()")):
        module = tmp_path / f"m{n}.py"
        module.write_text(f"{code}\n\ndef f(x):\n    return x * x\n")
        assert cli.main(["show", f"{module}:f", "--args", "0.5"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("def f_grad(x") and "at import" not in out
        assert set(before) <= set(sys.path)


def test_a_callable_that_is_not_a_python_function_is_named_so(model, capsys):
    # (found by an attack: `:scalar.__call__ --args ...` failed inside srcad, "vars() argument
    # must have __dict__ attribute"; without --args the hint offered an empty --args "")
    for args in (["--args", "1.0, 2.0"], []):
        assert cli.main(["show", f"{model}:scalar.__call__", *args]) == 1
        line = error_line(capsys)
        assert "it is not a Python function" in line and "--args" not in line


def test_a_reader_that_stops_early_ends_the_command_quietly(model):
    # (`srcad show ... | head` printed "BrokenPipeError" and, for explain, a hint about --args)
    for command in ("show", "explain"):
        done = subprocess.run(
            f"{sys.executable} -m srcad {command} {model}:scalar | true", shell=True,
            capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert done.stderr == "", done.stderr


def test_what_cannot_run_or_be_written_is_said_before_anything_runs(tmp_path, capsys,
                                                                     monkeypatch):
    # (explain said a generator "runs on the runtime tape" with status 0; bench found an
    # output path it could not write after the whole run; `cache info` said "used" for a folder
    # that cannot be made; `--trace` was taken for --traceback and did nothing)
    module = tmp_path / "gen.py"
    module.write_text("def gen(x):\n    yield x\n")
    assert cli.main(["explain", f"{module}:gen"]) == 1
    assert f"{module}:2: gen is a generator (yield)" in error_line(capsys)
    (tmp_path / "out.md").mkdir()
    assert cli.main(["bench", "--only", "logistic", "--markdown", str(tmp_path / "out.md")]) == 2
    assert "cannot be written (Is a directory)" in error_line(capsys)
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "afile" / "sub"))
    assert cli.main(["cache", "info"]) == 0
    assert "NOT used:" in capsys.readouterr().out
    assert cli.main(["--trace", "cache", "info"]) == 2
    assert "unrecognized arguments: --trace" in error_line(capsys)
    # (the hint offered a float for a range() bound, which then failed)
    counted = tmp_path / "counted.py"
    counted.write_text("def f(x, n, w):\n    t = 0.0\n    for i in range(n):\n"
                       "        t += w * x[i]\n    return t\n")
    assert cli.main(["show", f"{counted}:f"]) == 2
    assert '--args "np.ones(3), 3, 1.0"' in error_line(capsys)
    assert cli.main(["show", f"{counted}:f", "--args", "np.ones(3), 3, 1.0"]) == 0
    capsys.readouterr()
    # (bench ran, printed its header, then failed with status 1 on too many --args)
    assert cli.main(["bench", f"{counted}:f", "--args", "np.ones(3), 3, 1.0, 2.0"]) == 2
    assert "--args gives 4 argument(s) for f(x, n, w)" in error_line(capsys)


def test_a_warning_about_the_command_is_one_line_of_its_own():
    # (found by an attack: it named `<frozen runpy>:88` or the srcad script's `sys.exit(main())`)
    done = subprocess.run([sys.executable, "-m", "srcad", "cache", "info"], capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), SRCAD_CACHE="maybe"))
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "warning: srcad: SRCAD_CACHE='maybe' is not 1 (true, yes, on) or 0 (false, no, off); the "
        "disk cache stays off"]
