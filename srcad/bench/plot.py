"""`--plot`: a PNG bar chart of each tool's gradient time over the Numba primal's."""


def require_matplotlib():
    """None, or the message saying matplotlib is missing (checked before the run)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "--plot needs matplotlib, which is not installed: pip install matplotlib"
    return None


def plot_ratios(rows, peers, path):
    """Write the chart; returns what was done, for the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools = ["hand", "srcad", *peers]
    labels, series = [], {t: [] for t in tools}
    for row in rows:
        if "ratios" not in row:
            continue
        labels.append(f"{row['workload']}\n{row['size']}")
        for t in tools:
            series[t].append(row["ratios"].get(f"{t}/primal", float("nan")))
    if not labels:
        return "--plot: nothing to plot"
    fig, ax = plt.subplots(figsize=(min(22, max(8, 0.18 * len(labels) * len(tools) + 2)), 6))
    width = 0.8 / len(tools)
    for k, t in enumerate(tools):
        xs = [i + (k - (len(tools) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, series[t], width, label=t)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=7, rotation=45, ha="right")
    ax.set_ylabel("gradient time / Numba primal time (log)")
    ax.set_title("srcad bench: gradient cost relative to the primal (single thread)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"wrote {path}"
