"""Parallel: which top-level loops may run their trips on every core (`parallel=True`).

A top-level `for i in range(a, b)` loop qualifies when no trip reads what another writes,
apart from sums. Each variable the body assigns is then one of:

- private to the trip: every read in the trip comes after a write in the same trip, and
  nothing after the loop reads it (the last trip's value);
- a sum: `s = s + e` or `s = s - e` only, `s` read nowhere else in the body; each chunk of
  trips sums into its own copy, and the copies are added to `s` after the loop.

Each array the body stores into is one of:

- a row of the trip's own: every access is `a[i, ...]` with the loop's index first;
- a sum: only `a[k] += e` (`np.add.at` and `+=` on elements), never read in the body; each
  chunk adds into a zeroed copy of its own, added to `a` after the loop;
- a workspace: a new 1-D array allocated before the loop (`np.empty(n)`), not read after it,
  whose every element each trip writes before reading it (a `for r in range(n):` whose body
  stores `w[r] = ...` first); each chunk has its own;
- new in the trip (allocated there).

Anything else keeps the loop serial, and `srcad.explain(..., parallel=True)` says why, naming
the variable and its line. The reverse transform (`reverse.Differentiator.parallel_loop`)
emits the chunks.

Outside the loops, a matrix product of the gradient becomes the runtime's, which runs a large
matrix-vector product (`X @ w`, and `g @ X` in its adjoint) by blocks of rows on every thread
(`parallel_products`).
"""

import re
from dataclasses import dataclass, field

import gast

from ..compiler import anno, templates
from ..compiler.aliasing import ALLOCATIONS, is_fresh
from ..compiler.fusion import NEW_ARRAYS
from ..compiler.templates import SourceText, comment, names_read, stored_array, walk
from .saving import exposed_reads, primal_reads


@dataclass
class LoopPlan:
    path: tuple
    loc: object  # the loop's source location
    reason: str | None = None  # why it stays serial; None: it runs in parallel
    sums: list = field(default_factory=list)  # scalar sums
    array_sums: list = field(default_factory=list)  # arrays only added into
    workspaces: dict = field(default_factory=dict)  # name -> its allocation before the loop
    # the loop's index is never negative: `a[i]` is then trip i's own row (a negative index
    # would wrap around to another trip's)
    own_rows: bool = True

    def describe(self):
        where = f"line {self.loc.line}" if self.loc is not None else "a loop"
        if self.reason is not None:
            return f"the loop at {where} runs serially: {self.reason}"
        parts = [f"sums {', '.join(self.sums + self.array_sums)}"] if \
            self.sums or self.array_sums else []
        if self.workspaces:
            parts.append(f"a workspace per thread for {', '.join(sorted(self.workspaces))}")
        return f"the loop at {where} runs in parallel" + (f" ({'; '.join(parts)})"
                                                           if parts else "")


class _Serial(Exception):
    """A reason a loop stays serial."""


def plan(tree, types, aliases, origins=None):
    """{path: LoopPlan} of every top-level `for` loop of the core-form function `tree`
    (`origins`: temporary -> the user's expression, for messages)."""
    plans = {}
    body = tree.body
    definitions = {}
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            definitions.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, gast.For):
            definitions.setdefault(node.target.id, []).append(None)
    for k, stmt in enumerate(body):
        if not isinstance(stmt, gast.For):
            continue
        loop_plan = LoopPlan((k,), anno.getanno(stmt, "loc"))
        try:
            _Analysis(stmt, body[:k], body[k + 1:], types, aliases, loop_plan, definitions,
                      origins or {}).run()
        except _Serial as exc:
            loop_plan.reason = str(exc)
        plans[(k,)] = loop_plan
    return plans


