"""Unassigned reads: a read of a local variable that a path reaches before any assignment of it
raises UnboundLocalError, as in Python (compiled by Numba, it would read 0 silently).

Input: a lowered function body (normalize, after jumps.lower: no `break` or `continue`, one
`return` at the end). A read is safe when every path to it assigns the name first (definite
assignment: after an `if`, what both branches assign; after a loop, what was assigned before
it, since its body may not run). For each name with an unsafe read (rare: a value made in a
branch or loop and read after it), the function gets a flag, False at its start and set True
after each assignment of the name, and each unsafe read is preceded by
`if not <flag>: raise UnboundLocalError(...)`.
"""

import os

import gast

from . import anno, templates
from ..errors import DerivedLoc

_name, _const = templates.make_name, templates.make_const


def check_reads(body, params, namer, shown=None):
    """`body` (a function's lowered statements; `params` are assigned when it starts) with the
    checks of its unsafe reads. An inlined helper's body is checked where it is inlined (its
    flags start False at each call, as its variables do in Python), and `shown` maps its
    variables to the names its messages give them (the helper's own); the caller's check
    leaves them alone (`namer.analyzed`)."""
    local = set(params) | {n.id for n in templates.walk(body)
                           if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    local -= namer.results | namer.analyzed
    namer.analyzed |= local
    finder = _UnsafeReads(local)
    finder.block(body, frozenset(params))
    if not finder.unsafe:
        return body
    names = sorted({name for reads in finder.unsafe.values() for name, _ in reads})
    flags = {name: namer.fresh(f"{name}_assigned") for name in names}
    out = _Checks(flags, finder.unsafe, shown or {}).block(body)
    return [templates.make_assign(flags[name], _const(False)) for name in names] + out


def _reads(node):
    """The names `node` reads, in the order Python reads them (near enough: a value before
    its targets, operands left to right)."""
    if isinstance(node, gast.Name):
        return [node.id] if isinstance(node.ctx, gast.Load) else []
    if isinstance(node, (gast.Assign, gast.AugAssign)):
        targets = node.targets if isinstance(node, gast.Assign) else [node.target]
        return _reads(node.value) + [name for t in targets for name in _reads(t)]
    return [name for child in gast.iter_child_nodes(node) for name in _reads(child)]


def _stored(node):
    return {n.id for n in templates.walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


class _UnsafeReads:
    """Finds the reads a path reaches before an assignment: `unsafe` maps a statement to its
    (name, the statement whose line names the read) pairs; a `while` statement's own entry
    holds the reads of its test at entry, `(stmt, "again")` those after a trip."""

    def __init__(self, local):
        self.local, self.unsafe = local, {}

    def block(self, stmts, assigned):
        for stmt in stmts:
            assigned = self.statement(stmt, assigned)
        return assigned

    def statement(self, stmt, assigned):
        if isinstance(stmt, gast.If):
            self.note(stmt, stmt.test, assigned)
            return self.block(stmt.body, assigned) & self.block(stmt.orelse, assigned)
        if isinstance(stmt, gast.For):
            self.note(stmt, stmt.iter, assigned)
            self.block(stmt.body, assigned | _stored(stmt.target))
            return self.block(stmt.orelse, assigned)
        if isinstance(stmt, gast.While):
            self.note(stmt, stmt.test, assigned)
            self.note((stmt, "again"), stmt.test, self.block(stmt.body, assigned), stmt)
            return self.block(stmt.orelse, assigned)
        if isinstance(stmt, (gast.FunctionDef, gast.ClassDef)):
            return assigned
        reads = _reads(stmt)
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            reads.insert(0, stmt.target.id)
        self.note(stmt, reads, assigned)
        return assigned | _stored(stmt)

    def note(self, key, node, assigned, located=None):
        reads = node if isinstance(node, list) else _reads(node)
        unsafe = [name for name in dict.fromkeys(reads)
                  if name in self.local and name not in assigned]
        if unsafe:
            self.unsafe[key] = [(name, located or key) for name in unsafe]


class _Checks:
    """Inserts the flags' assignments and the checks."""

    def __init__(self, flags, unsafe, shown):
        self.flags, self.unsafe, self.shown = flags, unsafe, shown

    def block(self, stmts):
        out = []
        checked = set()  # (names checked since the block's last compound statement)
        for stmt in stmts:
            reads = [(name, at) for name, at in self.unsafe.get(stmt) or () if name not in checked]
            out.extend(self.checks(reads))
            checked |= {name for name, _ in reads}
            if isinstance(stmt, (gast.If, gast.For, gast.While)) or \
                    _stored(stmt) & set(self.flags.values()):  # (a helper's flags reset)
                checked = set()
            if isinstance(stmt, gast.If):
                stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
            elif isinstance(stmt, (gast.For, gast.While)):
                body = self.block(stmt.body)
                if isinstance(stmt, gast.For):
                    body = self.set_flags(_stored(stmt.target), stmt) + body
                else:
                    body += self.checks(self.unsafe.get((stmt, "again")))
                stmt.body, stmt.orelse = body, self.block(stmt.orelse)
            out.append(stmt)
            if not isinstance(stmt, (gast.If, gast.For, gast.While)):
                out.extend(self.set_flags(_stored(stmt), stmt))
        return out

    def set_flags(self, names, stmt):
        return [anno.copy_loc(templates.make_assign(self.flags[name], _const(True)), stmt)
                for name in sorted(names & self.flags.keys())]

    def checks(self, reads):
        first = {}
        for name, stmt in reads or ():
            first.setdefault(name, stmt)  # (once per name: `s + x * s` reads s twice)
        return [anno.copy_loc(gast.If(
            test=gast.UnaryOp(op=gast.Not(), operand=_name(self.flags[name])),
            body=[gast.Raise(exc=gast.Call(func=_name("UnboundLocalError"), args=[
                _const(_message(self.shown.get(name, name), stmt))], keywords=[]),
                cause=None)],
            orelse=[]), stmt) for name, stmt in first.items()]


def _message(name, stmt):
    loc = anno.getanno(stmt, "loc")
    where = "" if loc is None or isinstance(loc, DerivedLoc) else \
        f" at {os.path.basename(loc.file)}:{loc.line}"
    return f"cannot access local variable {name!r}{where}: no assignment of it ran before"
