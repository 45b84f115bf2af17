"""Derivative chains. Forward mode: a tangent a loop carries from trip to trip computed as one
sum of partials times tangents (statement-level preaccumulation, as ADIFOR did); and tangents
divided by one denominator multiplied by its reciprocal, computed once (`share_reciprocals`).

The forward transform writes the tangent of `du = a * u - b * u * v` one operation at a time,
each a multiply-add on the tangent of the operation before:

    d_t4 = d_t3 * u + du2 * _t3
    d_t5 = d_t4 * v + dv2 * _t4
    ddu = d_t2 + -d_t5

Where a trip reads the tangent the trip before wrote (`du2`, the tangent of `u`), that chain is
the loop's critical path, as deep as the expression is in multiply-adds: Euler's Lotka-Volterra
step took 1.6x its primal for it. Written as a sum over the tangents it depends on,

    ddu = d_t1 * u - d_t3 * _t4_v + du2 * (_t1 - _t3 * v) - dv2 * _t4

the partials read primal values only, so they are computed beside the primal, and one multiply
and an addition lie between a trip's tangents and the next trip's (1.27x the primal).

Only scalar tangents read once, by a later statement of the same run of statements in a
loop's body, and depending on a scalar tangent the loop carries are folded into their reader; the
rest stays as the transform wrote it. Folding costs multiplies (a product's partials distribute
over its operands' tangents), which a loop without a recurrence would pay for nothing.

Reverse mode has the same chain the other way (`fold_adjoints`): a reverse sweep of Newton's
iteration adds six products into `bz` per trip, each reading the one before. There, the run of
adjoint statements of a trip is followed symbolically, each adjoint kept as coefficients times
the adjoints the run starts from, the coefficients computed from primal values where the
statements stood; the adjoints the run writes are computed once at its end (`bz = bz * _c7`:
1.6x -> 1.45x the hand adjoint). Only runs reading at most MAX_INPUTS adjoints from before (not
counting accumulators only added to) are folded: every coefficient is paid once per input. The
coefficients multiply partials before the adjoint multiplies them, so a loop only adding into an
accumulator (`bw += bs * _t4 * a[i]`, where `a[i] * _t4` may overflow and `bs * _t4` not) is
left as written: it has no chain to shorten.
"""

from collections import Counter

import gast

from ..compiler import anno
from ..compiler.templates import blocks, make_assign, make_const, make_name, names_read, walk
from ..compiler.valuetypes import FLOAT
from .saving import exposed_reads, primal_reads

MAX_TERMS = 8  # past this many tangents in one sum, the partials cost more than the chain
PURE_MODULES = {"np", "math"}


def fold(fn_def, types, tangents):
    """Fold, in place, the tangent chains of every loop of the generated `fn_def`;
    `tangents` names the function's tangent variables, `types` gives their types."""
    _Chains(fn_def, types, set(tangents)).run()


def share_reciprocals(fn_def, types, tangents, namer):
    """Tangents divided by one scalar denominator in a run of statements (the three
    `dv0 = (dr0 + -dtheta * v0) / theta` of a normalised vector) multiply, in place, by its
    reciprocal, computed once before the first: a division costs several multiplications.
    The primal's own divisions stay as written (its values are the function's)."""
    tangents = set(tangents)
    for block in blocks(fn_def.body):
        inserts = []
        for denominator, quotients in _shared_denominators(block, types, tangents):
            reciprocal = namer.temp("_r")
            types[reciprocal] = FLOAT
            for _, quotient in quotients:
                quotient.op, quotient.right = gast.Mult(), make_name(reciprocal)
            first = quotients[0][0]  # (its line: where a zero denominator raises)
            inserts.append((first, anno.copy_loc(make_assign(
                reciprocal, gast.BinOp(left=make_const(1.0), op=gast.Div(),
                                       right=anno.deepcopy(denominator))), block[first])))
        for position, stmt in sorted(inserts, key=lambda p: -p[0]):
            block.insert(position, stmt)


