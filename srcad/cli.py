"""The `srcad` command (also `python -m srcad`): show, explain, bench, cache.

Every subcommand is an argparse subparser added by one function in `COMMANDS`; it stores the
function that runs it as `run(opts) -> exit status`. To add a subcommand, write such a
function (`_add_show` below is the pattern) and list it in `COMMANDS`.

One error handler, in `main`: a `CommandError` (or any exception from srcad or the user's
code) is printed as one line on stderr, without a traceback, and the exit status is nonzero:
2 for wrong usage, 1 for a failure. `srcad --traceback ...` shows the traceback instead.
"""

import argparse
import ast
import contextlib
import functools
import hashlib
import importlib.util
import inspect
import math
import os
import sys
import textwrap
import traceback
import warnings
from pathlib import Path

EXAMPLE_ARGS = '"np.ones(3), 2.0"'


class CommandError(Exception):
    """A user error: printed as `srcad <command>: <message>`, exit status `status`."""

    def __init__(self, message, status=1, prog=None):
        super().__init__(message)
        self.status, self.prog = status, prog


class UsageError(CommandError):
    def __init__(self, message, prog=None):
        super().__init__(message, status=2, prog=prog)


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors go through the one handler as one line."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)", prog=self.prog)


# ---- subcommands --------------------------------------------------------------------------

def _add_show(sub):
    p = sub.add_parser("show", help="print the generated gradient (or jvp, hvp) source",
                       description="Print the Python source srcad generates for the gradient "
                                   "(--transform: jvp, hvp) of FILE.py:FUNCTION.")
    _target_arguments(p)
    p.set_defaults(run=_show)


def _add_explain(sub):
    p = sub.add_parser("explain", help="which mode srcad uses for a function, and why",
                       description="Say whether srcad differentiates FILE.py:FUNCTION by "
                                   "source transformation (with or without Numba) or on the "
                                   "runtime tape, and why.")
    _target_arguments(p)
    p.set_defaults(run=_explain)


def _add_bench(sub):
    from .bench import cli as bench_cli

    bench_cli.add_parser(sub)


def _add_cache(sub):
    p = sub.add_parser("cache", help="the disk cache (cache=True): where it is, what it "
                                     "holds; clear it")
    p.add_argument("action", choices=("info", "clear"))
    p.set_defaults(run=_cache)


def _cache(opts):
    from . import diskcache
    if opts.action == "clear":
        return _clear(diskcache)
    info = diskcache.info()
    state = "used" if info["trusted"] else f"NOT used: {info['problem']}"
    on = "on for every gradient (SRCAD_CACHE=1)" if diskcache.wanted(None) else \
        "used by gradients made with cache=True (SRCAD_CACHE=1: by every gradient)"
    print(f"{info['path']} ({state}; {on})\n{_count(info['entries'], 'generated module')}, "
          f"{info['bytes'] / 2 ** 20:.1f} MB of {info['limit_bytes'] / 2 ** 20:.0f} MB "
          "(SRCAD_CACHE_SIZE); the oldest are removed past that")
    if info["others"]:
        others = _count(len(info["others"]), "other entry", "other entries")
        print(f"{others} srcad did not write (`srcad cache clear` leaves them): "
              f"{_some(info['others'])}")
    if info["planted"]:
        planted = _count(len(info["planted"]), "link or folder", "links or folders")
        print(f"{planted} at names srcad writes files at (`srcad cache clear` removes them, "
              f"never what a link points to): {_some(info['planted'])}")
    print(f"Numba's files are signed with the key in {info['key']}")
    return 0


