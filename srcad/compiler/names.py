"""Naming for generated code: adjoints are `b<name>` (Griewank's b-for-reverse), tangents
`d<name>`, temporaries are short and never collide with a user's name.
"""

import re


class Namer:
    """Hands out fresh names that collide neither with the user's names nor with each other."""

    def __init__(self, taken=()):
        self.taken = set(taken)
        self._adjoints = {}
        self._tangents = {}
        self._next = {}  # hint -> the number its next temporary tries first
        self.buffers = set()  # the arrays and lists the forward sweep saves values into
        self.results = set()  # what jumps.lower returns through: assigned wherever it returns
        self.analyzed = set()  # the variables unassigned.check_reads has seen
        self.custom_adjoints = set()  # what custom rules' vjps return: maybe a global array
        self.rules = set()  # the names the generated code calls custom rules by

    def fresh(self, base):
        base = re.sub(r"\W", "_", base) or "t"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name

    def buffer(self, base):
        """A fresh name for a save buffer."""
        name = self.fresh(base)
        self.buffers.add(name)
        return name

    def temp(self, hint="_t"):
        """A fresh temporary: `_t1`, `_t2`, ... (or `<hint>1`, ...)."""
        k = self._next.get(hint, 1)
        while f"{hint}{k}" in self.taken:
            k += 1
        self._next[hint] = k + 1
        self.taken.add(f"{hint}{k}")
        return f"{hint}{k}"

    def _derived(self, table, prefix, name):
        if name not in table:
            table[name] = self.fresh(prefix + name)
        return table[name]

    def adjoint(self, name):
        """The adjoint variable of `name`: `bx` for `x`, `b_t3` for `_t3`, stable per name."""
        return self._derived(self._adjoints, "b", name)

    def adjoint_names(self):
        return dict(self._adjoints)

    def tangent(self, name):
        """The tangent variable of `name`: `dx` for `x`, `d_t3` for `_t3`, stable per name."""
        return self._derived(self._tangents, "d", name)

    def tangent_names(self):
        return dict(self._tangents)