def _shared_denominators(block, types, tangents):
    """(denominator, [(position, quotient `tangent expression / denominator`)]) for each
    scalar denominator two or more tangent statements of `block` divide by, unchanged between
    them, in the order of their first quotient."""
    open_, closed = {}, []  # dump -> (the names it reads, denominator, quotients)
    for position, stmt in enumerate(block):
        if isinstance(stmt, gast.Assign) and _targets(stmt) & tangents:
            for node in walk(stmt.value):
                if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Div) and \
                        _scalar_partial(node.right, types, tangents) and \
                        any(isinstance(n, gast.Name) and n.id in tangents
                            for n in walk(node.left)):
                    key = gast.dump(node.right)
                    open_.setdefault(key, (names_read(node.right), node.right, []))[2].append(
                        (position, node))
        changed = _assigned([stmt])
        for key in [k for k, (reads, _, _) in open_.items() if reads & changed]:
            closed.append(open_.pop(key))
    return sorted(((d, quotients) for _, d, quotients in closed + list(open_.values())
                   if len(quotients) > 1), key=lambda group: group[1][0][0])


def _scalar_partial(node, types, tangents):
    """Is `node` an arithmetic expression of scalar numbers without tangents?"""
    for n in walk(node):
        if isinstance(n, gast.Name):
            ty = types.get(n.id)
            if n.id in tangents or ty is None or ty.kind not in ("f", "i") or ty.ndim:
                return False
        elif not isinstance(n, (gast.Constant, gast.BinOp, gast.UnaryOp, gast.operator,
                                gast.unaryop)):
            return False
    return True