def _count(n, noun, plural=None):
    """'1 file', '2 files' ('1 other entry', '3 other entries' with the plural given)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _clear(diskcache):
    path = diskcache.info()["path"]
    try:
        result = diskcache.clear()
    except diskcache.CacheRefused as exc:
        raise CommandError(f"not clearing {path}, which srcad does not use: {exc}") from None
    print(f"removed {_count(result['files'], 'file')} from {path}")
    if result["others"]:
        others = _count(len(result["others"]), "other entry", "other entries")
        print(f"left {others} srcad did not write: {_some(result['others'])}")
    if result["kept"]:
        raise CommandError(f"could not remove {_count(len(result['kept']), 'entry', 'entries')}: "
                           f"{_some(result['kept'])}")
    return 0


def _some(paths, shown=5):
    names = ", ".join(Path(p).name for p in paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


COMMANDS = (_add_show, _add_explain, _add_bench, _add_cache)


def _target_arguments(p):
    p.add_argument("target", help="FILE.py:FUNCTION")
    p.add_argument("--wrt", help="argument index(es) or name(s), comma-separated (default 0)")
    p.add_argument("--transform", choices=("grad", "jvp", "hvp"), default="grad",
                   help="the derivative: grad (reverse mode, the default), jvp (forward mode, "
                        "along ones in the --wrt arguments) or hvp (Hessian-vector product "
                        "along ones)")
    p.add_argument("--args", help="example arguments as a Python expression (np, math and the "
                                  f"module's names are available), e.g. {EXAMPLE_ARGS} "
                                  "(keyword arguments too: \"np.ones(3), z=2.0\"); without it "
                                  "every parameter without a default is taken to be a float")
    p.add_argument("--parallel", action="store_true",
                   help="the gradient with parallel=True (its top-level loops run on every "
                        "thread where their trips are independent)")


def _show(opts):
    from .api import derivative_source

    fn, (args, kwargs) = _function_and_arguments(opts)
    text = _typed(fn, args or kwargs, lambda: derivative_source(
        opts.transform, fn, args, kwargs, parse_wrt(opts.wrt), opts.parallel))
    print(text, end="")
    return 0


def _explain(opts):
    import srcad

    fn, (args, kwargs) = _function_and_arguments(opts)
    _typed(fn, args or kwargs, lambda: print(srcad.explain(
        fn, *args, wrt=parse_wrt(opts.wrt), transform=opts.transform, parallel=opts.parallel,
        **kwargs)))
    if not args and not kwargs and inspect.signature(fn).parameters:
        print("  (every parameter without a default taken to be a float; give --args for arrays "
              "or integers)")
    return 0


def _typed(fn, example, action):
    """Run `action`; without example arguments, a failure may just mean the float guess was
    wrong, so the message says what to pass. (A FallbackWarning is not shown: what show and
    explain print already says that the tape runs the function, and why.)"""
    from .errors import FallbackWarning, UserCodeError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)
            return action()
    except Exception as exc:
        suggestion = suggest_args(fn, set(inspect.signature(fn).parameters))
        if example or not suggestion or \
                isinstance(exc, (CommandError, UserCodeError, BrokenPipeError)):
            raise  # (a UserCodeError is wrong whatever the arguments)
        raise CommandError(
            f"{describe(exc)} (taking every argument of {fn.__qualname__} to be a float; if "
            f"some are arrays or integers, give example arguments, e.g. --args "
            f"\"{suggestion}\")") from exc


# ---- the function and its example arguments -------------------------------------------------

def load_function(spec):
    """`path/to/module.py:func` (or `:obj.method`, `:Class.method`) -> the function object,
    or CommandError."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise UsageError(f"expected FILE.py:FUNCTION, got {spec!r}")
    module = load_module(path)
    fn = attribute_path(module, name)
    if fn is None:
        found = sorted(n for n, v in vars(module).items() if not n.startswith("_") and (
            (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == module.__name__
            or type(v).__module__ == module.__name__))  # (an object, for obj.method)
        raise CommandError(f"{path} has no function {name!r}"
                           + (f" (it defines: {', '.join(found)})" if found else ""))
    if not callable(fn):
        raise CommandError(f"{path}:{name} is not a function")
    return fn


def load_module(path):
    """Import the user's file: inside a package (folders holding __init__.py) by its dotted
    name, as `python -m` would, so its relative imports work; any other file under a private
    name, so that it neither replaces a module of its name (random.py) nor runs as __main__."""
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{path} is a directory, not a Python file" if file.is_dir() else
                           f"{path} is not a regular file" if file.exists() else
                           f"no such file: {path}")
    file = file.resolve()
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    # The file's imports see its folder first, as a script's do; what is imported later
    # (numba, by srcad) sees it last, so a numba.py of the user's replaces nothing of srcad's.
    before = list(sys.path)
    sys.path.insert(0, str(folder))
    try:
        if file.parent != folder:
            _check_package_name(path, parts, folder)
        # (what it prints goes to stderr: `srcad show`'s output is the source alone)
        with contextlib.redirect_stdout(sys.stderr):
            if file.parent != folder:
                return importlib.import_module(".".join(parts))
            digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
            name = f"_srcad_file_{digest}_{file.stem.replace('.', '_')}"
            spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
    except CommandError:
        raise
    except SystemExit as exc:
        raise exited_at_import(path, exc) from exc
    except Exception as exc:
        line = next((f"{path}:{frame.lineno}: " for frame in
                     reversed(traceback.extract_tb(exc.__traceback__))
                     if Path(frame.filename) == file), "")
        raise CommandError(f"cannot import {path}: {line}{describe(exc)}") from exc
    finally:  # (what the file's own code took out of sys.path is put back)
        now = [entry for entry in sys.path if entry != str(folder)]
        sys.path[:] = now + [entry for entry in before if entry not in now] + [str(folder)]


