"""Finding and loading what `srcad bench` runs.

A *workload* is a file following the protocol of `bench/workloads/__init__.py` (NAME, SIZES,
WRT, make_inputs, f, hand_adjoint, optional PEERS and check). `srcad bench` takes workload
files, folders of them (default: the suite in bench/workloads/), or a user's
`module.py:func` with `--args`.
"""

import ast
import inspect
import sys
from pathlib import Path

from .. import cli
from ..cli import (CommandError, UsageError, attribute_path, check_wrt, describe,
                   evaluate_args, parse_wrt)

SUITE_DIR = Path(__file__).resolve().parents[2] / "bench" / "workloads"
REQUIRED = ("NAME", "SIZES", "WRT", "make_inputs", "f")
SUITES = ("quick", "full", "test")


def load_module(path):
    """Import a workload file (as `srcad show` imports the user's); any workload file can
    `from bench.workloads import` what the suite's share."""
    repo = SUITE_DIR.parents[1]
    if SUITE_DIR.is_dir() and str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    return cli.load_module(path)


class Workload:
    """One workload file; `error` says why it cannot run (the file then becomes one row)."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.stem
        self.module = None
        self.error = None
        try:
            self.module = load_module(path)
            missing = [n for n in REQUIRED if not hasattr(self.module, n)]
            if missing:
                self.error = f"not a workload file: missing {', '.join(missing)}"
            else:
                self.name = self.module.NAME
        except CommandError as exc:  # a broken workload must not stop the suite
            self.error = str(exc)
        except Exception as exc:
            self.error = f"cannot load: {describe(exc)}"

    @property
    def wrt(self):
        return tuple(self.module.WRT)

    def describe(self):
        if self.error:
            return f"{self.name}: {self.error}"
        sizes = "; ".join(f"{k}: {v}" for k, v in self.module.SIZES.items())
        return f"{self.name} ({self.path}): {getattr(self.module, 'DESCRIPTION', '')} [{sizes}]"

    def sizes(self, spec):
        """Size keys for `--sizes`: a suite name, or comma-separated keys."""
        if self.error:
            return []
        table = self.module.SIZES
        if spec in table:
            return list(table[spec])
        if spec == "test":  # no tiny size declared: the first quick one
            return list(table.get("quick", []))[:1]
        if spec in SUITES:
            return []
        return [parse_key(k) for k in spec.split(",") if k.strip()]

    def smallest_size(self):
        table = self.module.SIZES
        return (table.get("test") or table["quick"])[0]


class FunctionTarget:
    """`srcad bench module.py:func --args ...`: a user's function, without a hand adjoint."""

    def __init__(self, path, func, args_expr, wrt):
        self.path, self.func, self.args_expr = Path(path), func, args_expr
        self.wrt = parse_wrt(wrt)
        self.wrt = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        self.name = f"{self.path.name}:{func}"
        self.error = None

    def describe(self):
        return f"{self.name} with args ({self.args_expr})"

    def sizes(self, spec):
        return [self.args_expr]

    def load(self):
        """-> (function, arguments); CommandError if either cannot be had."""
        module = load_module(self.path)
        f = attribute_path(module, self.func)  # (`:obj.method` too, as `srcad show` takes)
        if f is None:
            raise CommandError(f"{self.path} has no function {self.func!r}")
        check_wrt(f, self.wrt)
        args = evaluate_args(self.args_expr, vars(module))
        try:
            bound = inspect.signature(f).bind(*args)
        except TypeError as exc:
            raise UsageError(f"--args gives {len(args)} argument(s) for {self.func}"
                             f"{inspect.signature(f)}: {exc}") from None
        bound.apply_defaults()  # (so --wrt may name a parameter left at its default)
        return f, bound.args


def collect(targets, only="", call_args=None, wrt="0"):
    """The workloads to run, in order. UsageError for a missing file, a module.py:func without
    --args, or an --only name that matches nothing."""
    jobs = []
    for target in targets or [str(SUITE_DIR)]:
        path, _, func = target.rpartition(":")
        if func and path.endswith(".py") and not Path(target).exists():
            if not Path(path).is_file():
                raise UsageError(f"no such file: {path}")
            if call_args is None:
                raise UsageError(f"{target}: give the function's arguments with --args")
            if _has_keywords(call_args):
                raise UsageError(f"--args {call_args!r}: srcad bench passes the arguments by "
                                 "position; give them so")
            job = FunctionTarget(path, func, call_args, wrt)
            job.load()  # (a missing function or wrong --args: said now, not after the header)
            jobs.append(job)
            continue
        p = Path(target)
        if not p.exists():
            hint = "" if targets else (" (the suite ships with the source checkout: clone the "
                                       "repository, or name a workload file)")
            raise UsageError(f"no such file or folder: {target}{hint}")
        files = sorted(q for q in p.glob("*.py") if not q.name.startswith("_")) \
            if p.is_dir() else [p]
        jobs.extend(Workload(q) for q in files)
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    if wanted:
        unknown = [n for n in wanted if not any(n in (j.name, j.path.stem) for j in jobs)]
        if unknown:
            names = ", ".join(sorted(j.name for j in jobs))
            raise UsageError(f"--only {', '.join(unknown)}: no such workload (there are: {names})")
        jobs = [j for j in jobs if j.name in wanted or j.path.stem in wanted]
    return jobs


def _has_keywords(expression):
    try:
        return bool(ast.parse(f"f({expression})", mode="eval").body.keywords)
    except SyntaxError:
        return False  # (evaluating it says what is wrong)


def parse_key(text):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


def key_str(key):
    return str(key) if not isinstance(key, tuple) else "x".join(str(k) for k in key)
