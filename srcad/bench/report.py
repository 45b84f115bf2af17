"""The results of a run as text: the tables on stdout, a Markdown table, the notes, the JSON.

Input: the rows of runner.py and the peers requested. Nothing here measures anything.
"""

import json
from pathlib import Path

TITLES = {
    "times": "Times (median per call)",
    "ratios": "Ratios (a/b = time of a / time of b; srcad/<peer> below 1: srcad is faster)",
    "compile": ("Compile time (first call minus a steady call; srcad's includes building the "
                "gradient; a workload's later sizes reuse the compiled code)"),
    "memory": ("Peak traced memory of one call (tracemalloc: numpy and Numba allocations; n/a "
               "where the allocator is not traced)"),
    "overhead": ("Call overhead on the smallest inputs (srcad's gradient vs the Numba kernel "
                 "it wraps)"),
}
PEER_TITLES = {"jax": "JAX jit(grad)", "torch": "torch eager", "autograd": "HIPS autograd"}


def fmt_time(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_bytes(b):
    if b is None:
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} B"


def fmt_ratio(x):
    return "-" if x is None else (f"{x:.3g}x" if x >= 0.01 else f"{x:.2e}x")


def cell_text(cell, width=60):
    if not isinstance(cell, dict):
        return "-"
    if cell.get("status") != "ok":
        text = cell.get("status", "-")
        return text if len(text) <= width else text[:width - 3] + "..."
    text = fmt_time(cell["median_s"])
    if str(cell.get("verified", "ok")).startswith("MISMATCH"):
        text += " MISMATCH"
    return text


def _short(text, n=48):
    text = str(text)
    return text if len(text) <= n else text[:n - 3] + "..."


def _grid(table):
    widths = [max(len(str(r[i])) for r in table if i < len(r)) for i in range(len(table[0]))]
    lines = []
    for k, r in enumerate(table):
        lines.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt_overhead(seconds):
    """A call of srcad's gradient timed faster than its kernel alone is noise: say so."""
    return fmt_time(seconds) if seconds >= 0 else "below noise"


def _ok(cell):
    return isinstance(cell, dict) and cell.get("status") == "ok"


def format_table(rows, peers):
    """Times, ratios, compile times, call overhead and peak memory, as aligned text."""
    times = [["workload", "size", "numba primal", "hand adjoint", "srcad grad", *peers]]
    ratios = [["workload", "size", "hand/primal", "srcad/primal", "srcad/hand",
               *[f"srcad/{p}" for p in peers], "srcad check", "ADBench check"]]
    compile_ = [["workload", "size", "primal compile", "srcad compile", "srcad/primal"]]
    memory = [["workload", "size", "primal", "hand adjoint", "srcad grad", *peers]]
    overhead = [["workload", "size", "srcad call", "compiled kernel", "overhead"]]
    for row in rows:
        w, size = row["workload"], row["size"]
        if "error" in row:  # the whole text is in the notes
            times.append([w, size, _short(row["error"], 40)])
            continue
        peer_cells = [row.get("peers", {}).get(p) for p in peers]
        srcad = row.get("srcad", {})
        srcad_text = cell_text(srcad)
        if row.get("srcad_warnings"):
            srcad_text += " (*)"
        if str(row.get("verified", "")).startswith("MISMATCH"):
            srcad_text += " MISMATCH!"
        times.append([w, size, cell_text(row.get("primal")), cell_text(row.get("hand")),
                      srcad_text, *[cell_text(c) for c in peer_cells]])
        r = row.get("ratios", {})
        check = row.get("adbench_check_srcad", "")
        if check and row.get("adbench_check_hand", "ok") != "ok":
            check += f" (hand: {row['adbench_check_hand']})"
        ratios.append([w, size, fmt_ratio(r.get("hand/primal")), fmt_ratio(r.get("srcad/primal")),
                       fmt_ratio(r.get("srcad/hand")),
                       *[fmt_ratio(r.get(f"srcad/{p}")) for p in peers],
                       _short(row.get("verified", "-")), _short(check or "-")])
        if row.get("compiled_with"):
            compile_.append([w, size, f"(compiled at {row['compiled_with']})"])
        else:
            compile_.append([w, size, fmt_time((row.get("primal") or {}).get("compile_s")),
                             fmt_time(row.get("srcad_compile_s")),
                             fmt_ratio(r.get("srcad compile/primal compile"))])
        memory.append([w, size, *[fmt_bytes(c.get("peak_bytes")) if _ok(c) else "-"
                                  for c in (row.get("primal"), row.get("hand"), srcad,
                                            *peer_cells)]])
        o = row.get("call_overhead")
        if o:
            overhead.append([w, o["size"], *([fmt_time(o["srcad_s"]), fmt_time(o["kernel_s"]),
                                              _fmt_overhead(o["overhead_s"])] if _ok(o)
                                             else [o["status"]])])
    parts = [(TITLES["times"], times), (TITLES["ratios"], ratios),
             (TITLES["compile"], compile_), (TITLES["memory"], memory)]
    if len(overhead) > 1:
        parts.append((TITLES["overhead"], overhead))
    return "\n" + "\n\n".join(f"{title}\n{_grid(table)}" for title, table in parts)