def _check_package_name(path, parts, folder):
    """A package named as a module already imported from elsewhere (or as one of the standard
    library's, which srcad's own imports would then get) cannot be imported by its name."""
    top = parts[0]
    imported = sys.modules.get(top)
    where = getattr(imported, "__file__", None)
    if imported is not None and (where is None or Path(where).resolve().parent != folder / top):
        clash = f"already the module {where or top} in this process"
    elif imported is None and top in sys.stdlib_module_names:
        clash = "the name of a module of Python's standard library"
    else:
        return
    raise CommandError(f"cannot import {path} as {'.'.join(parts)}: {top!r} is {clash} "
                       f"(rename the folder {folder / top})")


def exited_at_import(path, exc):
    """The CommandError for a module calling sys.exit when imported (said, not obeyed)."""
    return CommandError(f"cannot import {path}: it calls sys.exit({exc.code!r}) when imported "
                        "(keep that under `if __name__ == \"__main__\":`)")


def attribute_path(module, dotted):
    """`module.a.b` for `dotted` "a.b" (a function, or a method through its object), or None."""
    obj = module
    for attribute in dotted.split("."):
        obj = getattr(obj, attribute, None)
    return obj


def evaluate_args(expression, namespace=None, keywords=False):
    """`--args "np.ones(3), 2.0"` -> the tuple of arguments, or CommandError; with
    `keywords`, (args, kwargs) of `--args "np.ones(3), z=2.0"`."""
    import numpy as np

    names = {**(namespace or {}), "np": np, "numpy": np, "math": math,
             "_srcad_call_": lambda *args, **kwargs: (args, kwargs)}
    expression = expression.strip()
    try:
        args, kwargs = eval(f"_srcad_call_({expression})", names)
    except Exception as exc:
        raise CommandError(f"--args {expression!r}: {describe(exc)}", status=2) from exc
    if keywords:
        return args, kwargs
    if kwargs:
        raise UsageError(f"--args {expression!r}: give the arguments by position here")
    return args


def _function_and_arguments(opts):
    if opts.parallel and opts.transform != "grad":
        raise UsageError(f"--parallel is a gradient's option: it does not apply to "
                         f"--transform {opts.transform}")
    fn = load_function(opts.target)
    name = getattr(fn, "__qualname__", opts.target)
    params = list(inspect.signature(fn).parameters)
    if not params:
        raise UsageError(f"{name} has no parameters: there is nothing to differentiate")
    check_wrt(fn, parse_wrt(opts.wrt))
    if opts.args is not None:
        example = evaluate_args(opts.args, getattr(inspect.getmodule(fn), "__dict__", {}), True)
        try:
            inspect.signature(fn).bind(*example[0], **example[1])
        except TypeError as exc:
            raise UsageError(f"--args gives {len(example[0])} argument(s)"
                             f"{' and ' + ', '.join(example[1]) if example[1] else ''} for "
                             f"{name}{inspect.signature(fn)}: {exc}") from exc
        return fn, example
    arrays = array_parameters(fn)
    if arrays:
        param, what, line = arrays[0]
        raise UsageError(
            f"{name} uses its parameter {param!r} as an array ({what}, line {line}), so srcad "
            f"needs example arguments to know its type: add --args, e.g. "
            f"--args \"{suggest_args(fn, {a[0] for a in arrays})}\"")
    return fn, ((), {})