class _Chains:
    def __init__(self, fn_def, types, tangents):
        self.fn_def, self.tangents = fn_def, tangents
        self.scalars = {n for n in tangents if _is_float(types.get(n)) and not types[n].ndim}
        self.arrays = {n: types[n].ndim for n in tangents
                       if _is_float(types.get(n)) and types[n].ndim}
        self.reads = Counter(n.id for n in walk(fn_def) if isinstance(n, gast.Name) and
                             isinstance(n.ctx, gast.Load))

    def run(self):
        for node in list(walk(self.fn_def)):
            if isinstance(node, (gast.For, gast.While)):
                self.loop(node)

    def loop(self, loop):
        exposed, _ = exposed_reads(loop.body, set())
        carried = exposed & _assigned(loop.body) & self.scalars  # from trip to trip
        tainted = set(carried)  # and what this trip computes from them
        removed, run = set(), []
        for stmt in loop.body:
            if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr)):
                run.append(stmt)
                continue
            removed |= self.fold(run, tainted, carried)
            run = []
            tainted |= _assigned([stmt])
        removed |= self.fold(run, tainted, carried)
        loop.body[:] = [s for s in loop.body if id(s) not in removed]

    def fold(self, run, tainted, carried):
        """Fold the chains of the straight-line statements `run`; the ids of the statements
        folded into others (to remove)."""
        pending, removed = {}, set()  # temp -> (position, its sum, on a recurrence?)
        for j, stmt in enumerate(run):
            terms = None
            if not isinstance(stmt, gast.Expr) and self.has_tangent(stmt.value):
                terms = self.linear(stmt.value)
            if terms is not None:
                # (`dx * y + dx * y`, written as `dx * (y + y)`, is one multiply fewer)
                folded = sum(self.atom(n) is not None for n in walk(stmt.value)) > len(terms)
                new = {}
                for key, (atom, coef) in terms.items():
                    name = atom.id if isinstance(atom, gast.Name) else None
                    position, inner, recurrent = pending.get(name, (None, None, False))
                    # a temporary on a recurrence, or one whose tangents the reader also
                    # multiplies (`d_t5 * y + dx * z` with `d_t5 = dx * c`: one multiply fewer)
                    if inner is not None and (recurrent or (set(inner) & {*terms, *new}) - {key}) \
                            and self.foldable(run, position, j, name, inner,
                                              len(terms) + len(new)):
                        for key2, (atom2, coef2) in inner.items():
                            _add_term(new, key2, atom2, _mul(coef, coef2))
                        removed.add(id(run[position]))
                        del pending[name]
                        folded = True
                    else:
                        _add_term(new, key, atom, coef)
                terms = new
                if folded:
                    stmt.value = _emit(terms, carried)
            targets = _targets(stmt)
            if names_read(stmt) & tainted:
                tainted |= targets
            if terms is not None and isinstance(stmt, gast.Assign) and len(targets) == 1:
                (t,) = targets
                if t in self.scalars and self.reads[t] == 1 and \
                        any(t in names_read(s) for s in run[j + 1:]) and \
                        isinstance(stmt.targets[0], gast.Name):
                    pending[t] = (j, terms, t in tainted)
        return removed

    def foldable(self, run, i, j, name, terms, size):
        """May the sum `terms`, computed into `name` at run[i], be computed at run[j] instead?"""
        if len(terms) + size > MAX_TERMS:
            return False
        reads = _reads_of(terms) | {name}
        # (an element read may see a store through another name for its memory, or a call)
        elements = any(isinstance(n, gast.Subscript) for atom, (_, c) in terms.values()
                       for n in walk([atom] + ([c] if c is not None else [])))
        for stmt in run[i + 1:j]:
            if _targets(stmt) & reads or elements and (
                    _stored(stmt) or any(isinstance(n, gast.Call) for n in walk(stmt))):
                return False
        return True

    # ---- sums of partials times tangents ---------------------------------------------------
    def has_tangent(self, node):
        return any(isinstance(n, gast.Name) and n.id in self.tangents for n in walk(node))

    def atom(self, node):
        """The key of a scalar tangent (`du`, `dx[i, k]`), or None."""
        if isinstance(node, gast.Name):
            return node.id if node.id in self.scalars else None
        if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and \
                node.value.id in self.arrays and not self.has_tangent(node.slice):
            items = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
            if len(items) == self.arrays[node.value.id] and \
                    not any(isinstance(n, gast.Slice) for n in walk(node.slice)):
                return gast.dump(node)
        return None

    def linear(self, node):
        """{key: (tangent, partial)} with `node` = the sum of tangent * partial, or None when
        `node` is not such a sum (a partial is (sign, expression or None for 1))."""
        key = self.atom(node)
        if key is not None:
            return {key: (node, (1, None))}
        if isinstance(node, gast.Constant) and node.value == 0 and \
                isinstance(node.value, (int, float)):
            return {}
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
            inner = self.linear(node.operand)
            return None if inner is None else _scaled(inner, (-1, None))
        if not isinstance(node, gast.BinOp):
            return None
        if isinstance(node.op, (gast.Add, gast.Sub)):
            left, right = self.linear(node.left), self.linear(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, gast.Sub):
                right = _scaled(right, (-1, None))
            for key, (atom, coef) in right.items():
                _add_term(left, key, atom, coef)
            return left
        if isinstance(node.op, gast.Mult):
            for side, factor in ((node.left, node.right), (node.right, node.left)):
                if self.partial(factor):
                    inner = self.linear(side)
                    return None if inner is None else _scaled(inner, (1, factor))
            return None
        if isinstance(node.op, gast.Div) and self.partial(node.right):
            inner = self.linear(node.left)
            if inner is None:
                return None
            return _scaled(inner, (1, gast.BinOp(left=make_const(1.0), op=gast.Div(),
                                                 right=node.right)))
        return None

    def partial(self, node):
        """Is `node` a tangent-free expression that may be computed later than written?"""
        if self.has_tangent(node):
            return False
        for n in walk(node):
            if isinstance(n, gast.Call) and not (
                    isinstance(n.func, gast.Attribute) and isinstance(n.func.value, gast.Name)
                    and n.func.value.id in PURE_MODULES or
                    isinstance(n.func, gast.Name) and n.func.id in ("abs", "min", "max")):
                return False
        return True


def _is_float(ty):
    return ty is not None and getattr(ty, "kind", None) == "f"


def _targets(stmt):
    if isinstance(stmt, gast.Expr):
        return set()
    targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
    return {n.id for t in targets for n in walk(t)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _stored(stmt):
    """The arrays `stmt` stores into."""
    if isinstance(stmt, gast.Expr):
        return set()
    targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
    return {t.value.id for t in targets
            if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name)}


