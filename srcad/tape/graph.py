"""make_dot: the backward graph of a tensor, drawn as torchviz draws PyTorch's.

The output tensor is a green box labelled with its shape, each grad_fn a grey box with its name
(MulBackward0, AccumulateGrad), and each leaf that requires grad a blue box with its name (from
`params`) and shape; edges run from inputs to the output. The result is a graphviz.Digraph when
the graphviz package is installed (it renders in a notebook, .render() writes a file), else a
DotGraph holding the same DOT text.
"""

from pathlib import Path

_NODE_STYLE = {
    "align": "left",
    "fontname": "monospace",
    "fontsize": "10",
    "height": "0.2",
    "ranksep": "0.1",
    "shape": "box",
    "style": "filled",
}


class DotGraph:
    """DOT source of a graph; str() and .source give the text, save() writes it to a file."""

    def __init__(self, source):
        self.source = source

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"DotGraph({len(self.source)} characters of DOT)"

    def save(self, filename):
        Path(filename).write_text(self.source)
        return filename


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """The backward graph of tensor var (or of each tensor of a tuple).

    Args:
        var: the output tensor, or a tuple of them.
        params: optional {name: tensor} naming the leaves.
        show_attrs, show_saved: list each backward node's options (axis, index, ...) and the
            shapes of the values it saved under its name, as torchviz's do.
        max_attr_chars: how much of each option's text is shown.

    Returns:
        a graphviz.Digraph when graphviz is installed, otherwise a DotGraph; both have .source.
    """
    details = (show_attrs, show_saved, max_attr_chars)
    nodes, edges = _walk(var if isinstance(var, tuple) else (var,), params or {}, details)
    size = max(12.0, 0.15 * (len(nodes) + len(edges)))  # grows with the graph, as torchviz's
    try:
        import graphviz  # optional: renders the graph
    except ImportError:
        return DotGraph(_dot_text(nodes, edges, f"{size:g},{size:g}"))
    dot = graphviz.Digraph(node_attr=_NODE_STYLE, graph_attr={"size": f"{size:g},{size:g}"})
    for key, label, color in nodes:
        dot.node(key, label, **({"fillcolor": color} if color else {}))
    for tail, head in edges:
        dot.edge(tail, head)
    return dot


def _node_label(fn, details):
    show_attrs, show_saved, width = details
    lines = [fn.name()]
    if show_attrs:
        lines += [f"{k}: {str(v)[:width]}" for k, v in sorted(getattr(fn, "params", {}).items())
                  if k != "label"]
    if show_saved:
        lines += [f"saved: ({', '.join(map(str, shape))})" for shape in
                  getattr(fn, "shapes", ())] if getattr(fn, "saved", None) is not None else []
    return "\n".join(lines)


def _walk(outputs, params, details=(False, False, 50)):
    """The nodes (key, label, fill color) and edges (tail, head) of the graph, in torchviz's
    order: each node before the edges into it, depth first from the outputs."""
    names = {id(t): name for name, t in params.items()}
    nodes, edges, seen = [], [], set()

    def tensor_label(t):
        return f"{names.get(id(t), '')}\n ({', '.join(str(n) for n in t.shape)})"

    def add(fn):
        if fn in seen:
            return
        seen.add(fn)
        leaf = getattr(fn, "variable", None)
        if leaf is not None:
            nodes.append((str(id(leaf)), tensor_label(leaf), "lightblue"))
            edges.append((str(id(leaf)), str(id(fn))))
        nodes.append((str(id(fn)), _node_label(fn, details), None))
        for edge, _ in fn.next_functions:
            if edge is not None:
                edges.append((str(id(edge)), str(id(fn))))
                add(edge)

    for t in outputs:
        nodes.append((str(id(t)), tensor_label(t), "darkolivegreen1"))
        if t.grad_fn is not None:
            add(t.grad_fn)
            edges.append((str(id(t.grad_fn)), str(id(t))))
    return nodes, edges


def _dot_text(nodes, edges, size):
    """The DOT source graphviz.Digraph would write for these nodes and edges."""
    style = " ".join(f"{key}={value}" for key, value in _NODE_STYLE.items())
    lines = ["digraph {", f'\tgraph [size="{size}"]', f"\tnode [{style}]"]
    for key, label, color in nodes:
        quoted = label if label.isidentifier() else '"' + label.replace('"', '\\"') + '"'
        lines.append(f"\t{key} [label={quoted}" + (f" fillcolor={color}]" if color else "]"))
    lines.extend(f"\t{tail} -> {head}" for tail, head in edges)
    lines.append("}")
    return "\n".join(lines) + "\n"
