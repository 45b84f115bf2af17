"""make_dot: the backward graph of a tensor as Graphviz DOT text, like torchviz.

Leaves are blue boxes labelled with their name (from `params`) and shape, operations are grey
boxes labelled with their grad_fn name (MulBackward), and the output is a green box. Edges run
the way the data flowed, from inputs to the output.
"""

from pathlib import Path

from srcad.tape.engine import Node


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


def make_dot(t, params=None):
    """The backward graph of tensor t, as DOT text.

    Args:
        t: the output tensor.
        params: optional {name: tensor} used to label leaves (and the output) by name.

    Returns:
        a graphviz.Source when the optional graphviz package is installed (renderable in
        notebooks, .render() to a file), otherwise a DotGraph. Both have .source.
    """
    names = {id(tensor): name for name, tensor in (params or {}).items()}
    ids = {}
    lines = [
        "digraph {",
        '  graph [size="12,12"]',
        '  node [shape=box, style="filled,rounded", fontname="monospace", fontsize=10]',
    ]

    def declare(obj, label, color):
        ids[id(obj)] = key = f"n{len(ids)}"
        escaped = label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'  {key} [label="{escaped}", fillcolor={color}]')
        return key

    def leaf_label(leaf):
        name = names.get(id(leaf))
        return f"{name}\n{leaf.shape}" if name else str(leaf.shape)

    output = declare(t, f"{names.get(id(t), 'output')}\n{t.shape}", "darkolivegreen1")
    if t.grad_fn is not None:
        stack = [t.grad_fn]
        lines.append(f"  {declare(t.grad_fn, t.grad_fn.name(), 'lightgrey')} -> {output}")
        while stack:
            node = stack.pop()
            for edge in node.edges:
                if edge is None:
                    continue
                if id(edge) not in ids:
                    if isinstance(edge, Node):
                        declare(edge, edge.name(), "lightgrey")
                        stack.append(edge)
                    else:
                        declare(edge, leaf_label(edge), "lightblue")
                lines.append(f"  {ids[id(edge)]} -> {ids[id(node)]}")
    lines.append("}")
    source = "\n".join(lines)
    try:
        import graphviz  # optional: renders the graph
    except ImportError:
        return DotGraph(source)
    return graphviz.Source(source)