def _assigned(stmts):
    """The names the statements assign, or store into, at any depth."""
    out = set()
    for node in walk(stmts):
        if isinstance(node, (gast.Assign, gast.AugAssign)):
            out |= _targets(node) | _stored(node)
        elif isinstance(node, gast.For):
            out |= {n.id for n in walk(node.target) if isinstance(n, gast.Name)}
    return out


def _reads_of(terms):
    return set().union(*(names_read(atom) | (names_read(coef[1]) if coef[1] else set())
                         for atom, coef in terms.values()))


# ---- partials: (sign, expression or None for 1) ----------------------------------------------
def _mul(a, b):
    (sa, ea), (sb, eb) = a, b
    if ea is None or eb is None:
        return sa * sb, ea if eb is None else eb
    return sa * sb, gast.BinOp(left=ea, op=gast.Mult(), right=eb)


def _plus(a, b):
    (sa, ea), (sb, eb) = a, b
    left = make_const(1.0) if ea is None else ea
    right = make_const(1.0) if eb is None else eb
    return sa, gast.BinOp(left=left, op=gast.Add() if sa == sb else gast.Sub(), right=right)


def _scaled(terms, factor):
    return {key: (atom, _mul(coef, factor)) for key, (atom, coef) in terms.items()}


def _add_term(terms, key, atom, coef):
    terms[key] = (atom, coef if key not in terms else _plus(terms[key][1], coef))


def _emit(terms, carried):
    """The expression of the sum `terms`; the tangents carried from the trip before are
    added last, to the sum of the others: `dmx + dse / se + dtotal`."""
    order = sorted(terms.values(), key=lambda t: bool(names_read(t[0]) & carried))
    # (x * (1.0 / c) is x / c, unless another partial computes 1.0 / c too: then a multiply
    # by the reciprocal, computed once, is cheaper than a second division)
    reciprocals = Counter(gast.dump(n) for _, (_, coef) in order if coef is not None
                          for n in walk(coef) if _is_reciprocal(n))
    out = None
    for atom, (sign, coef) in order:
        term = anno.deepcopy(atom)
        if _is_reciprocal(coef) and reciprocals[gast.dump(coef)] == 1:
            term = gast.BinOp(left=term, op=gast.Div(), right=anno.deepcopy(coef.right))
        elif coef is not None:
            term = gast.BinOp(left=term, op=gast.Mult(), right=anno.deepcopy(coef))
        if out is None:
            out = term if sign > 0 else gast.UnaryOp(op=gast.USub(), operand=term)
        else:
            out = gast.BinOp(left=out, op=gast.Add() if sign > 0 else gast.Sub(), right=term)
    return make_const(0.0) if out is None else out


def _is_reciprocal(expr):
    return isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Div) and \
        isinstance(expr.left, gast.Constant) and expr.left.value == 1.0


# ---- adjoint chains (reverse mode) ------------------------------------------------------------
# adjoints a run may read from before it: each costs a coefficient per statement it folds (rk4's
# reverse step, reading three, spent more on coefficients than its chain had cost)
MAX_INPUTS = 2


def fold_adjoints(fn_def, types, adjoints, namer):
    """Fold, in place, the adjoint chains of every loop of the generated gradient `fn_def`:
    where a trip of a reverse sweep reads an adjoint the trip before wrote (`bz`), the run of
    statements updating it is computed as coefficients from primal values beside the chain,
    and the adjoints it writes as one sum of coefficient times adjoint each, at the end."""
    _AdjointChains(fn_def, types, set(adjoints), namer).run()


