"""`srcad bench`: its options (a subparser of the `srcad` command) and the run.

Output: the tables on stdout, progress on stderr, optionally every figure as JSON (`--json`,
rewritten after each workload so a long run that dies keeps its figures), a Markdown table
(`--markdown`) and a bar chart (`--plot`). Exit status 1 when a srcad cell failed or
disagreed with its reference; errors of usage go through srcad.cli's handler (status 2).
"""

import re
import sys
from pathlib import Path

from ..cli import UsageError
from . import machine, peers, plot, report, runner, timing, transforms, verify
from .workloads import SUITES, FunctionTarget, Workload, collect, key_str


def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench", help="time srcad's gradients against hand-written adjoints and peers",
        description="Time srcad's gradients against the Numba primal, a hand-written Numba "
                    "adjoint and peer AD tools (JAX, HIPS autograd, PyTorch). See "
                    "bench/README.md.")
    p.add_argument("targets", nargs="*",
                   help="workload files or folders (default: the bench/workloads suite), "
                        "or module.py:func with --args")
    p.add_argument("--peers", default="",
                   help="comma-separated peers to time: " + ",".join(peers.NAMES))
    p.add_argument("--sizes", default="quick",
                   help="quick (default), full, test, or comma-separated size keys")
    p.add_argument("--only", help="comma-separated workload names to run")
    p.add_argument("--json", metavar="PATH", help="write every figure and the machine to PATH")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios")
    p.add_argument("--markdown", metavar="PATH",
                   help="write the times and ratios as a Markdown table (for bench/README.md)")
    p.add_argument("--transform", choices=transforms.TRANSFORMS, default="grad",
                   help="grad (default): srcad's gradient against the primal, the hand adjoint "
                        "and peers; jvp: forward mode against the Numba primal; hvp: "
                        "Hessian-vector products against srcad's gradient")
    p.add_argument("--fastmath", action="store_true",
                   help="compile the primal and srcad's gradient with fastmath (off by default)")
    p.add_argument("--budget", type=float, default=0.3,
                   help="seconds of timed calls per cell (default 0.3)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a peer cell may take, compilation included, before it is "
                        "stopped (default 60; 0: no limit)")
    p.add_argument("--memory-limit", type=memory_size, default="4G", metavar="SIZE",
                   help="resident memory a peer cell may use before it is stopped, e.g. 500M, "
                        "8G (default 4G; 0: no limit)")
    p.add_argument("--args", dest="call_args", metavar="EXPR",
                   help="for module.py:func: the arguments, a Python expression list "
                        "(np and math are available), e.g. \"np.random.rand(1000), 2.0\"")
    p.add_argument("--wrt", default="0", help="for module.py:func: argument indices or names")
    p.add_argument("--list", action="store_true", help="list the workloads and their sizes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run)
    return p


def _check_options(opts):
    """What can be told wrong before the run starts (a long run should not fail at its end)."""
    for name in ("budget", "timeout"):
        value = getattr(opts, name)
        if not value >= 0 or name == "budget" and value == 0:
            raise UsageError(f"--{name} {value:g}: give a positive number of seconds"
                             + (" (0: no limit)" if name == "timeout" else ""))
    if opts.only is not None and not opts.only.strip(",").strip():
        raise UsageError("--only names no workload")
    if opts.call_args is not None and not any(":" in t for t in opts.targets):
        raise UsageError("--args gives the arguments of a module.py:func target, and none is "
                         "named")
    for option in ("json", "plot", "markdown"):
        path = getattr(opts, option)
        if path:
            _check_writable(f"--{option} {path}", Path(path))


def _check_writable(option, path):
    """UsageError now, not after an hour of timing, unless a file can be written at `path`
    (tried by opening it to append: its contents, if any, stay until the run writes it)."""
    if not path.resolve().parent.is_dir():
        raise UsageError(f"{option}: no such folder {path.parent}")
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"{option}: cannot be written ({exc.strerror or exc})") from None
    if not existed:
        path.unlink()


def _check_sizes(jobs, spec):
    if spec in SUITES:
        return
    if any(isinstance(job, FunctionTarget) for job in jobs):
        raise UsageError(f"--sizes {spec}: a module.py:func runs at the --args given; --sizes "
                         "takes quick, full or test there")
    known = {key_str(k) for job in jobs if isinstance(job, Workload) and not job.error
             for keys in job.module.SIZES.values() for k in keys}
    for job in jobs:
        if isinstance(job, Workload) and not job.error:
            try:
                keys = job.sizes(spec)
            except Exception:  # noqa: BLE001 (any parse failure is the same usage error)
                keys = None
            if not keys or not all(key_str(k) in known for k in keys):
                raise UsageError(f"--sizes {spec}: not a size of {job.name}; give quick, full, "
                                 f"test or keys of its SIZES (`srcad bench --list` shows them)")