class _Analysis:
    def __init__(self, loop, before, after, types, aliases, out, definitions, origins):
        self.loop, self.before, self.types, self.aliases, self.out = \
            loop, before, types, aliases, out
        self.definitions, self.origins = definitions, origins
        self.index = loop.target.id
        self.after_reads = exposed_reads(after, set())[0]  # (read before assigned again)
        self.before_reads = set().union(*map(primal_reads, before)) if before else set()

    def ty(self, name):
        return self.types.get(name)

    def run(self):
        loop = self.loop
        args = loop.iter.args if isinstance(loop.iter, gast.Call) else []
        if anno.getanno(loop.iter.func, "func") is not range or len(args) == 3 and not (
                isinstance(args[2], gast.Constant) and args[2].value == 1):
            raise _Serial("only `for i in range(a, b)` loops run in parallel")
        start = args[0] if len(args) > 1 else None
        self.out.own_rows = start is None or isinstance(start, gast.Constant) and \
            start.value >= 0
        if _leaves_early(loop.body) or anno.hasanno(loop, "exit_test") or \
                loop.body and isinstance(loop.body[-1], gast.If) and \
                any(isinstance(b, gast.Break) for b in loop.body[-1].body):
            raise _Serial("it may leave early (a break or return): its trip count is not "
                          "known when it starts")
        exposed, _ = exposed_reads(loop.body, {self.index})
        tuples = sorted(n for n in names_read(loop) - assigned(loop)
                        if getattr(self.ty(n), "kind", None) == "tuple")
        if tuples:  # (Numba's parallel region takes no tuple inside the tuple of arguments)
            raise _Serial(f"it reads the tuple '{self.user(tuples[0])}' (a parallel loop reads "
                          "arrays and numbers from outside it)")
        for name in sorted(assigned(loop)):
            if name in exposed:
                self.sum_or_serial(name)
            elif name in self.after_reads:
                raise _Serial(f"'{name}' is assigned in the loop and read after it (the last "
                              "trip's value)")
        for name in sorted(stored(loop)):
            self.array(name, exposed)

    def sum_or_serial(self, name):
        ty = self.ty(name)
        sums = _sums(self.loop.body, name, self.loop)
        if ty is None or ty.is_array or ty.kind not in "fi" or not sums or \
                _mentions(self.loop, name) != 2 * sums:
            first = next((s for s in _statements(self.loop.body) if name in primal_reads(s)), None)
            if re.fullmatch(r"_ret\d*", name):  # (jumps.py's: `return` inside a helper's loop)
                raise _Serial(f"a helper called in the trip returns from inside a loop{_line(first)}"
                              ", and srcad cannot tell that every trip sets the value it returns")
            if ty is not None and ty.is_array and sums:
                raise _Serial(f"'{self.user(name)}' is an array summed whole{_line(first)}: "
                              "sums of whole arrays stay serial (adding into its elements, "
                              "g[k] += e, may run in parallel)")
            other = _reader_besides_sums(self.loop.body, name) if sums else None
            if other is not None:
                raise _Serial(f"'{self.user(name)}' is a sum, and a trip also reads it"
                              f"{_line(other)}: the partial sum another trip would need")
            raise _Serial(f"a trip reads '{self.user(name)}' before assigning it{_line(first)}: "
                          "it carries a value from one trip to the next (only sums s = s + e may)")
        self.out.sums.append(name)

    def user(self, name):
        """`name` (or an expression of names, `g[_t2]`) as the user wrote it, with each
        temporary written as the expression it holds."""
        return str(SourceText(gast.parse(name, mode="eval").body, self.origins))

    def array(self, name, exposed):
        sharing = sorted(n for n in self.aliases.shares.get(name, ()) if _mentions(self.loop, n))
        if sharing:
            raise _Serial(f"'{name}' may share memory with "
                          f"{', '.join(repr(self.user(n)) for n in sharing)}, which the loop uses")
        stmts = list(_statements(self.loop.body))
        if name in assigned(self.loop):
            fresh = [s for s in stmts if isinstance(s, gast.Assign) and
                     isinstance(s.targets[0], gast.Name) and s.targets[0].id == name]
            if name not in exposed and all(_allocates(s.value) for s in fresh):
                return  # new in every trip
            raise _Serial(f"the loop stores into '{name}', which it does not allocate anew "
                          f"in every trip{_line(fresh[0] if fresh else None)}")
        if name in self.before_reads:  # (the reverse sweep reads it as it was then)
            if not _loaded(self.before, name):  # (`g[0] = v`: a store, also kept serial)
                raise _Serial(f"the loop writes into '{name}', whose elements are also set "
                              f"before the loop (an array qualifies when made whole before it: "
                              f"{name} = np.zeros(n), or an expression)")
            raise _Serial(f"the loop writes into '{name}', which is read before the loop")
        if self.out.own_rows and rows_only([self.loop], name, self.index):
            if _mentions(self.loop, name) > len(stored_at(self.loop, name)):
                raise _Serial(f"a trip reads and writes its row of '{name}' (a trip re-run in "
                              "the reverse sweep would read what it wrote)")
            return
        if added_only(self.loop.body, name):
            self.out.array_sums.append(name)
            return
        allocation, why = self.workspace_allocation(name)
        if allocation is not None:
            self.out.workspaces[name] = allocation
            return
        other_row = self.other_row_read(name)
        if other_row is not None:
            raise _Serial(f"a trip reads '{SourceText(other_row, self.origins)}', a row another "
                          "trip writes: it carries values from one trip to the next")
        stores = [s for s in stored_at(self.loop, name) if not self.out.own_rows or not
                  _first_index_is(s.targets[0] if isinstance(s, gast.Assign) else s.target,
                                  self.index)]
        first = next((s for s in stmts if s in stores), None) or \
            next(s for s in stmts if name in primal_reads(s))
        index = self.user(self.index)
        rows = "its own row (the loop's index may be negative, and a negative index wraps " \
            "around)" if not self.out.own_rows else f"its own row {name}[{index}, ...]" \
            if not index.startswith("_") else "its own row (indexed by the loop's own index, " \
            "which the loop reassigns)"
        raise _Serial(f"a trip writes into '{name}'{_line(first)} at places other than {rows}, "
                      f"does more than add into it (only {name}[k] += e may), and it is not a "
                      f"workspace: {why}")

    def other_row_read(self, name):
        """Where every trip writes its own row of `name` but reads another (`out[i - 1]`): that
        read, else None."""
        targets = [n.targets[0] if isinstance(n, gast.Assign) else n.target
                   for n in stored_at(self.loop, name)]
        if not self.out.own_rows or not all(isinstance(t, gast.Subscript) and
                                            _first_index_is(t, self.index) for t in targets):
            return None
        return next((n for n in gast.walk(self.loop) if isinstance(n, gast.Subscript) and
                     isinstance(n.ctx, gast.Load) and isinstance(n.value, gast.Name) and
                     n.value.id == name and not _first_index_is(n, self.index)), None)

    def workspace_allocation(self, name):
        """(the allocation `name = np.empty(n)` before the loop, None) when `name` is a
        workspace, else (None, why not)."""
        ty = self.ty(name)
        if ty is None or ty.ndim != 1:
            return None, "a workspace has one dimension"
        if name in self.after_reads:
            return None, "it is read after the loop"
        defs = [s for s in self.before if isinstance(s, gast.Assign) and
                isinstance(s.targets[0], gast.Name) and s.targets[0].id == name]
        if len(defs) != 1 or not isinstance(defs[0].value, gast.Call) or \
                not _allocates(defs[0].value) or not defs[0].value.args:  # (not `w = c * 2.0`)
            return None, "a workspace is allocated once before the loop (np.empty(n))"
        size = self.canonical(defs[0].value.args[0])
        if size is None:
            return None, "its size changes"
        if not _covered(self.loop.body, name, lambda arg: self.is_size(arg, size, name), False):
            return None, (f"a trip may read it before writing all of it (a workspace is filled "
                          f"by `for r in range(n): {name}[r] = ...` first)")
        return defs[0], None

    def is_size(self, arg, size, name):
        """Is `arg` (a range's stop) the workspace's size: the expression it was allocated with,
        or its own length?"""
        found = self.canonical(arg)
        return found is not None and found in (size, f"len({name})", f"{name}.shape[0]")

    def canonical(self, node, depth=0):
        """`node` as text with every variable assigned once replaced by its expression (so
        that `x.shape[1]` computed twice into two temporaries compares equal), or None when a
        variable it reads is assigned more than once."""
        if isinstance(node, gast.Constant):
            return repr(node.value)
        if isinstance(node, gast.Name):
            values = self.definitions.get(node.id, [])
            if not values:
                return node.id  # (an argument, never assigned)
            if len(values) > 1 or values[0] is None or depth > 20:
                return None
            return self.canonical(values[0], depth + 1)
        if isinstance(node, gast.Attribute) and node.attr == "shape" and \
                isinstance(node.value, gast.Name):
            return f"{node.value.id}.shape"  # (an array's shape, whatever names it)
        if isinstance(node, gast.Subscript):
            base, index = self.canonical(node.value, depth + 1), \
                self.canonical(node.slice, depth + 1)
            return None if base is None or index is None else f"{base}[{index}]"
        if isinstance(node, gast.Call) and anno.getanno(node.func, "func") is len and \
                len(node.args) == 1 and isinstance(node.args[0], gast.Name):
            return f"len({node.args[0].id})"
        return None


