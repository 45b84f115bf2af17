"""What the figures were measured on: the machine, the versions, the settings (the header of
the report and the "machine" section of the JSON)."""

import importlib.metadata
import os
import platform
from pathlib import Path


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(peers=()):
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        import numba

        from llvmlite import binding

        svml, opt = bool(numba.config.USING_SVML), int(numba.config.OPT)
        llvmlite_svml = bool(binding.has_svml)
    except Exception:
        svml = opt = llvmlite_svml = None
    desc = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("srcad", "numpy", "numba", "llvmlite", "scipy")},
        "numba_svml": svml,
        "numba_opt": opt,
        "intel_cmplr_lib_rt": _version("intel-cmplr-lib-rt"),
        "llvmlite_svml": llvmlite_svml,
        "peers": {p: _version(p) for p in peers},
    }
    if "jax" in peers:
        desc["peers"]["jaxlib"] = _version("jaxlib")
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        desc["memory_gb"] = round(int(mem[1]) / 1e6, 1)
    except (OSError, IndexError, ValueError):
        pass
    return desc


def header(machine, settings):
    v = machine["versions"]
    peers = ", ".join(f"{k} {val or 'not installed'}" for k, val in machine["peers"].items())
    svml = {True: "yes", False: "no", None: "unknown"}[machine["numba_svml"]]
    if machine["numba_svml"] is False and machine.get("llvmlite_svml") is False:
        svml += " (this llvmlite is built without SVML, as PyPI's wheels are)"
    elif machine["numba_svml"] is False:
        svml += (" (install intel-cmplr-lib-rt for Numba to vectorise sin/exp/log)"
                 if not machine["intel_cmplr_lib_rt"] else
                 " (intel-cmplr-lib-rt is installed but Numba did not load SVML)")
    opt = f"-O{machine['numba_opt']} (NUMBA_OPT)"
    if machine["numba_opt"] != 3:
        opt += ": not Numba's default -O3, the times are not what users get"
    fastmath = "on (primal and srcad; hand adjoints as written)" if settings["fastmath"] else "off"
    return "\n".join([
        "srcad bench",
        (f"machine : {machine['cpu']}, {machine['cores']} cores "
         f"({machine['usable_cores']} usable), {machine['platform']}"),
        (f"versions: Python {machine['python']}, srcad {v['srcad'] or '(source checkout)'}, "
         f"numpy {v['numpy']}, numba {v['numba']}, llvmlite {v['llvmlite']}, "
         f"scipy {v['scipy']}"),
        f"peers   : {peers or 'none requested (--peers jax,autograd,torch)'}",
        f"SVML    : {svml}",
        f"LLVM    : {opt}",
        f"threads : every library pinned to 1: {settings['threads']}",
        f"timing  : {settings['timing']}",
        f"limits  : {settings['limits']}",
        f"fastmath: {fastmath}",
        f"checks  : {settings['verification']}",
    ])