class _AdjointChains(_Chains):
    def __init__(self, fn_def, types, adjoints, namer):
        super().__init__(fn_def, types, adjoints)
        self.arrays = {}  # (an element of an adjoint array is a store: the chain ends there)
        self.types, self.namer, self.coefficients = types, namer, set()
        self.reads = _read_counts(fn_def)

    def run(self):
        for block in blocks(self.fn_def.body):
            for position, stmt in enumerate(block):
                if isinstance(stmt, (gast.For, gast.While)):
                    self.loop(stmt, block[:position])
        self.remove_unread_coefficients()

    def loop(self, loop, before):
        exposed, _ = exposed_reads(loop.body, set())
        carried = exposed & _assigned(loop.body) & self.scalars
        if not carried:
            return
        zero = {n for n in carried if _zero_at_entry(n, loop.body, before)}
        body, run = [], []
        for stmt in loop.body + [None]:
            if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr)):
                run.append(stmt)
                continue
            inputs = exposed_reads(run, set())[0] & self.scalars - zero
            sinks = {n for n in inputs if _only_accumulated(n, run)}
            # (a chain: an adjoint the trip before wrote that others are computed from)
            chain = (inputs - sinks) & _assigned(run) & carried
            foldable = chain and len(inputs - sinks) <= MAX_INPUTS
            body += _AdjointRun(self, zero, sinks).fold(run) if foldable else run
            body += [stmt] if stmt is not None else []
            run, zero = [], set()  # (known zero only at the start of a trip)
        loop.body[:] = body

    def temporary(self, expr, out):
        """A new coefficient temporary, assigned `expr` by a statement appended to `out`."""
        name = self.namer.temp("_c")
        self.types[name] = FLOAT
        self.coefficients.add(name)
        out.append(make_assign(name, expr))
        return make_name(name)

    def remove_unread_coefficients(self):
        while True:
            read = {n.id for n in walk(self.fn_def) if isinstance(n, gast.Name) and
                    isinstance(n.ctx, gast.Load)}
            unread = self.coefficients - read
            if not unread:
                return
            for block in blocks(self.fn_def.body):
                block[:] = [s for s in block if not (
                    isinstance(s, gast.Assign) and _targets(s) & unread)]
            self.coefficients -= unread