def _covered(stmts, name, is_size, full):
    """Does every read of the workspace `name` in `stmts` come after a loop that wrote all of
    it (`full`: one already has)? The loop is `for r in range(n):` (`is_size(n)`) storing
    `name[r] = ...` before any other mention of `name` in its body."""
    for s in stmts:
        if isinstance(s, gast.For) and not full and _fills(s, name, is_size):
            body = s.body
            k = next(k for k, b in enumerate(body) if _is_store_at(b, name, s.target.id))
            if not all(_only_at(b, name, s.target.id) for b in body[k + 1:]):
                return False
            full = True
        elif isinstance(s, (gast.For, gast.While)):
            if not full and _reads_values(s.iter if isinstance(s, gast.For) else s.test, name) or \
                    not _covered(s.body, name, is_size, full):
                return False
        elif isinstance(s, gast.If):
            if not full and _reads_values(s.test, name) or \
                    not _covered(s.body, name, is_size, full) or \
                    not _covered(s.orelse, name, is_size, full):
                return False
        elif not full and _reads_values(s, name):
            return False
    return True


def _fills(loop, name, is_size):
    args = loop.iter.args if isinstance(loop.iter, gast.Call) else []
    if anno.getanno(loop.iter.func, "func") is not range or len(args) != 1 or \
            not is_size(args[0]):
        return False
    for b in loop.body:  # (no statement can skip the rest of the body: no break, continue)
        if _is_store_at(b, name, loop.target.id):
            return True
        if _reads_values(b, name):
            return False
    return False


