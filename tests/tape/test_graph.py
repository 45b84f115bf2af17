"""make_dot: DOT text of the backward graph, and the graphviz object when graphviz is there."""

import sys
import types

import numpy as np

from srcad.tape import make_dot, tensor
from srcad.tape.graph import DotGraph


def build():
    x = tensor([1.0, 2.0], requires_grad=True)
    w = tensor(3.0, requires_grad=True)
    return x, w, np.sin(x * w).sum()


def test_dot_text_names_operations_parameters_and_shapes(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if graphviz were not installed
    x, w, y = build()
    graph = make_dot(y, params={"x": x, "w": w})
    assert isinstance(graph, DotGraph) and str(graph) == graph.source
    text = graph.source
    assert text.startswith("digraph {") and text.endswith("}")
    for label in ("SumBackward", "SinBackward", "MulBackward", "x\\n(2,)", "w\\n()", "output\\n()"):
        assert f'label="{label}"' in text
    assert text.count("->") == 5  # x, w -> Mul -> Sin -> Sum -> output


def test_leaf_only_graph_and_save(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    x = tensor(1.0, requires_grad=True)
    graph = make_dot(x, params={"x": x})
    assert 'label="x\\n()"' in graph.source and "->" not in graph.source
    graph.save(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == graph.source


def test_returns_a_graphviz_source_when_graphviz_is_installed(monkeypatch):
    fake = types.ModuleType("graphviz")
    fake.Source = type(
        "Source", (), {"__init__": lambda self, source: setattr(self, "source", source)}
    )
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    *_, y = build()
    graph = make_dot(y)
    assert isinstance(graph, fake.Source) and "SinBackward" in graph.source