class _AdjointRun:
    """One run of straight-line statements of a reverse loop's body, folded: each adjoint it
    assigns kept as {adjoint at the start of the run: coefficient} (`lin`) instead of
    computed, until a statement the fold does not take reads it or the run ends."""

    def __init__(self, chains, zero, sinks):
        self.chains, self.zero = chains, set(zero)  # (until the run assigns them)
        self.sinks = sinks  # (no other adjoint's sum reads them: they cost no coefficients)
        self.lin, self.inputs, self.computed = {}, set(), set()
        self.folded_reads = Counter()  # reads of an adjoint after the run assigned it
        self.known = {}  # coefficient expression -> (its temporary, the names it reads)

    def fold(self, run):
        out = []
        for stmt in run:
            target = _adjoint_target(stmt, self.chains.scalars)
            terms = None
            if target is not None and (isinstance(stmt, gast.Assign) or
                                       isinstance(stmt.op, (gast.Add, gast.Sub))):
                terms = self.chains.linear(stmt.value)
            if terms is not None:
                if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Sub):
                    terms = _scaled(terms, (-1, None))
                if isinstance(stmt, gast.AugAssign):
                    _add_term(terms, target, make_name(target), (1, None))
                combined = self.combine(terms, _read_counts(stmt), out)
                if combined is not None:
                    self.lin[target] = combined
                    self.computed.discard(target)
                    self.zero.discard(target)
                    continue
            self.keep(stmt, out)
        self.flush(out)
        return out

    def combine(self, terms, reads, out):
        """The sum `terms` of adjoints (of a statement reading `reads`) in terms of the run's
        inputs, or None past MAX_INPUTS."""
        combined = {}
        for key, (atom, coef) in terms.items():
            for source, source_coef in self.value_of(key).items():
                _add_term(combined, source, make_name(source), _mul(coef, source_coef))
        if len(set(combined) - self.sinks) > MAX_INPUTS:  # (after a flush, new inputs)
            return None
        for key in terms:
            if key in self.lin:  # (every read: `b_t7 * v + b_t7 * v` reads b_t7 twice)
                self.folded_reads[key] += reads[key]
            elif key not in self.zero:
                self.inputs.add(key)
        return {key: (atom, self.coefficient(coef, out)) for key, (atom, coef) in combined.items()}

    def coefficient(self, coef, out):
        """`coef` (sign, expression or None), its expression computed into a temporary (one per
        expression while the names it reads keep their values) unless a number or a name."""
        sign, expr = coef
        if expr is None or isinstance(expr, (gast.Constant, gast.Name)):
            return coef
        key = gast.dump(expr)
        if key not in self.known:
            self.known[key] = (self.chains.temporary(expr, out), names_read(expr))
        return sign, make_name(self.known[key][0].id)

    def value_of(self, name):
        if name in self.lin:
            return {key: coef for key, (_, coef) in self.lin[name].items()}
        return {} if name in self.zero else {name: (1, None)}

    def keep(self, stmt, out):
        """Keep `stmt` as written: the adjoints it reads computed first, and the coefficients
        that read a name it assigns copied before it."""
        pending = {n for n in self.lin if n not in self.computed}
        reads, writes = primal_reads(stmt) & pending, _targets(stmt) | _stored(stmt)
        self.zero -= writes
        if writes & self.chains.scalars or reads & self.inputs:
            self.flush(out)
        else:
            for name in sorted(reads):
                out.append(make_assign(name, _emit(self.lin[name], set())))
                self.computed.add(name)
        for terms in self.lin.values():  # (coefficients are numbers, names or temporaries)
            for key, (atom, (sign, expr)) in terms.items():
                if isinstance(expr, gast.Name) and expr.id in writes:
                    terms[key] = (atom, (sign, self.chains.temporary(make_name(expr.id), out)))
        calls = any(isinstance(n, gast.Call) for n in walk(stmt))  # (may store into arrays)
        self.known = {k: v for k, v in self.known.items() if not (calls or v[1] & writes)}
        out.append(stmt)

    def flush(self, out):
        """Compute every adjoint the run assigned and a later statement may read; then the
        run starts again from the values now computed."""
        reads = self.chains.reads
        live = [n for n in self.lin if n not in self.computed and (
            n in self.inputs or reads[n] > self.folded_reads[n])]
        # (an adjoint another one's sum reads is assigned after every sum is computed)
        read_by_others = [n for n in live if any(n in self.lin[m] for m in live if m != n)]
        held = {}
        for name in read_by_others:
            held[name] = self.chains.namer.temp("_b")
            self.chains.types[held[name]] = FLOAT
            out.append(make_assign(held[name], _emit(self.lin[name], set())))
        for name in live:
            if name not in held:
                out.append(make_assign(name, _emit(self.lin[name], set())))
        out += [make_assign(name, make_name(temp)) for name, temp in held.items()]
        self.lin, self.inputs, self.computed = {}, set(), set()
        self.folded_reads = Counter()


def _adjoint_target(stmt, scalars):
    """The scalar adjoint `stmt` assigns (`b = ...`, `b += ...`), or None."""
    target = stmt.targets[0] if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
        else getattr(stmt, "target", None)
    if isinstance(target, gast.Name) and target.id in scalars:
        return target.id
    return None


def _read_counts(node):
    """How many times `node` reads each name (a `+=` target too)."""
    return Counter(n.id for n in walk(node) if isinstance(n, gast.Name) and (
        isinstance(n.ctx, gast.Load))) + Counter(n.target.id for n in walk(node) if isinstance(
            n, gast.AugAssign) and isinstance(n.target, gast.Name))


def _only_accumulated(name, run):
    """Does `run` read `name` only to add to it (`bc += bu * t`)?"""
    return not any(name in names_read(s) for s in run) and all(
        isinstance(s, gast.AugAssign) and isinstance(s.op, (gast.Add, gast.Sub))
        for s in run if isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name) and
        s.target.id == name)


def _zero_at_entry(name, body, before):
    """Is `name` zero whenever a trip of the loop with `body` starts: set to 0.0 last in the
    body (which no `continue` skips) and last before the loop?"""
    def last_assignment(stmts):
        return next((s for s in reversed(stmts) if name in _assigned([s])), None)

    def is_zero(stmt):
        return isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Constant) and \
            stmt.value.value == 0 and isinstance(stmt.targets[0], gast.Name)
    return is_zero(last_assignment(body)) and is_zero(last_assignment(before)) and \
        not any(isinstance(n, gast.Continue) for n in walk(body))