def _reads_values(node, name):
    """Does `node` mention the array `name` other than for its shape (`name.shape`,
    `len(name)`)?"""
    shape_reads = sum(1 for n in gast.walk(node) if
                      isinstance(n, gast.Attribute) and n.attr in ("shape", "ndim", "size") and
                      isinstance(n.value, gast.Name) and n.value.id == name or
                      isinstance(n, gast.Call) and anno.getanno(n.func, "func") is len and
                      len(n.args) == 1 and isinstance(n.args[0], gast.Name) and
                      n.args[0].id == name)
    return _mentions(node, name) > shape_reads


def _is_store_at(stmt, name, index):
    t = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
    return isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name) and \
        t.value.id == name and isinstance(t.slice, gast.Name) and t.slice.id == index and \
        name not in names_read(stmt.value)


def _only_at(stmt, name, index):
    """Does `stmt` mention `name` only as `name[index]`?"""
    subs = [n for n in gast.walk(stmt) if isinstance(n, gast.Subscript) and
            isinstance(n.value, gast.Name) and n.value.id == name]
    return len(subs) == _mentions(stmt, name) and \
        all(isinstance(s.slice, gast.Name) and s.slice.id == index for s in subs)


def _leaves_early(stmts):
    """Do `stmts` (a loop's body) return, or break or continue that loop (not one inside)?"""
    for stmt in stmts:
        if isinstance(stmt, (gast.Break, gast.Continue)) or \
                any(isinstance(n, gast.Return) for n in gast.walk(stmt)):
            return True
        if isinstance(stmt, gast.If) and (_leaves_early(stmt.body) or
                                          _leaves_early(stmt.orelse)):
            return True
    return False


