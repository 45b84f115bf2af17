# The backward graph drawn by make_dot (torchviz): its node labels and edges, without ids.
import re

import torch
from torchviz import make_dot

x = torch.tensor([1.0, 2.0], requires_grad=True)
w = torch.tensor([[0.5, -1.0], [2.0, 1.0]], requires_grad=True)
b = torch.tensor(0.1, requires_grad=True)
y = ((w @ x + b).sigmoid() ** 2).sum()
dot = make_dot(y, params={"x": x, "w": w, "b": b})
labels = dict(re.findall(r'\t(\d+) \[label=("[^"]*"|\w+)', dot.source))
print(sorted(labels.values()))
edges = re.findall(r"\t(\d+) -> (\d+)", dot.source)
print(sorted((labels[tail], labels[head]) for tail, head in edges))