def memory_size(text):
    match = re.fullmatch(r"\s*([\d.]+)\s*([kKmMgG]?)[bB]?\s*", str(text))
    if not match:
        raise ValueError(f"not a size: {text!r}")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def run(opts):
    """Run the benchmark; returns the exit status."""
    chosen = [p.strip() for p in opts.peers.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in peers.NAMES]
    if unknown:
        raise UsageError(f"--peers: unknown peer(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(peers.NAMES)}")
    if opts.plot and plot.require_matplotlib():
        raise UsageError(plot.require_matplotlib())
    _check_options(opts)
    jobs = collect(opts.targets, opts.only or "", opts.call_args, opts.wrt)
    _check_sizes(jobs, opts.sizes)
    if chosen and jobs and all(isinstance(job, FunctionTarget) for job in jobs):
        raise UsageError("--peers: peers are timed on the suite's workloads, which have a "
                         "formulation for each; module.py:func has none")
    if opts.list:
        for job in jobs:
            print(job.describe())
        return 0

    pools = timing.pin_threads()
    about = machine.describe(chosen)
    settings = {
        "threads": ", ".join(pools) + ", torch.set_num_threads(1); in the environment: "
                   + " ".join(f"{k}={v}" for k, v in timing.THREAD_ENV.items()),
        "timing": f"median per call of 3 to 7 samples after one warm-up call (1 sample "
                  f"for calls over 1 s), about {opts.budget:g} s of calls per cell, gc off "
                  f"while timing; the first call (compilation) is reported apart",
        "limits": f"each peer cell in a child process, stopped after "
                  f"{opts.timeout:g} s or at {report.fmt_bytes(opts.memory_limit)} resident"
                  if opts.timeout or opts.memory_limit else "none",
        "fastmath": bool(opts.fastmath),
        "sizes": opts.sizes,
        "peers": chosen,
        "verification": f"srcad's value and gradient vs the hand adjoint, relative "
                        f"{verify.RTOL:g} (vs central finite differences for module.py:func)",
    }
    if opts.transform != "grad":
        return _run_transform(jobs, opts, chosen, about, settings)
    print(machine.header(about, settings), flush=True)
    progress = runner.Progress(sum(runner.count_cells(job, job.sizes(opts.sizes), chosen)
                                   for job in jobs), quiet=opts.quiet)
    rows = []
    for job in jobs:
        rows.extend(runner.run(job, opts, chosen, progress))
        if opts.json:
            report.write_json(opts.json, about, settings, rows)
    print(report.format_table(rows, chosen))
    notes = report.notes(rows)
    if notes:
        print("\n" + notes)
    if opts.json:
        report.write_json(opts.json, about, settings, rows)
        print(f"\nwrote {opts.json}")
    if opts.markdown:
        Path(opts.markdown).write_text(report.format_markdown(rows, chosen, about))
        print(f"wrote {opts.markdown}")
    if opts.plot:
        print(plot.plot_ratios(rows, chosen, opts.plot))
    failed = report.failures(rows)
    if failed:
        more = f" (and {len(failed) - 1} more, see the notes)" if len(failed) > 1 else ""
        print(f"srcad bench: {failed[0]}{more}", file=sys.stderr)
        return 1
    return 0


def _run_transform(jobs, opts, chosen, about, settings):
    """`--transform jvp|hvp`: srcad's own figures (peers are compared for grad only)."""
    if chosen:
        raise UsageError(f"--transform {opts.transform} compares srcad with its own primal or "
                         "gradient; --peers applies to --transform grad")
    settings["verification"] = transforms.CHECKS[opts.transform]
    print(machine.header(about, settings), flush=True)
    progress = runner.Progress(sum(max(len(job.sizes(opts.sizes)), 1) for job in jobs),
                               quiet=opts.quiet)
    rows = transforms.run(jobs, opts, progress)
    print(transforms.format_table(rows, opts.transform))
    failed = transforms.failures(rows)
    if failed:
        print(f"srcad bench: {failed[0]}", file=sys.stderr)
        return 1
    return 0