def _mentions(node, name):
    return sum(1 for n in walk(node) if isinstance(n, gast.Name) and n.id == name)


def _first_index_is(sub, index):
    first = sub.slice.elts[0] if isinstance(sub.slice, gast.Tuple) else sub.slice
    return isinstance(first, gast.Name) and first.id == index


def _reader_besides_sums(body, name):
    """The first statement of a loop's `body` that reads `name` other than to add into it
    (`s = s + e`, or a temporary `t = s + e` the sum's next step reads), or None."""
    stmts = list(_statements(body))
    summing = [s for s in stmts if isinstance(s, gast.Assign) and
               isinstance(s.targets[0], gast.Name) and s.targets[0].id == name]
    feeding = {n for s in summing for n in names_read(s.value)}
    return next((s for s in stmts if name in primal_reads(s) and s not in summing and
                 not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and
                      s.targets[0].id in feeding)), None)


def _sums(stmts, name, loop):
    """How many times `stmts` add into `name`: `name = name + e` (`name = e + name`,
    `name = name - e`, a chain `name + e1 - e2`), also through temporaries that only the next
    step of the sum reads (`t = name + e1; u = b * b; name = t + u`)."""
    count = 0
    for k, s in enumerate(stmts):
        if isinstance(s, gast.If):
            count += _sums(s.body, name, loop) + _sums(s.orelse, name, loop)
        elif isinstance(s, (gast.For, gast.While)):
            count += _sums(s.body, name, loop)
        elif _is_sum(stmts, k, name, loop):
            count += 1
    return count


def _is_sum(stmts, k, name, loop):
    stmt = stmts[k]
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and
            stmt.targets[0].id == name):
        return False
    terms = _terms_added(stmts, k, stmt.value, name, loop)
    return bool(terms) and not any(name in names_read(e) for e in terms)


def _terms_added(stmts, k, value, name, loop):
    """The terms `value` (in stmts[k]) adds to `name`: `name + e1 - e2`, `e + name`, or the
    same of a temporary defined before that only this reads; None if it is no such sum."""
    candidates = []
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Add) and \
            isinstance(value.right, gast.Name):
        candidates.append((value.right.id, [value.left]))
    terms = []
    while isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub)):
        value, terms = value.left, terms + [value.right]
    if isinstance(value, gast.Name):
        candidates.append((value.id, terms))
    for root, terms in candidates:
        if root == name:
            return terms
        defs = [j for j in range(k) if isinstance(stmts[j], gast.Assign) and
                isinstance(stmts[j].targets[0], gast.Name) and stmts[j].targets[0].id == root]
        if defs and _mentions(loop, root) == 2:  # (a temporary holding part of the sum)
            more = _terms_added(stmts, defs[-1], stmts[defs[-1]].value, name, loop)
            if more is not None:
                return terms + more
    return None


def _loaded(stmts, name):
    """Do `stmts` read `name`'s values (not only store into its elements)?"""
    stored = {id(n.value) for s in stmts for n in walk(s)
              if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store)}
    return any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load) and
               id(n) not in stored for s in stmts for n in walk(s))


def _allocates(value):
    return is_fresh(value) or isinstance(value, gast.Call) and \
        any(anno.getanno(value.func, "func") is f for f in ALLOCATIONS)


