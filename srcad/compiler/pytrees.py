"""Structured values: tuples, lists and dicts (nested) of leaves, as JAX calls them pytrees.

`flatten(value)` -> (leaves, Treedef); `treedef.unflatten(leaves)` rebuilds a value of the same
structure. A Treedef is hashable and compares by structure (container types, dict keys in
their order, lengths), so it can be part of a specialisation's key. Anything that is not an
exact tuple, list or dict is a leaf (a namedtuple too: it is not rebuilt as a plain tuple).
"""

from dataclasses import dataclass

import numpy as np

CONTAINERS = (tuple, list, dict)


@dataclass(frozen=True)
class Treedef:
    kind: str  # "leaf", "tuple", "list" or "dict"
    keys: tuple = ()  # a dict's keys, in its order; 0, 1, ... for a tuple or list
    children: tuple = ()  # a Treedef per key

    @property
    def is_leaf(self):
        return self.kind == "leaf"

    @property
    def num_leaves(self):
        return 1 if self.is_leaf else sum(c.num_leaves for c in self.children)

    def unflatten(self, leaves):
        return self._build(iter(leaves))

    def _build(self, leaves):
        if self.is_leaf:
            return next(leaves)
        items = [c._build(leaves) for c in self.children]
        if self.kind == "dict":
            return dict(zip(self.keys, items, strict=True))
        return tuple(items) if self.kind == "tuple" else items

    def leaves_of(self, value):
        """The leaves of `value` in this structure's order (a dict's keys in any order), or
        None when `value` has another structure."""
        if self.is_leaf:
            return None if type(value) in CONTAINERS else [value]
        if type(value).__name__ != self.kind or len(value) != len(self.keys) or \
                self.kind == "dict" and set(value) != set(self.keys):
            return None
        leaves = []
        for key, child in zip(self.keys, self.children, strict=True):
            found = child.leaves_of(value[key])
            if found is None:
                return None
            leaves += found
        return leaves

    def paths(self, prefix=""):
        """The Python expression reaching each leaf, e.g. `params['W1']`, `layers[0][1]`."""
        if self.is_leaf:
            return [prefix]
        return [p for k, c in zip(self.keys, self.children, strict=True)
                for p in c.paths(f"{prefix}[{k!r}]")]

    def __str__(self):
        if self.is_leaf:
            return "*"
        inner = ", ".join(f"{k!r}: {c}" if self.kind == "dict" else str(c)
                          for k, c in zip(self.keys, self.children, strict=True))
        return {"dict": "{%s}", "list": "[%s]", "tuple": "(%s)"}[self.kind] % inner


LEAF = Treedef("leaf")


def is_structured(value):
    return type(value) in CONTAINERS


def flatten(value):
    """(leaves in order, Treedef) of `value`."""
    leaves = []
    return leaves, _flatten(value, leaves, ())


def _flatten(value, leaves, inside):
    kind = type(value)
    if kind not in CONTAINERS:
        leaves.append(value)
        return LEAF
    if id(value) in inside:
        raise TypeError(f"a {kind.__name__} that contains itself has no finite structure")
    inside += (id(value),)
    keys = tuple(value) if kind is dict else tuple(range(len(value)))
    items = value.values() if kind is dict else value
    return Treedef(kind.__name__, keys, tuple(_flatten(v, leaves, inside) for v in items))


def tree_map(fn, value):
    leaves, treedef = flatten(value)
    return treedef.unflatten(fn(leaf) for leaf in leaves)


def arrays_in(value):
    """The arrays `value` is or holds in tuples and lists, at any depth."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from arrays_in(item)
