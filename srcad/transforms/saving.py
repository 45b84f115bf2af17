"""Save planning: which values the forward sweep saves for the reverse sweep, and which it
need not.

Input: the tables `reverse.Differentiator` collects (for every variable, the paths where the
reverse sweep reads it and where it is defined; the loops). Output, on the differentiator:
`saves` (definitions that save the value they overwrite), `inverted` (integer steps undone
by stepping back), `recompute` and `recompute_at_use` (cheap values the reverse sweep
recomputes), `checkpointed` (loops whose trips are re-run in the reverse sweep) and `inits`
(where each adjoint starts at zero).

A value needs saving when a definition can overwrite it after a statement whose adjoint reads
it (`precedes` over paths). The alternatives, chosen by the cost model below: recompute a cheap
scalar or view right before each adjoint that reads it, step an integer counter back, or
checkpoint a top-level loop whose inner loops would save more than its trips compute.
"""

import gast

from ..compiler import anno, lists
from ..compiler.aliasing import ALLOCATIONS
from ..compiler.templates import (make_assign, make_const, make_name, names_read,
                                 stored_array, walk)

# expressions cheap enough to recompute in the reverse sweep rather than save
CHEAP = (gast.Subscript, gast.BinOp, gast.UnaryOp, gast.Name, gast.Compare)


# the static cost model choosing between saving inside a loop and re-running its trips, in
# units of one arithmetic operation: a save writes and reads back 8 bytes of a buffer that
# outgrows the caches; an inner loop is assumed to run INNER_TRIPS trips
SAVE_COST = 8
CALL_COST = 20
DIVISION_COST = 4
INNER_TRIPS = 8
CHEAP_CALLS = (abs, min, max, float, int, len)


def _cost(stmt):
    if isinstance(stmt, gast.Raise):
        return 0
    value = stmt.value
    if isinstance(value, gast.Call):
        return 1 if anno.getanno(value.func, "func") in CHEAP_CALLS else CALL_COST
    if isinstance(value, gast.BinOp):
        return DIVISION_COST if isinstance(value.op, (gast.Div, gast.FloorDiv, gast.Mod)) else 1
    return 0 if isinstance(value, (gast.Name, gast.Constant)) and isinstance(stmt, gast.Assign) \
        else 1


# ---- positions: which program point can execute before which -----------------------------

def precedes(p, d, loops):
    """Can the point at path `p` execute before the point at path `d`?

    Paths alternate block indices and branch numbers (0 body, 1 orelse); `loops` holds the
    paths of loop statements. Virtual points just before / after a compound statement use
    the index -/+ 0.5.
    """
    if p == d:
        return _in_common_loop(p, d, len(p), loops)
    k = next((i for i, (a, b) in enumerate(zip(p, d, strict=False)) if a != b), min(len(p), len(d)))
    if k % 2 == 0 and k < len(p) and k < len(d) and p[k] < d[k]:
        return True
    return _in_common_loop(p, d, k, loops)


def _in_common_loop(p, d, k, loops):
    # ancestors shared by both: statement paths p[:j+1] for even j with j + 1 < k
    return any(p[:j + 1] in loops for j in range(0, k - 1, 2))