def assigned(stmt):
    """The names `stmt` (re)binds, loop indices included."""
    out = set()
    for n in walk(stmt):
        if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name):
            out.add(n.targets[0].id)
        elif isinstance(n, gast.For):
            out.add(n.target.id)
    return out


def stored(stmt):
    """The arrays `stmt` stores into."""
    return {stored_array(n) for n in walk(stmt)} - {None}


def _statements(stmts):
    """The simple statements of `stmts`, nested ones included."""
    for s in stmts:
        if isinstance(s, gast.If):
            yield from _statements(s.body)
            yield from _statements(s.orelse)
        elif isinstance(s, (gast.For, gast.While)):
            yield from _statements(s.body)
        else:
            yield s


def _line(stmt):
    loc = anno.getanno(stmt, "loc") if stmt is not None else None
    return f" (line {loc.line})" if loc is not None else ""


def written(stmts):
    """The names `stmts` bind, update or store into (`rt.add_at(a, ...)` too)."""
    out = set()
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                out.add(n.id)
            elif isinstance(n, (gast.Assign, gast.AugAssign)):
                t = n.targets[0] if isinstance(n, gast.Assign) else n.target
                if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name):
                    out.add(t.value.id)
            elif _adds_at(n) is not None:
                out.add(_adds_at(n))
    return out


def added_only(stmts, name):
    """Do `stmts` only add into `name` (`name += e`, `name[k] += e`, `rt.add_at(name, ...)`),
    never reading it otherwise?"""
    sites = 0
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.AugAssign) and isinstance(n.op, gast.Add):
                t = n.target.value if isinstance(n.target, gast.Subscript) else n.target
                if isinstance(t, gast.Name) and t.id == name and \
                        name not in names_read(n.value) and \
                        (not isinstance(n.target, gast.Subscript) or
                         name not in names_read(n.target.slice)):
                    sites += 1
            elif _adds_at(n) == name and \
                    all(name not in names_read(a) for a in n.args[1:]):
                sites += 1
    return sites > 0 and sites == sum(_mentions(s, name) for s in stmts)


def rows_only(stmts, name, index):
    """Is every mention of `name` in `stmts` a subscript `name[index, ...]`?"""
    subs = [n for s in stmts for n in gast.walk(s) if isinstance(n, gast.Subscript) and
            isinstance(n.value, gast.Name) and n.value.id == name]
    return len(subs) == sum(_mentions(s, name) for s in stmts) and \
        all(_first_index_is(s, index) for s in subs)


def _adds_at(node):
    """The array `rt.add_at(a, ...)` / `rt.add_at_pairs(a, ...)` adds into, else None."""
    if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
            node.func.attr in ("add_at", "add_at_pairs") and node.args and \
            isinstance(node.args[0], gast.Name):
        return node.args[0].id
    return None


def finish_chunks(main, chunks, hidden):
    """After cleanup: drop the chunk functions' parameters their bodies no longer read, and
    pass them the data the gradient takes as arguments (`hidden`: read from globals at every
    call) that they read."""
    for chunk in chunks:
        read = names_read(chunk)
        params = [a.id for a in chunk.args.args]
        kept = [k for k, p in enumerate(params) if k < 2 or p in read]
        added = [n for n in hidden if n in read and n not in params]
        chunk.args.args = [chunk.args.args[k] for k in kept] + [
            gast.Name(id=n, ctx=gast.Param(), annotation=None, type_comment=None)
            for n in added]
        for call in gast.walk(main):  # rt.run_chunks(chunk, rest)
            if not (isinstance(call, gast.Call) and call.args and
                    isinstance(call.args[0], gast.Name) and call.args[0].id == chunk.name):
                continue
            rest = next(a for a in call.args[1:] if isinstance(a, gast.Tuple))
            rest.elts = [rest.elts[k - 1] for k in kept[1:]] + [
                gast.Name(id=n, ctx=gast.Load(), annotation=None, type_comment=None)
                for n in added]