def array_parameters(fn):
    """[(parameter, how it is used, line)] for parameters the body uses as arrays: indexed,
    an attribute read (`x.shape`), `len(x)`, iterated over, or an operand of `@`."""
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return []
    params = set(inspect.signature(fn).parameters)
    found = []

    def note(node, what):
        if isinstance(node, ast.Name) and node.id in params:
            found.append((node.id, what.format(node.id), first + getattr(node, "lineno", 1) - 1))

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            note(node.value, "{}[...]")
        elif isinstance(node, ast.Attribute) and node.attr not in ("real", "imag"):
            note(node.value, "{}." + node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "len" and node.args:
            note(node.args[0], "len({})")
        elif isinstance(node, ast.For):
            note(node.iter, "for ... in {}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            note(node.left, "{} @ ...")
            note(node.right, "... @ {}")
    return sorted(found, key=lambda item: item[2])


def suggest_args(fn, arrays):
    """Example --args for the parameters without a default (keyword-only ones by name): an
    array for those used as arrays, an integer for those bounding a range(), else a float."""
    from .api import float_arguments

    args, kwargs = float_arguments(inspect.signature(fn))
    names = [p for p in inspect.signature(fn).parameters if p not in kwargs][:len(args)]
    counts = range_parameters(fn)

    def example(p):
        return "np.ones(3)" if p in arrays else "3" if p in counts else "1.0"

    return ", ".join([example(p) for p in names] + [f"{p}={example(p)}" for p in kwargs])


def range_parameters(fn):
    """The parameters the body passes to range() as they are (`for i in range(n)`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {a.id for node in ast.walk(tree) if isinstance(node, ast.Call) and
            isinstance(node.func, ast.Name) and node.func.id == "range"
            for a in node.args if isinstance(a, ast.Name)}


def parse_wrt(text):
    """`--wrt` text -> an int, a name, or a tuple of them (default 0)."""
    if text is None:
        return 0
    items = [int(t) if t.strip().lstrip("-").isdigit() else t.strip() for t in text.split(",")]
    if "" in items:
        raise UsageError(f"--wrt {text!r}: an empty item (give indices or names, e.g. 0,2)")
    return items[0] if len(items) == 1 else tuple(items)


def check_wrt(fn, wrt):
    """UsageError unless `wrt` (from parse_wrt) names each of fn's parameters at most once."""
    name = getattr(fn, "__qualname__", repr(fn))
    params = list(inspect.signature(fn).parameters)
    named = []
    for w in wrt if isinstance(wrt, tuple) else (wrt,):
        if w not in params and not (isinstance(w, int) and -len(params) <= w < len(params)):
            raise UsageError(f"--wrt {w}: {name} has no parameter {w!r} (its parameters: "
                             f"{', '.join(params)})")
        named.append(params[w] if isinstance(w, int) else w)
    twice = sorted({p for p in named if named.count(p) > 1})
    if twice:
        raise UsageError(f"--wrt names the parameter {twice[0]!r} of {name} twice")


def describe(exc):
    """One line for an exception: `Type: first line of its message`."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {first}" if first else name


# ---- entry point --------------------------------------------------------------------------

def build_parser():
    import srcad

    parser = _Parser(prog="srcad", description="srcad: source-transformation automatic "
                                               "differentiation for Python/NumPy.",
                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"srcad {srcad.__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show the Python traceback instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=functools.partial(_Parser, allow_abbrev=False))
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the `srcad` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):  # (a path in the cache need not be UTF-8)
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    show_traceback = "--traceback" in argv  # (anywhere: before or after the subcommand)
    argv = [a for a in argv if a != "--traceback"]
    prog = "srcad"
    with warnings.catch_warnings():
        warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
        return _run(argv, prog, show_traceback)


def _show_warning(shown, message, category, filename, lineno, file=None, line=None):
    """A warning srcad gives about the line that called it (a CacheWarning) is, under the
    command, one line `warning: ...` (that line would be the `srcad` script's); the user's code's
    warnings keep their file:line."""
    if filename in (sys.argv[0], "<frozen runpy>"):
        print(f"warning: {message}", file=sys.stderr)
    else:
        shown(message, category, filename, lineno, file, line)


def _run(argv, prog, show_traceback):
    try:
        opts = build_parser().parse_args(argv)
        prog = f"srcad {opts.command}"
        status = opts.run(opts)
        sys.stdout.flush()
        return status
    except SystemExit as exc:  # --help, --version
        return exc.code or 0
    except BrokenPipeError:  # the reader stopped reading (`srcad show ... | head`): quietly,
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as SIGPIPE would
        return 141
    except CommandError as exc:
        if show_traceback and not isinstance(exc, UsageError):
            traceback.print_exc()
        print(f"{exc.prog or prog}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # srcad's own errors, or the user's function raising
        if show_traceback:
            traceback.print_exc()
            return 1
        print(f"{prog}: {describe(exc)} (`srcad --traceback {prog[6:]} ...` shows the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
