"""Peer cells (JAX, HIPS autograd, PyTorch), each timed in a child process.

A peer can run for minutes or take gigabytes on a workload it records scalar by scalar
(autograd on `newton`: 8 minutes, 1.1 GB). In a child process it can be stopped: the parent
kills it past `--timeout` seconds or past `--memory-limit` of resident memory, and the cell
says so. The child rebuilds the inputs with the workload's own `make_inputs`, builds the
peer's gradient with the workload's `PEERS[peer]`, times it (timing.timed) and sends back the
cell and the gradients; the parent compares them with the hand adjoint.

Run as `python -m srcad.bench.peers JOB RESULT` (pickle files) by `run_peer` only.
"""

import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..cli import describe
from . import timing

NAMES = ("jax", "autograd", "torch")
EAGER = ("autograd", "torch")  # no compilation: a slow first call is already a sample
TRACED = ("autograd",)  # allocates through numpy, which tracemalloc sees; torch and XLA do not
POLL_S = 0.05


def run_peer(workload_path, size, peer, budget, timeout, memory_limit):
    """The peer's cell: {"status": ...} and figures, plus "_grads" when it ran."""
    if not installed(peer):
        return {"status": "not installed"}
    job = {"path": str(workload_path), "size": size, "peer": peer, "budget": budget}
    with tempfile.TemporaryDirectory(prefix="srcad-bench-") as tmp:
        job_file, result_file, log_file = (Path(tmp) / n for n in ("job", "result", "log"))
        job_file.write_bytes(pickle.dumps(job))
        env = {**os.environ, **timing.THREAD_ENV}
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(log_file, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "srcad.bench.peers", str(job_file), str(result_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True)  # its own process group: killed with its children
            stopped = _watch(child, timeout, memory_limit)
        if stopped:
            return {"status": stopped}
        if result_file.exists():
            return pickle.loads(result_file.read_bytes())
        return {"status": f"error: the child process exited with {child.returncode}: "
                          f"{_last_line(log_file)}"}


def installed(peer):
    return importlib.util.find_spec(peer) is not None


def _watch(child, timeout, memory_limit):
    """Wait for the child; kill it past the limits. Returns why it was stopped, or None."""
    from .report import fmt_bytes

    start = time.perf_counter()
    while child.poll() is None:
        elapsed = time.perf_counter() - start
        reason = None
        if timeout and elapsed > timeout:
            reason = f"timed out after {timeout:g} s"
        elif memory_limit and (_resident_bytes(child.pid) or 0) > memory_limit:
            reason = f"stopped at the memory limit ({fmt_bytes(memory_limit)} resident)"
        if reason:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()
            return reason
        time.sleep(POLL_S)
    return None


def _resident_bytes(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None  # not Linux, or already gone: only the time limit applies


def _last_line(path):
    lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no output"


# ---- the child ----------------------------------------------------------------------------

def _child(job):
    from . import verify
    from .workloads import load_module

    peer = job["peer"]
    workload = load_module(job["path"])
    make = getattr(workload, "PEERS", {}).get(peer)
    if make is None:
        return {"status": "no formulation in this workload"}
    args = tuple(workload.make_inputs(job["size"]))
    try:
        if peer == "torch":
            import torch

            torch.set_num_threads(1)
            torch.set_num_interop_threads(1)
        grad = make(*args)
    except Exception as exc:
        if type(exc).__name__ == "CannotExpress":
            return {"status": f"cannot express: {str(exc).strip() or 'no reason given'}"}
        return {"status": f"error: {describe(exc)}"}
    cell = timing.timed(grad, job["budget"], track_memory=peer in TRACED, eager=peer in EAGER)
    if cell["status"] == "ok":
        out = cell.pop("_out")
        cell["_grads"] = verify.to_numpy(out if isinstance(out, (tuple, list)) else (out,))
        if peer not in TRACED:
            cell["peak_bytes"] = None
    return cell


def main(job_file, result_file):
    job = pickle.loads(Path(job_file).read_bytes())
    cell = _child(job)
    Path(result_file).write_bytes(pickle.dumps(cell))


if __name__ == "__main__":
    main(*sys.argv[1:3])