def stored_at(node, name):
    """The statements in `node` storing into (elements of) `name`."""
    return [n for n in gast.walk(node) if stored_array(n) == name]


def without_stores(stmts, names):
    """`stmts` without the statements storing into the arrays `names` (in nested blocks too)."""
    out = []
    for s in stmts:
        if isinstance(s, gast.If):
            s.body, s.orelse = without_stores(s.body, names), without_stores(s.orelse, names)
        elif isinstance(s, (gast.For, gast.While)):
            s.body = without_stores(s.body, names)
        elif any(stored_at(s, n) for n in names):
            continue
        out.append(s)
    return out


PARALLEL_PRODUCTS = {"matmul_adjoint_b": "parallel_matmul_adjoint_b", "dot": "parallel_dot"}


def parallel_products(fn_def, np_name):
    """Make the matrix products of `fn_def` outside its loops the runtime's parallel ones, in
    place (`a @ b`, `np.dot(a, b)`, `rt.matmul_adjoint_b(g, a, b)`); how many there were."""
    count = 0

    class Products(gast.NodeTransformer):
        def visit_For(self, node):  # (a product inside a loop stays: no region per trip)
            return node

        visit_While = visit_For

        def visit_BinOp(self, node):
            nonlocal count
            self.generic_visit(node)
            if not isinstance(node.op, gast.MatMult):
                return node
            count += 1
            return _runtime_call("parallel_matmul", [node.left, node.right], node)

        def visit_Call(self, node):
            nonlocal count
            self.generic_visit(node)
            func = node.func
            if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and \
                    (func.value.id, func.attr) in (("rt", "matmul_adjoint_b"),
                                                   (np_name, "dot")) and \
                    not node.keywords:
                count += 1
                return _runtime_call(PARALLEL_PRODUCTS[func.attr], node.args, node)
            return node

    for stmt in fn_def.body:
        Products().visit(stmt)
    return count


def _runtime_call(name, args, like):
    call = gast.Call(func=gast.Attribute(value=gast.Name(id="rt", ctx=gast.Load(),
                                                         annotation=None, type_comment=None),
                                         attr=name, ctx=gast.Load()),
                     args=args, keywords=[])
    return gast.copy_location(call, like)


# ---- elementwise loops (fusion's) in chunks ----------------------------------------------------

def outline_fused_loops(fn_def, namer, np_name, module_names):
    """parallel=True: each loop nest fusion made (`fused_loop`) whose trips write only their own
    elements and add into scalar sums runs one chunk of its outer trips per thread (serially
    below rt.ELEMENTWISE_CHUNK_ELEMENTS elements), each chunk's sums into its own slot of an
    array added after the loop. Returns the chunk functions."""
    local = {a.id for a in fn_def.args.args} | assigned(fn_def)
    reads = _load_counts(fn_def)
    fresh = _allocated_only(fn_def, np_name)
    chunks = []
    for block in templates.blocks(fn_def.body):
        out = []
        for stmt in block:
            sums = _independent_trips(stmt, reads, fresh) if isinstance(stmt, gast.For) and \
                anno.getanno(stmt, "fused_loop") else None
            if sums is None:
                out.append(stmt)
                continue
            chunk, statements = _outlined(stmt, sums, namer, np_name, local - module_names,
                                          f"{fn_def.name}_elements")
            chunks.append(chunk)
            out.extend(statements)
        block[:] = out
    return chunks


def _load_counts(node):
    counts = {}
    for n in walk(node):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def _allocated_only(fn_def, np_name):
    """The names `fn_def` binds to new arrays only (`np.empty(...)`, `np.zeros_like(...)`):
    memory no other name shares, unless a view of it is taken (then that name is not one)."""
    allocated, other = set(), {a.id for a in fn_def.args.args}
    for n in walk(fn_def):
        if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name):
            value = n.value
            new = isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                isinstance(value.func.value, gast.Name) and value.func.value.id == np_name and \
                value.func.attr in NEW_ARRAYS
            (allocated if new else other).add(n.targets[0].id)
        elif isinstance(n, gast.For):
            other.add(n.target.id)
    return allocated - other