class SavePlanner:
    """The planning half of `reverse.Differentiator` (a mixin: it reads the tables the
    differentiator collects and uses its type helpers)."""

    def plan(self, body):
        """Saves (with recomputation and counter stepping), then the loops to checkpoint (and,
        if any, the saves again, now without telling their trips apart), then where each
        adjoint starts."""
        self.list_counts = lists.appends(self.core.tree)  # (`appends`)
        self.plan_inits(body)
        self.plan_array_inits(body)
        self.parallel = {p: q for p, q in self.parallel.items()
                         if self.can_run_in_parallel(p, q)}
        self.fused = self.loops_to_fuse(body)
        reads = {name: list(paths) for name, paths in self.reads.items()}
        self.plan_saves_and_restores(body)
        self.checkpointed = self.loops_to_checkpoint(body) | set(self.parallel) | \
            set(self.fused)
        if self.checkpointed:
            self.save_loops = {p: s for p, s in self.loops.items() if p not in self.checkpointed}
            self.reads = reads
            self.forget_plan()
            for path in self.checkpointed:  # re-running a trip reads what the body reads
                loop = self.loops[path]
                for name in primal_reads(loop) - _written(loop):
                    self.read(name, path[:-1] + (path[-1] - 0.5,))
            self.plan_saves_and_restores(body)

    def plan_saves_and_restores(self, body):
        """`plan_saves`, again while the restores it plans read variables nobody planned for:
        the reverse sweep puts a saved element back (`a[i] = saved`) where it reverses the
        store, so `i` must have its value from then (a while loop's counter is restored too)."""
        # (planning rewrites the reads: a value recomputed at its uses makes its inputs read
        # there instead; each new plan starts from the reads as collected)
        reads = {name: list(paths) for name, paths in self.reads.items()}
        while True:
            self.plan_saves(body)
            added = False
            for d, name in list(self.saves):
                if not isinstance(d[-1], int) or not self.stores_into(d, name):
                    continue  # (a virtual point: a checkpointed loop's snapshot)
                stmt = self.statement_at(d)
                target = stmt.target if isinstance(stmt, gast.AugAssign) else stmt.targets[0]
                for index in sorted(names_read(target.slice)):
                    if d not in reads.get(index, []):
                        reads.setdefault(index, []).append(d)
                        added = True
            if not added:
                return
            self.reads = {name: list(paths) for name, paths in reads.items()}
            self.forget_plan()

    def forget_plan(self):
        """Drop what `plan_saves` decided, to plan again."""
        self.saves, self.inverted, self.recompute, self.recompute_at_use = {}, {}, {}, {}

    def plan_saves(self, body):
        """Mark each definition overwriting a value the reverse sweep reads later."""
        # an element store into an array changes the memory every name sharing it reads:
        # what those reads need must come back too
        stored = {n for (d, n) in ((d, n) for n, ds in self.defs.items() for d in ds)
                  if isinstance(d[-1], int) and self.stores_into(d, n)}
        before = {name: list(paths) for name, paths in self.reads.items()}
        for name in stored:
            for other in self.aliases.shares.get(name, ()):
                self.reads.setdefault(name, []).extend(before.get(other, []))
        self.plan_recomputation_at_use(body, self.aliases.views)
        index_of = {}  # name -> paths of the for loops it indexes
        for path, loop in self.loops.items():
            if isinstance(loop, gast.For):
                index_of.setdefault(loop.target.id, []).append(path)
        for name, reads in self.reads.items():
            for d in self.defs.get(name, []):
                # a reversed for loop sets its own index: reads inside it need no save made
                # outside it
                reads_seeing_d = [p for p in reads if not any(
                    inside(p, loop) and not inside(d, loop) for loop in index_of.get(name, []))]
                if any(precedes(p, d, self.save_loops) for p in reads_seeing_d) and \
                        not self.overwrites_unread_fresh_memory(name, d, reads_seeing_d) and \
                        not self.appends(name, d):
                    if self.recomputable(name, d, body):
                        self.recompute.setdefault(d[:-1], []).append(name)
                    else:
                        self.saves[(d, name)] = None
        self.plan_inversions(body)

    def overwrites_unread_fresh_memory(self, name, d, reads):
        """Does the store into `name` at `d` overwrite memory no read in `reads` saw? True when
        an assignment of a new array to `name` (`x = np.empty(n)`) runs before `d` in a block
        around it, with no other assignment of `name` after it in that block, and no read
        from it on (its own adjoint's included) can run before `d` without running it again:
        reads elsewhere saw the memory of another array. (The common fill of a new array in a loop then saves nothing.)"""
        if not (isinstance(d[-1], int) and self.stores_into(d, name)):
            return False
        fresh = self.fresh_binding_before(name, d)
        if fresh is None:
            return False
        block, index = fresh
        after = [q for q in self.defs.get(name, []) if inside(q, block) and q[len(block)] > index]
        if any(not self.stores_into(q, name) for q in after):
            return False
        loops = {q: s for q, s in self.save_loops.items() if inside(q, block)}
        # (a read at the assignment itself counts: the adjoint of `a = 1.0 / x` reads `a`)
        return not any(inside(p, block) and p[len(block)] >= index and precedes(p, d, loops)
                       for p in reads)

    def appends(self, name, d):
        """Is the statement at `d` an append to the list `name` (compiler/lists.py)? It
        writes the slot past the list's last item, which nothing reads before the append: a
        zero, never restored."""
        if name not in self.list_counts or not (isinstance(d[-1], int) and
                                                self.stores_into(d, name)):
            return False
        stmt = self.statement_at(d)
        index = (stmt.target if isinstance(stmt, gast.AugAssign) else stmt.targets[0]).slice
        return isinstance(index, gast.Name) and index.id == self.list_counts[name]

    def fresh_binding_before(self, name, d):
        """(block, index) of the latest `name = <new array>` at a block level around `d`,
        before it, when it is the latest assignment of `name` on those levels; else None."""
        for k in range(len(d) - 1, -1, -2):
            block, at = d[:k], d[k]
            stmts = _block_at(self.core.tree.body, block)
            for j in range(at - 1, -1, -1):
                stmt = stmts[j]
                if self.defines_name(stmt, name):
                    return (block, j) if _new_array(stmt.value, self.ty) else None
                if name in _written(stmt):
                    return None
        return None

    def plan_inversions(self, body):
        """An integer stepped by a constant (`idx += 1`) is restored by stepping it back instead
        of saved, when every redefinition that can run later restores it too."""
        for d, name in self.saves:
            ty = self.ty(name)
            if not isinstance(d[-1], int) or ty.kind != "i" or ty.ndim:
                continue
            stmt = self.statement_at(d)
            value = stmt.value if isinstance(stmt, gast.Assign) and \
                isinstance(stmt.targets[0], gast.Name) else None
            if isinstance(value, gast.Name) and d[-1] > 0 and self.defs.get(value.id) == \
                    [d[:-1] + (d[-1] - 1,)]:  # core form: `_t = idx + 1; idx = _t`
                value = self.statement_at(d[:-1] + (d[-1] - 1,)).value
            if not (isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub))
                    and isinstance(value.left, gast.Name) and value.left.id == name and
                    isinstance(value.right, gast.Constant) and type(value.right.value) is int):
                continue
            if all((e, name) in self.saves for e in self.defs[name]
                   if precedes(d, e, self.save_loops)):
                inverse = gast.Sub() if isinstance(value.op, gast.Add) else gast.Add()
                self.inverted[(d, name)] = make_assign(name, gast.BinOp(
                    left=make_name(name), op=inverse, right=make_const(value.right.value)))

    def plan_recomputation_at_use(self, body, view_of):
        """Scalars defined by a cheap expression (and views) read only by adjoints later in the
        same block are recomputed just before each such adjoint instead of saved, when the
        expression's inputs hold the same values at the adjoint as at the definition (nothing
        in between redefines them) and the reverse sweep restores them there at no extra cost
        (see `_saves_affordable`). Later definitions are decided first, so an earlier
        temporary sees the reads its recomputing successors add."""
        self._cheap = {}
        for name, defs in self.defs.items():
            if len(defs) != 1 or not isinstance(defs[0][-1], int) or name in self.core.tree_args:
                continue
            stmt = self.statement_at(defs[0])
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and
                    isinstance(stmt.value, CHEAP)) or name in names_read(stmt.value):
                continue
            if self.ty(name).ndim == 0 and name not in view_of or \
                    isinstance(stmt.value, gast.Subscript) and \
                    self.index_kind(stmt.value.slice) == "basic" or \
                    self._elementwise_array(name, stmt.value):  # (a view: free to make again)
                self._cheap[name] = (defs[0], stmt)
        for name, (d, stmt) in sorted(self._cheap.items(), key=lambda c: c[1][0], reverse=True):
            reads = self.reads.get(name, [])
            if not any(precedes(p, d, self.save_loops) for p in reads):
                continue  # nothing overwrites it before the reverse sweep reads it
            costs = [self._recompute_cost(name, p) for p in reads]
            if all(c is not None and c <= SAVE_COST for c in costs) and \
                    all(self._simple_at(p) for p in reads):
                for p in set(reads):
                    for n in names_read(stmt.value):
                        self.read(n, p)
                self.reads[name] = []
                self.recompute_at_use[name] = (d, stmt)

    def _recompute_cost(self, name, p):
        """The operations the adjoint at `p` runs to recompute `name` from values it can read
        without new saves; None when it cannot."""
        if name not in self._cheap:
            return None
        d, stmt = self._cheap[name]
        k = len(d) - 1  # the index of the block's statements in a path
        if not isinstance(p[-1], int) or p[:k] != d[:k] or p[k] < d[k] or \
                p[k] == d[k] and p != d or \
                any(p[:j + 1] in self.loops for j in range(k, len(p) - 1, 2)):
            return None  # not at its own adjoint, nor later in its block (inside ifs only)
        cost = _cost(stmt)
        for n in names_read(stmt.value):
            # (an array also changes by a store into a name sharing its memory)
            if self._defined_between([n], d[:k], d[k], p[k]) or self._defined_between(
                    self.aliases.shares.get(n, ()), d[:k], d[k], p[k], stores_only=True):
                return None
            if not self._saves_affordable(n, p, d):
                more = self._recompute_cost(n, p)
                if more is None:
                    return None
                cost += more
        return cost

    def _elementwise_array(self, name, value):
        """Is `name` a new array of one arithmetic operation per element of its operands
        (`d * a`, `1.0 - a`, `-a`), sharing its memory with no other name? Recomputing it
        costs what saving it costs per element, less the save's copy and its buffer."""
        if not self.ty(name).is_array or name in self.aliases.shares or \
                set(self.reads.get(name, ())) <= self.shape_reads.get(name, set()):
            return False  # (read for its shape alone: the shape is saved)
        if isinstance(value, gast.UnaryOp):
            return isinstance(value.operand, gast.Name)
        return isinstance(value, gast.BinOp) and not isinstance(value.op, gast.MatMult) and \
            all(isinstance(v, (gast.Name, gast.Constant)) for v in (value.left, value.right))

    def _simple_at(self, path):
        return not isinstance(self.statement_at(path), (gast.If, gast.For, gast.While))

    def _defined_between(self, names, block, start, end, stores_only=False):
        """Does a definition of one of `names` (with `stores_only`, a store into its elements)
        sit in `block` after statement `start`, up to `end`?"""
        return any(e[:len(block)] == block and start < e[len(block)] <= end and
                   (not stores_only or self.stores_into(e, name))
                   for name in names for e in self.defs.get(name, []))

    def _saves_affordable(self, name, p, d):
        """Would reading `name` at `p` need only saves made already, or new scalar saves at
        definitions that run no more often than `d`, whose value the read recomputes?"""
        reads = self.reads.get(name, [])
        for e in self.defs.get(name, []):
            if not precedes(p, e, self.save_loops) or \
                    any(precedes(r, e, self.save_loops) for r in reads):
                continue
            if self.loop_depth(e) > self.loop_depth(d) or not self.saves_a_scalar(e, name):
                return False
        return True

    def loop_depth(self, path):
        return sum(1 for j in range(0, len(path) - 1, 2) if path[:j + 1] in self.save_loops)

    def saves_a_scalar(self, d, name):
        if not isinstance(d[-1], int):
            return True  # a loop index
        stmt = self.statement_at(d)
        target = stmt.target if isinstance(stmt, gast.AugAssign) else stmt.targets[0]
        if isinstance(target, gast.Subscript):
            return not self.index_result_type(target).is_array
        return not self.ty(name).is_array

    def recomputation(self, adjoint):
        """The definitions to rerun, in program order, before the statements `adjoint`."""
        todo = [n for s in adjoint for n in names_read(s) if n in self.recompute_at_use]
        needed = {}
        while todo:
            name = todo.pop()
            if name not in needed:
                needed[name] = self.recompute_at_use[name]
                todo.extend(n for n in names_read(needed[name][1].value)
                            if n in self.recompute_at_use)
        return [anno.deepcopy(stmt) for _, stmt in sorted(needed.values(), key=lambda v: v[0])]

    def loops_to_checkpoint(self, body):
        """Top-level `for` loops (no break) with saves inside an inner loop: saving every inner
        trip of every outer trip costs memory traffic growing with both. Such a loop runs as
        the plain primal in the forward sweep, saving only the values its body overwrites that
        a trip reads first (a snapshot); the reverse sweep restores each trip's snapshot and
        re-runs that trip with saves just before reversing it."""
        chosen = set()
        aliased = set(self.aliases.shares)
        for path, loop in self.loops.items():
            if len(path) != 1 or not isinstance(loop, gast.For) or \
                    anno.hasanno(loop, "exit_test") or _written(loop) & aliased:
                continue
            inner = [q for q in self.loops if inside(q, path)]
            if any(inside(d, q) for d, _ in self.saves for q in inner) and \
                    self.rerun_is_cheaper(path, loop):
                chosen.add(path)
        return chosen

    def rerun_is_cheaper(self, path, loop):
        """Does re-running the loop's trips cost less than its saves (a crude static model)?"""
        def weight(p):  # how often `p` runs per trip of the loop
            return INNER_TRIPS ** sum(1 for q in self.loops if inside(q, path) and inside(p, q))
        saves = sum(SAVE_COST * weight(d) for d, name in self.saves
                    if inside(d, path) and (d, name) not in self.inverted)
        rerun = sum(_cost(n) * weight(self.paths[id(n)]) for n in gast.walk(loop)
                    if id(n) in self.paths and not isinstance(n, (gast.If, gast.For, gast.While)))
        return saves > rerun

    def recomputable(self, name, d, body):
        """Can the reverse sweep recompute `name` (defined at `d` inside a loop) instead of
        saving it? Yes for a cheap expression of values the loop never changes, when `name`
        is private to its block: the reversed block then starts with `name = <expression>`."""
        loop_path = next((d[:j + 1] for j in range(len(d) - 3, -1, -2)
                          if d[:j + 1] in self.loops), None)
        if loop_path is None or self.defs.get(name) != [d] or not isinstance(d[-1], int):
            return False
        stmt = self.statement_at(d)
        if not isinstance(stmt, gast.Assign) or not isinstance(stmt.value, CHEAP) or \
                isinstance(stmt.value, gast.Call):
            return False
        if not self.private_to(name, d[:-1], body):
            return False
        # a read in a loop around `d` but outside its block (after an `if` assigning it) may
        # see an earlier trip's value, which the reversal of a later trip then replaced
        loops = [d[:j + 1] for j in range(0, len(d) - 1, 2) if d[:j + 1] in self.loops]
        if any(inside(p, loop) and not inside(p, d[:-1])
               for p in self.reads.get(name, []) for loop in loops):
            return False
        indices = {self.loops[p].target.id for p in self.loops
                   if isinstance(self.loops[p], gast.For) and d[:len(p)] == p}
        earlier = set(self.recompute.get(d[:-1], []))
        # every value it reads must be the same whenever the reverse sweep gets there: not
        # redefined (nor written into) by anything that can run after the definition
        return all(n in indices or n in earlier or
                   not any(precedes(d, other, self.save_loops) for other in self.defs.get(n, []))
                   for n in names_read(stmt.value))

    def plan_inits(self, body):
        for name in sorted(self.active | set(self.wrt)):
            paths = self.defs.get(name, []) + self.uses.get(name, [])
            if name in self.wrt or name in self.core.tree_args:
                self.inits.setdefault((), []).append(name)
                continue
            block = _common_block([p for p in paths])
            while block and not self.private_to(name, block, body):
                block = block[:-2]  # the block holding the compound statement
            self.inits.setdefault(block, []).append(name)

    def plan_array_inits(self, body):
        """An array adjoint `bx = np.zeros_like(x)` needs `x` with the shape it has where the
        adjoint starts (an array may change shape from one loop trip to the next). It starts
        just before the reversal of the last statement of its block that touches it, sized
        from the value that statement accumulates when it adds a whole array (no read of `x`),
        else from `x` there (a read of `x`, which save planning then provides). A reset after
        a redefinition reads `x` as it was just before it."""
        self.array_inits = {}  # id(statement) -> (names starting there, sized from a value)
        for block, names in self.inits.items():
            stmts = _block_at(body, block)[:-1 if block == () else None]
            for name in names:
                if not self.ty(name).is_array or block == () and \
                        isinstance(self.ret_atom, gast.Name) and name == self.ret_atom.id:
                    continue  # (the returned value's adjoint starts with the reverse sweep)
                k = next((k for k in range(len(stmts) - 1, -1, -1)
                          if self.touches(stmts[k], name, block)), None)
                if k is None:
                    continue  # never touched: it starts at the block's start
                stmt, path = stmts[k], block + (k,)
                by_value = self.first_adjoint_adds_whole(stmt, name)
                self.array_inits.setdefault(id(stmt), ([], set()))[0].append(name)
                if by_value:
                    self.array_inits[id(stmt)][1].add(name)
                elif isinstance(stmt, (gast.If, gast.For, gast.While)) or \
                        self.defines_name(stmt, name):
                    self.read(name, block + (k + 0.5,))  # its value after the statement
                else:
                    self.read(name, path)
        for name in self.active:
            if self.ty(name).is_array:
                for d in self.defs.get(name, []):
                    if isinstance(d[-1], int) and \
                            self.defines_name(self.statement_at(d), name) and \
                            self.resets(name, d):
                        self.read(name, d[:-1] + (d[-1] - 0.25,))  # its value just before

    def touches(self, stmt, name, block):
        """Does the reversal of `stmt` read or write the adjoint of `name` (its adjoint
        statements, or a reset after it)?"""
        if isinstance(stmt, gast.If):
            return any(self.touches(s, name, block) for s in stmt.body + stmt.orelse)
        if isinstance(stmt, (gast.For, gast.While)):
            return any(self.touches(s, name, block) for s in stmt.body)
        adj = self.adj(name)
        if any(adj in {n.id for n in walk(a) if isinstance(n, gast.Name)}
               for a in self.adjoints.get(id(stmt), [])):
            return True
        return self.defines_name(stmt, name) and self.resets(name, self.paths[id(stmt)])

    def first_adjoint_adds_whole(self, stmt, name):
        """Is the first adjoint statement of `stmt` touching the adjoint of `name` a whole-array
        accumulation `b<name> += e` (where `e` has the shape `name` has there)?"""
        if not isinstance(stmt, (gast.Assign, gast.AugAssign)):
            return False
        adj = self.adj(name)
        for a in self.adjoints.get(id(stmt), []):
            if adj in {n.id for n in gast.walk(a) if isinstance(n, gast.Name)}:
                return isinstance(a, gast.AugAssign) and isinstance(a.target, gast.Name) and \
                    a.target.id == adj and isinstance(a.op, gast.Add) and \
                    adj not in names_read(a.value)
        return False

    def stores_into(self, d, name):
        """Does the statement at `d` write into the array `name` (an element or slice)?"""
        return stored_array(self.statement_at(d)) == name

    @staticmethod
    def defines_name(stmt, name):
        return isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
            stmt.targets[0].id == name

    def resets(self, name, d):
        """Must the adjoint of `name` be set back to zero after the reversal of its
        definition at `d`? When another definition the reverse sweep reaches later (so
        reading the adjoint) can have run before `d`; or when `name` is an argument (its
        adjoint is returned). An array adjoint starts anew at every trip of the loops around
        the block where it starts, so only definitions within a trip count."""
        if name in self.core.tree_args:
            return True
        loops = self.loops
        if self.ty(name).is_array:
            block = next((b for b, names in self.inits.items() if name in names), ())
            loops = {p: s for p, s in self.loops.items() if inside(p, block)}
        return any(precedes(e, d, loops) for e in self.defs.get(name, []))

    def private_to(self, name, block, body):
        """Is every use of `name` inside `block` preceded by a definition in the same block?"""
        stmts = _block_at(body, block)
        for stmt in stmts:
            touched = any(isinstance(n, gast.Name) and n.id == name for n in walk(stmt))
            if not touched:
                continue
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                    stmt.targets[0].id == name:
                return True
            return False
        return True

    def snapshot(self, stmt, path):
        """The variables the loop body overwrites that a trip may read before writing, or
        that the reverse sweep reads outside the loop (their values from before the loop)."""
        written = _written(stmt) - {stmt.target.id}
        outside = {n for n in written if any(not inside(p, path) for p in self.reads.get(n, []))}
        return sorted((exposed_reads(stmt.body, {stmt.target.id})[0] & written) | outside)

    def statement_at(self, path):
        return _block_at(self.core.tree.body, path[:-1])[path[-1]]


