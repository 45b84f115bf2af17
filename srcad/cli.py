"""The `srcad` command (also `python -m srcad`): show, explain, bench."""

import argparse
import importlib.util
import sys
from pathlib import Path


def load_function(spec):
    """`path/to/module.py:func` -> the function object."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        raise SystemExit(f"srcad: expected FILE.py:FUNCTION, got {spec!r}")
    file = Path(path)
    if not file.exists():
        raise SystemExit(f"srcad: no such file: {path}")
    sys.path.insert(0, str(file.resolve().parent))
    module_spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[file.stem] = module
    module_spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if fn is None:
        raise SystemExit(f"srcad: {path} has no function {name!r}")
    return fn


def _wrt(text):
    if text is None:
        return 0
    items = [int(t) if t.strip().lstrip("-").isdigit() else t.strip() for t in text.split(",")]
    return items[0] if len(items) == 1 else tuple(items)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from . import benchmark
        return benchmark.main(argv[1:])
    parser = argparse.ArgumentParser(prog="srcad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the generated gradient source")
    explain = sub.add_parser("explain", help="which mode srcad uses for a function, and why")
    for p in (show, explain):
        p.add_argument("target", help="FILE.py:FUNCTION")
        p.add_argument("--wrt", help="argument index(es) or name(s), comma-separated")
        p.add_argument("--args", help="a Python expression giving example arguments "
                                      "(numpy as np), e.g. \"np.ones(3), 2.0\"")
    sub.add_parser("bench", help="benchmarks (see `srcad bench --help`)")
    args = parser.parse_args(argv)
    import numpy as np

    import srcad
    fn = load_function(args.target)
    example = ()
    if args.args:
        example = eval(f"({args.args},)", {"np": np, "numpy": np})
    if args.command == "show":
        print(srcad.source(srcad.grad(fn, wrt=_wrt(args.wrt)), *example), end="")
    else:
        srcad.explain(fn, *example, wrt=_wrt(args.wrt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