def _independent_trips(loop, reads, fresh):
    """The scalar sums of a fused loop nest whose statements assign scalars of the trip (read
    nowhere else), store and update elements at the trip's own index of arrays the function
    allocated (`fresh`: no view of another array, `bx[::-1]`, whose element i is another's
    element j), and add into sums (never read in it); None for any other loop. `reads`: the
    function's count of reads of each name."""
    nest, index = loop, []
    while isinstance(nest, gast.For) and isinstance(nest.target, gast.Name):
        index.append(nest.target.id)
        if len(nest.body) != 1 or not isinstance(nest.body[0], gast.For):
            break
        nest = nest.body[0]
    own = ", ".join(index)
    sums = []
    for s in nest.body:
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant):
            continue  # (a comment)
        if not isinstance(s, (gast.Assign, gast.AugAssign)):
            return None
        target = s.targets[0] if isinstance(s, gast.Assign) else s.target
        if isinstance(target, gast.Subscript):
            if not isinstance(target.value, gast.Name) or target.value.id not in fresh or \
                    templates.to_source(target.slice).strip("()") != own:
                return None
        elif isinstance(s, gast.AugAssign):
            if not isinstance(s.op, (gast.Add, gast.Sub)):
                return None
            sums.append(target.id)
    inside = _load_counts(loop)
    trip_values = assigned(loop) - set(index)
    if any(n in inside for n in sums) or len(set(sums)) != len(sums) or \
            exposed_reads(nest.body, set())[0] & trip_values or \
            any(reads.get(n, 0) > inside.get(n, 0) for n in trip_values):
        return None
    return sums


def _outlined(loop, sums, namer, np_name, local, name):
    """(the chunk function, the statements running it) of fused loop `loop`."""
    chunks, c = namer.fresh("_chunks"), namer.fresh("_c")
    parts = {s: namer.fresh(f"{s}_parts") for s in sums}
    sizes, nest = [], loop
    while isinstance(nest, gast.For):
        sizes.append(nest.iter.args[0])
        nest = nest.body[0] if len(nest.body) == 1 else None
    trips = sizes[0]
    elements = templates.fill(" * ".join(f"s{k}" for k in range(len(sizes))),
                              **{f"s{k}": s for k, s in enumerate(sizes)})
    loop.iter = templates.fill("range(rt.chunk_start(c, n, 0, t), rt.chunk_start(c + 1, n, 0, t))",
                               c=c, n=chunks, t=trips)
    body = [templates.make_assign(s, templates.make_const(0.0)) for s in sums] + [loop] + \
        [templates.fill_stmt("p[c] = s", p=parts[s], c=c, s=s) for s in sums]
    reads = set().union(*(names_read(s) for s in body))
    params = [c, chunks] + sorted((reads - assigned(loop) - set(sums) - {c, chunks}) & local |
                                  set(parts.values()))
    chunk = gast.FunctionDef(
        name=namer.fresh(name), body=[comment("a chunk of an elementwise loop's trips (one chunk "
                                              "per thread)")] + body,
        args=gast.arguments(args=[templates.make_name(p, gast.Param()) for p in params],
                            posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                            kwarg=None, defaults=[]),
        decorator_list=[], returns=None, type_comment=None, type_params=[])
    rest = gast.Tuple(elts=[templates.make_name(p) for p in params[1:]], ctx=gast.Load())
    return chunk, [
        templates.fill_stmt("n = rt.elementwise_chunk_count(t, e)", n=chunks, t=trips,
                            e=elements),
        *(templates.fill_stmt("p = np.zeros(n)", p=parts[s], np=np_name, n=chunks)
          for s in sums),
        gast.Expr(value=templates.fill("rt.run_chunks(f, rest)", f=chunk.name, rest=rest)),
        *(templates.fill_stmt("s += np.sum(p)", s=s, np=np_name, p=parts[s]) for s in sums)]