def _new_array(value, ty):
    """Is `value` (a core expression) certainly an array in memory no variable shares?"""
    if isinstance(value, gast.Call):
        return any(anno.getanno(value.func, "func") is f for f in ALLOCATIONS)
    return isinstance(value, (gast.BinOp, gast.UnaryOp)) and \
        any(ty(n).is_array for n in names_read(value))


def inside(path, loop_path):
    return len(path) > len(loop_path) and path[:len(loop_path)] == loop_path


def _written(stmt):
    """The variables `stmt` assigns or stores into."""
    written = set()
    for n in gast.walk(stmt):
        if isinstance(n, (gast.Assign, gast.AugAssign, gast.For)):
            t = n.targets[0] if isinstance(n, gast.Assign) else n.target
            written.add((t.value if isinstance(t, gast.Subscript) else t).id)
    return written


def primal_reads(stmt):
    """The variables `stmt` reads when it runs (a `+=` target too)."""
    return names_read(stmt) | {n.target.id for n in walk(stmt)
                               if isinstance(n, gast.AugAssign) and
                               isinstance(n.target, gast.Name)}


def exposed_reads(stmts, assigned):
    """(The names `stmts` may read before assigning them, the names certainly assigned after
    them), given the names in `assigned` (a name assigned in both branches of an `if` is
    assigned after it; one assigned in a loop's body is not: the loop may not run)."""
    assigned, exposed = set(assigned), set()
    for s in stmts:
        if isinstance(s, gast.If):
            exposed |= names_read(s.test) - assigned
            e_body, a_body = exposed_reads(s.body, assigned)
            e_else, a_else = exposed_reads(s.orelse, assigned)
            exposed |= e_body | e_else
            assigned = a_body & a_else
        elif isinstance(s, gast.For):
            exposed |= names_read(s.iter) - assigned
            exposed |= exposed_reads(s.body, assigned | {s.target.id})[0]
        elif isinstance(s, gast.While):
            exposed |= names_read(s.test) - assigned
            exposed |= exposed_reads(s.body, assigned)[0]
        else:
            exposed |= primal_reads(s) - assigned
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                assigned.add(s.targets[0].id)
    return exposed, assigned


def _common_block(paths):
    """The path of the innermost block containing every path (even length: a block)."""
    if not paths:
        return ()
    k = 0
    first = paths[0]
    while all(len(p) > k + 1 for p in paths) and all(p[k] == first[k] and p[k + 1] == first[k + 1]
                                                     for p in paths):
        k += 2
    block = first[:k]
    return block


def _block_at(body, block):
    stmts = body
    for j in range(0, len(block), 2):
        stmt = stmts[int(block[j])]
        stmts = stmt.body if block[j + 1] == 0 else stmt.orelse
    return stmts
