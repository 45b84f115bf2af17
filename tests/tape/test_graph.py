"""make_dot: torchviz's graph of the backward pass, as DOT text or a graphviz.Digraph."""

import re
import sys
import types

import numpy as np
import pytest

from srcad.tape import make_dot, tensor
from srcad.tape.graph import DotGraph, _dot_text, _walk


def build():
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor(3.0, requires_grad=True)
    return x, w, np.sin(x * w).sum()


def labels_and_edges(source):
    """The node labels and the edges by label: what a graph shows, without its object ids."""
    labels = dict(re.findall(r'\t(\d+) \[label=("[^"]*"|\w+)', source))
    edges = re.findall(r"\t(\d+) -> (\d+)", source)
    return sorted(labels.values()), sorted((labels[a], labels[b]) for a, b in edges)


def test_dot_text_names_operations_parameters_and_shapes(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if graphviz were not installed
    x, w, y = build()
    graph = make_dot(y, params={"x": x, "w": w})
    assert isinstance(graph, DotGraph) and str(graph) == graph.source
    assert graph.source.startswith("digraph {") and graph.source.endswith("}\n")
    labels, edges = labels_and_edges(graph.source)
    leaves = ['"x\n (2)"', '"w\n ()"']
    assert labels == sorted(["SumBackward0", "SinBackward0", "MulBackward0", *leaves,
                             "AccumulateGrad", "AccumulateGrad", '"\n ()"'])
    assert ("MulBackward0", "SinBackward0") in edges and ('"x\n (2)"', "AccumulateGrad") in edges
    assert ("SumBackward0", '"\n ()"') in edges and len(edges) == 7


def test_leaf_only_graph_and_save(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    x = tensor(1.0, requires_grad=True)
    graph = make_dot(x, params={"x": x})
    assert 'label="x\n ()"' in graph.source and "->" not in graph.source
    graph.save(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == graph.source


def test_returns_a_digraph_when_graphviz_is_installed(monkeypatch):
    calls = []

    class Digraph:
        def __init__(self, node_attr, graph_attr):
            calls.append(("graph", node_attr["shape"], graph_attr["size"]))

        def node(self, key, label, **attrs):
            calls.append(("node", label))

        def edge(self, tail, head):
            calls.append(("edge",))

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Digraph=Digraph))
    *_, y = build()
    graph = make_dot(y)
    assert isinstance(graph, Digraph) and ("graph", "box", "12,12") in calls
    assert ("node", "SinBackward0") in calls and calls.count(("edge",)) == 7


def test_graphviz_and_the_text_fallback_draw_the_same_graph():
    graphviz = pytest.importorskip("graphviz")
    x, w, y = build()
    params = {"x": x, "w": w}
    digraph = make_dot(y, params=params)
    assert isinstance(digraph, graphviz.Digraph)
    text = _dot_text(*_walk((y,), params), "12,12")
    assert labels_and_edges(digraph.source) == labels_and_edges(text)