def format_markdown(rows, peers, machine):
    """The times in Markdown, each gradient followed by its ratio to the primal."""
    head = ["workload", "size", "Numba primal", "hand adjoint", "srcad", "srcad/hand",
            "compile: primal / srcad", *[PEER_TITLES.get(p, p) for p in peers]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['workload']} | {row['size']} | {row['error']} |")
            continue
        r = row.get("ratios", {})

        def with_ratio(cell, key, r=r):
            text = cell_text(cell, width=200).replace("|", "/")
            return f"{text} ({fmt_ratio(r[key])})" if key in r else text

        compile_text = "" if row.get("compiled_with") else (
            f"{fmt_time((row.get('primal') or {}).get('compile_s'))} / "
            f"{fmt_time(row.get('srcad_compile_s'))}")
        lines.append("| " + " | ".join([
            row["workload"], f"`{row['size']}`", cell_text(row.get("primal")),
            with_ratio(row.get("hand"), "hand/primal"),
            with_ratio(row.get("srcad"), "srcad/primal"), fmt_ratio(r.get("srcad/hand")),
            compile_text,
            *[with_ratio(row.get("peers", {}).get(p), f"{p}/primal") for p in peers],
        ]) + " |")
    lines.append("")
    lines.append(f"Times are medians per call; (Nx) is the ratio to the Numba primal. Machine: "
                 f"{machine['cpu']}, {machine['cores']} cores, one thread per library; "
                 f"numpy {machine['versions']['numpy']}, numba {machine['versions']['numba']}"
                 + "".join(f", {k} {v}" for k, v in machine["peers"].items() if v) + ".")
    return "\n".join(lines) + "\n"


def notes(rows):
    """Mismatches, failed checks, long cell texts and srcad's warnings, one line each."""
    out = []
    for row in rows:
        label = f"{row['workload']}[{row['size']}]"
        if "error" in row:
            out.append(f"{label}: {row['error']}")
        if str(row.get("verified", "")).startswith("MISMATCH"):
            out.append(f"!!! MISMATCH {label}: srcad's gradient {row['verified']}")
        for peer, cell in row.get("peers", {}).items():
            if str(cell.get("verified", "")).startswith("MISMATCH"):
                out.append(f"!!! {peer} MISMATCH {label}: {cell['verified']}")
        for who in ("srcad", "hand"):
            check = str(row.get(f"adbench_check_{who}", ""))
            if check.startswith("FAILED"):
                out.append(f"!!! ADBench check of the {who} gradient {label}: {check}")
        cells = [("primal", row.get("primal")), ("hand", row.get("hand")),
                 ("srcad", row.get("srcad")), *row.get("peers", {}).items()]
        for name, cell in cells:
            status = str((cell or {}).get("status", "ok"))
            if status != "ok" and not status.startswith("n/a") and len(status) > 60:
                out.append(f"{label} {name}: {status}")
        for w in row.get("srcad_warnings", []):
            out.append(f"(*) {label}: srcad warned: {w}")
    unique = list(dict.fromkeys(out))
    return "Notes\n" + "\n".join(unique) if unique else ""


def failures(rows):
    """What makes the exit status 1: srcad cells that failed or disagree, failed ADBench
    checks of srcad's gradient, workloads that could not run (missing data excepted)."""
    found = []
    for row in rows:
        label = f"{row['workload']}[{row['size']}]"
        if "error" in row:
            if not row.get("data_missing"):
                found.append(f"{label}: {row['error']}")
            continue
        status = str(row.get("srcad", {}).get("status", "ok"))
        if status != "ok":
            found.append(f"{label}: {status}")
        if str(row.get("verified", "")).startswith("MISMATCH"):
            found.append(f"{label}: srcad's gradient {row['verified']}")
        if str(row.get("adbench_check_srcad", "")).startswith(("FAILED", "srcad error")):
            found.append(f"{label}: ADBench check {row['adbench_check_srcad']}")
    return list(dict.fromkeys(found))


def write_json(path, machine, settings, rows):
    result = {"machine": machine, "settings": settings, "results": rows}
    Path(path).write_text(json.dumps(result, indent=1, default=str))
