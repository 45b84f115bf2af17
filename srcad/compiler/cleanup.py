"""Cleanup: make the generated gradient read like a careful hand-written adjoint.

Input and output: a gradient FunctionDef. Each pass returns whether it changed anything and
`cleanup` runs them until none does:

- `fold_constants`   `2 - 1` -> `1`, `x ** 1` -> `x`, `g * 1` -> `g`, `--g` -> `g`
- `forward_zeros`    an adjoint known to be zero: `b = 0.0; ...; b += e` becomes `b = e`
- `merge_accumulations` `b = e1; b += e2` becomes `b = e1 + e2`
- `propagate_copies` `bt = bs` (scalar adjoints): later reads of `bt` read `bs`
- `inline_temps`     a temporary read once, right where it is used, is written in place
- `remove_dead`      assignments nobody reads (liveness over if / for / while)
- `remove_unread_saves` save buffers whose restores were all dead
- `save_shapes_only` an array the reverse sweep reads only for its shape saves its shape
- `share_arrays`     an adjoint array passed on unchanged is not copied when nothing updates
                     either name in place
- `tidy`             empty ifs, repeated line comments

Only the reverse sweep's adjoints and the normalizer's temporaries are rewritten; the user's
own variables keep their names and statements.
"""

import bisect

import gast

from . import anno, typeinfer
from .aliasing import is_fresh
from .templates import make_name as _name
from .templates import make_const as _const
from .templates import COMMENT, blocks, is_comment, is_sliced, names_read, substitute, walk

def cleanup(fn_def, adjoints=(), array_adjoints=(), buffers=(), scalars=(), doubles=False):
    """Run every pass until none changes anything; returns the same (mutated) FunctionDef.

    Args:
        fn_def: the gradient function.
        adjoints: the names of adjoint variables (the only variables whose statements the
            adjoint-specific passes may rewrite).
        array_adjoints: {adjoint: its variable} of those holding arrays.
        buffers: the names of the forward sweep's save buffers.
        scalars: names known to hold numbers (values: never another name for an array).
        doubles: every float is a float64 (math.sin(x) is np.sin(x) for a number x).
    """
    ctx = _Context(set(adjoints), dict(array_adjoints), set(buffers), set(scalars), doubles)
    # the passes in turn until each has run once since the last change (a pass that found
    # nothing to do finds nothing again in code nothing changed since)
    unchanged = 0
    for k in range(50 * len(PASSES)):
        unchanged = 0 if PASSES[k % len(PASSES)](fn_def, ctx) else unchanged + 1
        if unchanged == len(PASSES):
            break
    # last: a row's adjoint made a view of another adjoint breaks the rule the passes above
    # share arrays by (an array updated in place is nobody else's)
    accumulate_in_place(fn_def, ctx)
    add_extrema_in_place(fn_def, ctx)
    return fn_def


class _Context:
    def __init__(self, adjoints, array_adjoints, buffers=(), scalars=(), doubles=False):
        self.adjoints, self.array_adjoints = adjoints, array_adjoints
        self.buffers, self.scalars = set(buffers), set(scalars)
        self.doubles = doubles

    def is_adjoint(self, name):
        return name in self.adjoints or name.startswith("b_out")


# ---- small helpers ----------------------------------------------------------------------------

_reads = names_read


def _writes(node):
    out = set()
    for n in walk(node):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
            out.add(n.id)
        elif isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Name):
            out.add(n.target.id)
        elif isinstance(n, (gast.Assign, gast.AugAssign)):
            t = n.targets[0] if isinstance(n, gast.Assign) else n.target
            if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name):
                out.add(t.value.id)
        elif isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute):
            if n.func.attr in CHUNK_RUNNERS:
                out.update(_chunk_arguments(n))
                continue
            if n.func.attr in SAVES and n.args:
                target = n.args[SAVES[n.func.attr]]
            elif n.func.attr in ("append", "pop"):
                target = n.func.value
            elif n.func.attr == "add_at" and n.args:
                target = n.args[0]
            else:
                continue
            if isinstance(target, gast.Name):
                out.add(target.id)
    return out


def _mentions(node, name):
    return any(isinstance(n, gast.Name) and n.id == name for n in walk(node))


def _replace_reads(node, old, new):
    for n in gast.walk(node):
        if isinstance(n, gast.Name) and n.id == old and isinstance(n.ctx, gast.Load):
            n.id = new


def _is_zero_init(stmt):
    """`b = 0.0` (-> "scalar") or `b = np.zeros_like(x)` (-> "array"), else None."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
        return None
    v = stmt.value
    if isinstance(v, gast.Constant) and v.value == 0.0 and not isinstance(v.value, bool):
        return "scalar"
    if isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute) and \
            v.func.attr == "zeros_like":
        return "array"
    return None


def _updated_array(node):
    """The variable whose array `node` updates in place (`a += e`, `a[i] = e`,
    `rt.add_at(a, ...)`), else None."""
    target = None
    if isinstance(node, gast.AugAssign):
        target = node.target
    elif isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript):
        target = node.targets[0]
    elif isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
            node.func.attr == "add_at":
        target = node.args[0]
    if isinstance(target, gast.Subscript):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _updates_in_place(fn_def):
    """{name: how many statements update the array it names in place}. Sharing one array
    between two names is safe when neither is."""
    counts = {}
    for n in walk(fn_def):
        names = _chunk_arguments(n) if any(_is_runtime(n, r) for r in CHUNK_RUNNERS) else \
            [_updated_array(n)]
        for name in names:
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
    return counts


# the runtime helper running a parallel loop's chunk function, which may write into any array
# it is passed
CHUNK_RUNNERS = ("run_chunks",)
SAVES = {"save_array": 1, "save_shape": 0}  # runtime helpers saving into a buffer argument
#                                            (which argument is written in place)


def _chunk_arguments(call):
    """The names passed to the chunk function that `rt.run_chunks(chunk, (a, b, ...))` runs."""
    return [n.id for a in call.args[1:] if isinstance(a, gast.Tuple)
            for n in a.elts if isinstance(n, gast.Name)]


def _is_pure(expr):
    for n in walk(expr):
        if isinstance(n, gast.Call):
            f = n.func
            if isinstance(f, gast.Attribute) and f.attr in ("append", "pop", "add_at") + \
                    CHUNK_RUNNERS + tuple(SAVES) or \
                    typeinfer.changes_state(anno.getanno(f, "func")):  # (`_ = print(s)`)
                return False
    return True


# ---- passes -----------------------------------------------------------------------------------

def fold_constants(fn_def, ctx):
    folder = _Folder()
    folder.visit(fn_def)
    return folder.changed


class _Folder(gast.NodeTransformer):
    """Folds constants and identities. An operation is replaced by an operand that may name an
    existing array (`x * 1.0` -> `x`) only where arithmetic consumes it: `y = x * 1.0` or
    `(x * 1.0)[1:]` must stay a new array."""

    def __init__(self):
        self.changed = False
        self.consumed = set()  # ids of operands of arithmetic

    def visit_AugAssign(self, node):
        self.consumed.add(id(node.value))
        node = self.generic_visit(node)
        return self.simplify_update(node)

    def visit_BinOp(self, node):
        self.consumed.update((id(node.left), id(node.right)))
        self.generic_visit(node)
        folded = self.fold(node, node.left, node.right, node.op)
        if id(node) not in self.consumed and not _is_new_value(folded):
            return node
        self.changed |= folded is not node
        return folded

    @staticmethod
    def fold(node, left, right, op):
        lc = left.value if _is_num(left) else None
        rc = right.value if _is_num(right) else None
        if lc is not None and rc is not None and isinstance(op, (gast.Add, gast.Sub,
                                                                  gast.Mult)):
            value = {gast.Add: lc + rc, gast.Sub: lc - rc, gast.Mult: lc * rc}[type(op)]
            return gast.Constant(value=value, kind=None)
        if isinstance(op, (gast.Add, gast.Sub)) and rc is not None and rc < 0:
            op = gast.Sub() if isinstance(op, gast.Add) else gast.Add()  # a - -1 -> a + 1
            return gast.BinOp(left=left, op=op, right=gast.Constant(value=-rc, kind=None))
        if isinstance(op, (gast.Add, gast.Sub)) and rc == 0 and not isinstance(rc, bool):
            return left
        if isinstance(op, gast.Add) and lc == 0 and not isinstance(lc, bool):
            return right
        if isinstance(op, gast.Pow) and rc == 1:
            return left
        if isinstance(op, gast.Mult) and rc == 1 and not isinstance(rc, bool):
            return left
        if isinstance(op, gast.Mult) and lc == 1 and not isinstance(lc, bool):
            return right
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, gast.Name) and node.func.id == "range" and \
                len(node.args) == 2 and _is_num(node.args[0]) and node.args[0].value == 0:
            self.changed = True  # range(0, n) -> range(n)
            node.args = node.args[1:]
        if _is_runtime(node, "pow_dx") and len(node.args) == 2 and _is_num(node.args[1]) and \
                node.args[1].value != 0:
            self.changed = True  # rt.pow_dx(x, 3) -> 3 * x ** (3 - 1)
            y = node.args[1]
            power = gast.BinOp(left=node.args[0], op=gast.Pow(),
                               right=gast.BinOp(left=y, op=gast.Sub(), right=_const(1)))
            return self.visit(gast.BinOp(left=anno.deepcopy(y), op=gast.Mult(), right=power))
        return node

    def simplify_update(self, node):
        v = node.value
        if isinstance(node.op, gast.Add) and isinstance(v, gast.UnaryOp) and \
                isinstance(v.op, gast.USub):
            self.changed = True
            node.op, node.value = gast.Sub(), v.operand
        elif isinstance(node.op, gast.Add) and isinstance(v, gast.BinOp) and \
                isinstance(v.left, gast.UnaryOp) and isinstance(v.left.op, gast.USub) and \
                isinstance(v.op, (gast.Mult, gast.Div)):
            self.changed = True
            node.op, v.left = gast.Sub(), v.left.operand
        return node

    def visit_UnaryOp(self, node):
        self.consumed.add(id(node.operand))
        self.generic_visit(node)
        inner = node.operand
        if isinstance(node.op, gast.USub) and isinstance(inner, gast.UnaryOp) and \
                isinstance(inner.op, gast.USub) and \
                (id(node) in self.consumed or _is_new_value(inner.operand)):
            self.changed = True
            return inner.operand
        return node


def _is_new_value(node):
    """Is `node` certainly not another name for (a part of) an existing array?"""
    return isinstance(node, (gast.BinOp, gast.UnaryOp, gast.Constant))


def _is_runtime(node, helper, namespace="rt"):
    """Is `node` a call of `rt.<helper>` (or of `<namespace>.<helper>`)?"""
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
        isinstance(node.func.value, gast.Name) and node.func.value.id == namespace and \
        node.func.attr == helper


def _is_num(node):
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) and \
        not isinstance(node.value, bool)


class _Mentions:
    """Where each name is mentioned in a block, for finding the next statement that mentions
    one without rescanning the block (statements are deleted by marking them)."""

    def __init__(self, block):
        self.block = block
        self.at = {}  # name -> sorted indices of the statements mentioning it
        self.deleted = set()
        for k, stmt in enumerate(block):
            self.add(k, stmt)

    def add(self, k, stmt):
        for name in {n.id for n in walk(stmt) if isinstance(n, gast.Name)}:
            at = self.at.setdefault(name, [])
            p = bisect.bisect_left(at, k)
            if p == len(at) or at[p] != k:
                at.insert(p, k)

    def all_after(self, i, name):
        """The indices of the statements after `i` mentioning `name`."""
        at = self.at.get(name, [])
        return [k for k in at[bisect.bisect_right(at, i):] if k not in self.deleted]

    def after(self, i, name):
        """The index of the next statement after `i` mentioning `name`, or None."""
        at = self.at.get(name, [])
        k = bisect.bisect_right(at, i)
        while k < len(at) and at[k] in self.deleted:
            k += 1
        return at[k] if k < len(at) else None

    def delete(self, k):
        self.deleted.add(k)

    def compact(self):
        self.block[:] = [s for k, s in enumerate(self.block) if k not in self.deleted]


def forward_zeros(fn_def, ctx):
    changed = False
    updates = _updates_in_place(fn_def)
    for block in blocks(fn_def.body):
        mentions = _Mentions(block)
        for i in range(len(block)):
            kind = _is_zero_init(block[i])
            if kind is None or not ctx.is_adjoint(block[i].targets[0].id):
                continue
            name = block[i].targets[0].id
            j = mentions.after(i, name)
            nxt = block[j] if j is not None else None
            if isinstance(nxt, gast.AugAssign) and isinstance(nxt.target, gast.Name) and \
                    nxt.target.id == name and not _mentions(nxt.value, name) and \
                    isinstance(nxt.op, (gast.Add, gast.Sub)) and \
                    (kind == "scalar" or isinstance(nxt.op, gast.Sub) or is_fresh(nxt.value)
                     or _may_share(updates, name, nxt.value, 1) or
                     block is fn_def.body and _shared_from_now(block[j + 1:], name, nxt.value)):
                value = nxt.value if isinstance(nxt.op, gast.Add) else \
                    gast.UnaryOp(op=gast.USub(), operand=nxt.value)
                block[j] = gast.Assign(targets=[nxt.target], value=value, type_comment=None)
                updates[name] = updates.get(name, 0) - 1
                mentions.delete(i)
                changed = True
        mentions.compact()
    return changed


def _shared_from_now(rest, name, value):
    """May `name` become another name for the array `value` (a Name) where the function's
    straight-line body goes on with `rest`: neither is updated in place there (what updated
    `value` before has finished)."""
    if not isinstance(value, gast.Name):
        return False
    updated = _updates_in_place(gast.Module(body=rest, type_ignores=[]))
    return not updated.get(name) and not updated.get(value.id)


def _may_share(updates, name, value, own_updates):
    """May `name` become another name for the array `value` (a Name, or a slice of one),
    given that `name` is updated in place by `own_updates` statements that the rewrite
    removes (`updates`: the function's `_updates_in_place`)?"""
    if isinstance(value, gast.Subscript) and is_sliced(value.slice):
        value = value.value
    if not isinstance(value, gast.Name):
        return False
    return updates.get(name, 0) == own_updates and not updates.get(value.id, 0)


def share_arrays(fn_def, ctx):
    """`v = rt.unbroadcast_copy(g, x)` -> `rt.unbroadcast(g, x)` (no copy when the shapes
    agree) if neither `v` nor `g` is ever updated in place."""
    changed = False
    updates = _updates_in_place(fn_def)
    for n in walk(fn_def):
        consumed = isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Subscript)
        if (consumed or isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name)) and \
                _is_runtime(n.value, "unbroadcast_copy") and \
                (consumed or _may_share(updates, n.targets[0].id, n.value.args[0], 0)):
            n.value.func.attr = "unbroadcast"  # (added into an array at once: never shared)
            changed = True
    return changed


def merge_accumulations(fn_def, ctx):
    """`b = e1; ...; b += e2` -> `b = e1 + e2` for an adjoint `b` (one new array rather than
    an update in place), when nothing in between touches `b` or changes what `e1` reads."""
    changed = False
    views = _possible_views(fn_def)
    for block in blocks(fn_def.body):
        mentions = _Mentions(block)
        for i in range(len(block)):
            stmt = block[i]
            if i in mentions.deleted or \
                    not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and
                         ctx.is_adjoint(stmt.targets[0].id)) or not _is_pure(stmt.value) or \
                    _is_zero_init(stmt):
                continue
            name = stmt.targets[0].id
            j = mentions.after(i, name)
            nxt = block[j] if j is not None else None
            if isinstance(nxt, gast.AugAssign) and isinstance(nxt.target, gast.Name) and \
                    nxt.target.id == name and isinstance(nxt.op, (gast.Add, gast.Sub)) and \
                    not _mentions(nxt.value, name) and _size(stmt.value) < EXPRESSION_SIZE and \
                    all(_movable_past(stmt.value, views, block[k]) for k in range(i + 1, j)
                        if k not in mentions.deleted):
                block[j] = gast.Assign(targets=[nxt.target], value=gast.BinOp(
                    left=stmt.value, op=nxt.op, right=nxt.value), type_comment=None)
                mentions.add(j, stmt)
                mentions.delete(i)
                changed = True
        mentions.compact()
    return changed


# merged and inlined expressions stop growing at this many nodes: numba fuses a few terms into
# one loop; a thousand (a long sum and its adjoint) would only make every later pass walk them
EXPRESSION_SIZE = 40


def _size(expr):
    # (the nodes gast.walk gives, the contexts of names, attributes and subscripts included)
    return sum(2 if isinstance(n, _WITH_CONTEXT) else 1 for n in walk(expr))


_WITH_CONTEXT = (gast.Name, gast.Attribute, gast.Subscript, gast.Starred, gast.List, gast.Tuple)


def propagate_copies(fn_def, ctx):
    """`a = b` between scalar adjoints: later reads of `a` in the block read `b` instead."""
    changed = False
    for block in blocks(fn_def.body):
        mentions = _Mentions(block)
        for i, stmt in enumerate(block):
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and
                    isinstance(stmt.value, gast.Name)):
                continue
            a, b = stmt.targets[0].id, stmt.value.id
            if not (ctx.is_adjoint(a) and ctx.is_adjoint(b)) or a == b or \
                    a in ctx.array_adjoints:
                continue
            for k in sorted(set(mentions.all_after(i, a)) | set(mentions.all_after(i, b))):
                later = block[k]
                writes = _writes(later)
                if a in writes or b in writes:
                    simple = isinstance(later, (gast.Assign, gast.AugAssign)) and \
                        isinstance(getattr(later, "target", None) or later.targets[0], gast.Name)
                    if simple and a in _reads(later.value):
                        _replace_reads(later.value, a, b)  # read before the write
                        mentions.add(k, later)
                        changed = True
                    break
                if a in _reads(later):
                    _replace_reads(later, a, b)
                    mentions.add(k, later)
                    changed = True
    return changed


def drop_recomputations(fn_def, ctx):
    """`t = e` for a number `t` that already holds `e` is dropped: `t = e` ran earlier in the
    block, and since then neither `t`, nor a name `e` reads, nor (if `e` reads an array) any
    array's contents changed. (Not for arrays: `t` may have become another name's array.) The
    reverse sweep recomputes each value an adjoint needs from what it restored for the trip; an
    RK4 step's adjoint recomputed the chain up to its last stage once per adjoint reading it."""
    changed = False
    for block in blocks(fn_def.body):
        holds = _Held()
        kept = []
        for stmt in block:
            target = stmt.targets[0].id if isinstance(stmt, gast.Assign) and \
                isinstance(stmt.targets[0], gast.Name) else None
            reads = _reads(stmt.value) if target in ctx.scalars else set()
            if target in ctx.scalars and target not in reads and _recomputable(stmt.value):
                dump = gast.dump(stmt.value)
                if holds.dumps.get(target) == dump:
                    changed = True
                    continue
                holds.forget({target})
                holds.hold(target, dump, reads, bool(reads - ctx.scalars) or any(
                    isinstance(n, gast.Subscript) for n in walk(stmt.value)))
            elif not _is_pure(stmt):
                holds = _Held()
            else:
                holds.forget(_writes(stmt), memory=any(
                    _updated_array(n) is not None and not _is_number(n.target, ctx)
                    if isinstance(n, gast.AugAssign) else _updated_array(n) is not None
                    for n in walk(stmt)))
            kept.append(stmt)
        block[:] = kept
    return changed


# the functions whose math and NumPy forms agree on a float64 number
MATH_AS_NUMPY = frozenset("sin cos tan sinh cosh tanh exp expm1 log log1p log2 log10 sqrt"
                          .split())
_REUSE_REACH = 32  # statements searched on either side of `name = f(x)` (they sit close)


def reuse_calls(fn_def, ctx):
    """`s = math.sin(x)` for numbers: a `np.sin(x)` (or `math.sin(x)`) reading the same `x`
    nearby reads `s` instead, with `s = ...` moved up to its first such use. A tangent or an
    adjoint calls the function the primal calls next (cos' derivative is -sin), and a
    transcendental function costs tens of multiplications."""
    changed = False
    for block in blocks(fn_def.body):
        for j in range(len(block)):
            key = _call_key(block[j], ctx)
            if key is None:
                continue
            name, reads = block[j].targets[0].id, _reads(block[j].value)
            first = j
            for i in range(j - 1, max(j - _REUSE_REACH, 0) - 1, -1):
                if _mentions(block[i], name) or _writes(block[i]) & reads or \
                        _call_key(block[i], ctx) == key:
                    break
                if _holds_call(block[i], key, ctx):
                    first = i
            if first < j:
                block.insert(first, block.pop(j))
            for k in range(first + 1, min(first + _REUSE_REACH, len(block))):
                stmt = block[k]
                written = _writes(stmt) & (reads | {name})
                if written and not isinstance(stmt, (gast.Assign, gast.AugAssign)):
                    break  # (a loop or a branch may write them before it calls)
                changed |= _replace_calls(stmt, key, name, ctx)
                if written:
                    break
            changed |= first < j
    return changed


def _call_key(stmt, ctx):
    """(function name, module, argument names) of `name = module.f(a, ...)`, a call of a pure
    function of numbers into a number; else None."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and
            isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id in ctx.scalars):
        return None
    return _key_of(stmt.value, ctx) if stmt.targets[0].id not in _reads(stmt.value) else None


def _key_of(call, ctx):
    if not (isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and
            isinstance(call.func.value, gast.Name) and call.func.value.id in PURE_MODULES and
            not call.keywords and call.args and
            all(isinstance(a, gast.Name) and a.id in ctx.scalars for a in call.args)):
        return None
    module = call.func.value.id
    if ctx.doubles and len(call.args) == 1 and call.func.attr in MATH_AS_NUMPY:
        module = "math or numpy"
    return call.func.attr, module, tuple(a.id for a in call.args)


def _holds_call(stmt, key, ctx):
    return any(_key_of(n, ctx) == key for n in walk(stmt))


def _replace_calls(stmt, key, name, ctx):
    """Replace the calls `key` in `stmt` by reads of `name` (not in `name = ...`); whether
    any was."""
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
            stmt.targets[0].id == name:
        return False
    replaced = False

    class Replace(gast.NodeTransformer):
        def visit_Call(self, n):
            nonlocal replaced
            if _key_of(n, ctx) == key:
                replaced = True
                return _name(name)
            return self.generic_visit(n)
    Replace().visit(stmt)
    return replaced


class _Held:
    """The names known to hold an expression's value, indexed by the names each reads (so
    that forgetting costs what it forgets, not what is held: straight-line code of thousands
    of statements)."""

    def __init__(self):
        self.dumps = {}  # name -> its expression's dump
        self.readers = {}  # name -> the held names whose expressions read it
        self.from_memory = set()  # the held names whose expressions read an array

    def hold(self, name, dump, reads, from_memory):
        self.dumps[name] = dump
        for read in reads:
            self.readers.setdefault(read, set()).add(name)
        if from_memory:
            self.from_memory.add(name)

    def forget(self, written, memory=False):
        """Forget the names `written` and the values read from them (with `memory`, an
        array's contents changed: every value read from an array)."""
        gone = set(written) | (self.from_memory if memory else set())
        for name in written:
            gone |= self.readers.pop(name, set())
        for name in gone:
            self.dumps.pop(name, None)
            self.from_memory.discard(name)


# what a recomputed value may call (functions of their arguments alone: not np.random)
PURE_MODULES = ("math", "np", "numpy")


def _recomputable(expr):
    return all(isinstance(n.func, gast.Attribute) and isinstance(n.func.value, gast.Name) and
               n.func.value.id in PURE_MODULES for n in walk(expr) if isinstance(n, gast.Call))


def _is_number(target, ctx):
    """Is the target of an update a name known to hold a number (`s += e`: no array changes)?"""
    return isinstance(target, gast.Name) and (
        target.id in ctx.scalars or ctx.is_adjoint(target.id) and
        target.id not in ctx.array_adjoints)


def inline_temps(fn_def, ctx):
    """A normalizer temporary (`_tN`) or an array adjoint assigned once, read exactly once,
    later in the same block and not inside a loop, is replaced by its expression (so numba
    computes a chain of elementwise array operations in one loop)."""
    counts = {}
    for n in walk(fn_def):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            counts[n.id] = counts.get(n.id, 0) + 1
    defs, stores, views = {}, {}, _possible_views(fn_def)
    for n in walk(fn_def):
        if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name):
            defs[n.targets[0].id] = defs.get(n.targets[0].id, 0) + 1
        for name in _writes(n) if isinstance(n, (gast.Assign, gast.AugAssign)) else ():
            stores[name] = stores.get(name, 0) + 1
    changed = False
    for block in blocks(fn_def.body):
        i = 0
        while i < len(block):
            stmt = block[i]
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                i += 1
                continue
            t = stmt.targets[0].id
            temporary = t.startswith("_t") or t in ctx.array_adjoints and stores.get(t) == 1
            if not temporary or counts.get(t) != 1 or defs.get(t) != 1 or \
                    not _is_pure(stmt.value) or _size(stmt.value) >= EXPRESSION_SIZE:
                i += 1
                continue
            target = None
            for k in range(i + 1, len(block)):
                later = block[k]
                if _mentions(later, t):
                    target = k
                    break
                if not _movable_past(stmt.value, views, later):
                    break
            if target is None or not _use_outside_loops(block[target], t) or \
                    not _movable_into(stmt.value, views, block[target], t):
                i += 1
                continue
            substitute(block[target], t, stmt.value)
            del block[i]
            changed = True
        # no increment: the statement at i is new
    return changed


# calls whose result may share memory with an argument (numpy views, a popped saved array,
# rt.unbroadcast returning its argument, kn.flat of an array)
VIEW_CALLS = {"transpose", "reshape", "ravel", "asarray", "ascontiguousarray", "asfortranarray",
              "atleast_1d", "atleast_2d", "pop", "unbroadcast", "flat"}


def _possible_views(fn_def):
    """Variables that may share memory with another array (assigned a view or another
    name)."""
    return {n.targets[0].id for n in walk(fn_def)
            if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name) and
            (isinstance(n.value, (gast.Subscript, gast.Name, gast.Attribute)) or
             isinstance(n.value, gast.Call) and isinstance(n.value.func, gast.Attribute) and
             n.value.func.attr in VIEW_CALLS)}


def _movable_past(expr, views, stmt):
    """Does `expr` evaluate the same after `stmt` as before it? Not if `stmt` rebinds a name
    it reads, nor, when it reads array memory, if `stmt` writes into any array."""
    reads = _reads(expr)
    if _writes(stmt) & reads:
        return False
    reads_memory = reads & views or any(isinstance(n, gast.Subscript) for n in walk(expr))
    return not (reads_memory and _stores(stmt))


def _movable_into(expr, views, stmt, name):
    """Can `expr` replace the read of `name` inside `stmt` (an if: past the statements of the
    branch that run before the read)?"""
    if not isinstance(stmt, gast.If) or _mentions(stmt.test, name):
        return True
    branch = stmt.body if any(_mentions(s, name) for s in stmt.body) else stmt.orelse
    for s in branch:
        if _mentions(s, name):
            return _movable_into(expr, views, s, name)
        if not _movable_past(expr, views, s):
            return False
    return True


def _stores(stmt):
    """Does `stmt` write into an array (an element store, an in-place operator, add_at)?"""
    return any(_updated_array(n) is not None for n in walk(stmt))


def _use_outside_loops(stmt, name):
    if isinstance(stmt, (gast.For, gast.While)):
        return _mentions(stmt.iter if isinstance(stmt, gast.For) else stmt.test, name)
    if isinstance(stmt, gast.If):
        if _mentions(stmt.test, name):
            return True
        return all(_use_outside_loops(s, name) for s in stmt.body + stmt.orelse
                   if _mentions(s, name))
    return True


def remove_dead(fn_def, ctx):
    remover = _DeadStores(ctx)
    remover.block(fn_def.body, set())
    return remover.changed


class _DeadStores:
    """Backward liveness over structured code; drops assignments whose value nobody reads."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.changed = False
        # (loop, live after it) -> live before it, for the analysis of a loop's body, which
        # enclosing loops repeat until their own liveness settles (exponential in the depth
        # of nesting otherwise)
        self.analysed = {}

    def block(self, stmts, live, remove=True):
        for k in range(len(stmts) - 1, -1, -1):
            live, dead = self.stmt(stmts[k], live, remove)
            if dead and remove:
                del stmts[k]
                self.changed = True
        return live

    def stmt(self, s, live, remove):
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            if isinstance(t, gast.Name):
                dead = (t.id not in live or _is_self_copy(s)) and _is_pure(s.value)
                return (live - {t.id}) | _reads(s.value), dead
            dead = isinstance(t.value, gast.Name) and self.ctx.is_adjoint(t.value.id) and \
                t.value.id not in live
            return live | _reads(t) | _reads(s.value), dead
        if isinstance(s, gast.AugAssign):
            t = s.target
            base = t.id if isinstance(t, gast.Name) else t.value.id
            dead = base not in live and (isinstance(t, gast.Name) or self.ctx.is_adjoint(base))
            return live | {base} | _reads(t) | _reads(s.value), dead
        if isinstance(s, gast.Expr):
            call = s.value
            if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and \
                    call.func.attr == "add_at" and isinstance(call.args[0], gast.Name) and \
                    call.args[0].id not in live:
                return live, True
            if _is_runtime(call, "assume_shape") and isinstance(call.args[1], gast.Attribute) \
                    and not (isinstance(call.args[1].value, gast.Name) and
                             call.args[1].value.id in live):
                return live, True  # (the shape of an array nothing reads matters to nothing)
            return live | _reads(s), False
        if isinstance(s, gast.If):
            body = self.block(s.body, set(live), remove)
            orelse = self.block(s.orelse, set(live), remove)
            return body | orelse | _reads(s.test), False
        if isinstance(s, (gast.For, gast.While)) and not remove:
            key = (id(s), frozenset(live))
            if key not in self.analysed:
                self.analysed[key] = self.loop(s, live, remove)
            return self.analysed[key]
        if isinstance(s, (gast.For, gast.While)):
            live_before, _ = self.loop(s, live, remove)
            counter = anno.getanno(s, "counter", None)  # (a reversed range loop whose
            if counter is not None and counter not in live and all(  # body only counts down)
                    isinstance(b, gast.AugAssign) and isinstance(b.target, gast.Name) and
                    b.target.id == counter for b in s.body):
                return live, True
            return live_before, False
        return live | _reads(s), False

    def loop(self, s, live, remove):
        head = _reads(s.iter) if isinstance(s, gast.For) else _reads(s.test)
        target = {s.target.id} if isinstance(s, gast.For) else set()
        loop_live = set(live) | head
        for _ in range(100):  # to a fixed point, without removing anything
            inside = self.block(list(s.body), loop_live | live, remove=False)
            new = loop_live | (inside - target)
            if new == loop_live:
                break
            loop_live = new
        self.block(s.body, loop_live | live, remove)
        return loop_live | live, False


def remove_unread_saves(fn_def, ctx):
    """A save buffer the reverse sweep never reads (every restore from it was dead) is not
    filled either: its stores go, and its growth and allocation too unless other code reads
    its size (a strip-mined loop's room is the size of its first buffer)."""
    read, sized = set(), set()
    for n in walk(fn_def):
        if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Load) and \
                isinstance(n.value, gast.Name):
            read.add(n.value.id)
        elif isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and \
                n.func.attr == "pop" and isinstance(n.func.value, gast.Name):
            read.add(n.func.value.id)
        elif _is_runtime(n, "saved_array") or _is_runtime(n, "saved_shape"):
            read.update(a.id for a in n.args[:2] if isinstance(a, gast.Name))
    unread = ctx.buffers - read
    if not unread:
        return False
    _size_kept_buffers(fn_def, unread)
    _unstrip_mine(fn_def, unread)
    for block in blocks(fn_def.body):
        for stmt in block:
            if not isinstance(stmt, (gast.For, gast.While)) and \
                    _buffer_statement(stmt, unread) is None:
                sized.update(b for b in unread if _mentions(_shallow(stmt), b))
    changed = False
    for block in blocks(fn_def.body):
        kept = [stmt for stmt in block if _buffer_statement(stmt, unread) is None or
                _buffer_statement(stmt, unread) in sized and not _fills(stmt)]
        changed |= len(kept) < len(block)
        block[:] = kept
    ctx.buffers -= unread - sized
    return changed


def _size_kept_buffers(fn_def, unread):
    """A loop's buffers are grown together, tested on the first one's size (and a strip-mined
    loop's room is that size): where the first is unread, another of the loop's that is read
    is measured instead, so that the unread one can go."""
    repoint = {}
    for node in walk(fn_def):
        if _is_grow_group(node):
            kept = [s.targets[0].id for s in node.body if s.targets[0].id not in unread]
            first = node.body[0].targets[0].id
            if first in unread and kept:
                repoint[first] = kept[0]
    for node in walk(fn_def):
        if isinstance(node, gast.Attribute) and node.attr == "shape" and \
                isinstance(node.value, gast.Name) and node.value.id in repoint:
            node.value.id = repoint[node.value.id]


def _unstrip_mine(fn_def, unread):
    """A strip-mined while loop (reverse.strip_mine) none of whose buffers is read runs its
    body in one loop again: `while c: <grow>; room = b.shape[0]; while c and k < room: ...`
    becomes `while c: ...`."""
    for node in walk(fn_def):
        if not (isinstance(node, gast.While) and len(node.body) >= 3):
            continue
        *grows, room, inner = node.body
        if isinstance(inner, gast.While) and isinstance(inner.test, gast.BoolOp) and \
                isinstance(room, gast.Assign) and _mentions(inner.test, room.targets[0].id) and \
                any(_is_grow_group(g) for g in grows) and \
                all(s.targets[0].id in unread for g in grows if _is_grow_group(g)
                    for s in g.body):
            node.body = inner.body


def _is_grow_group(stmt):
    """`if n > a.shape[0]: a = rt.grow(a, n); b = rt.grow(b, n); ...`"""
    return isinstance(stmt, gast.If) and bool(stmt.body) and not stmt.orelse and \
        all(_is_runtime(getattr(s, "value", None), "grow") for s in stmt.body)


def _fills(stmt):
    """Does the buffer statement `stmt` store a value (rather than allocate or grow)?"""
    if isinstance(stmt, gast.Assign):
        return isinstance(stmt.targets[0], gast.Subscript) or \
            _is_runtime(stmt.value, "save_array")
    return isinstance(stmt, gast.Expr)


def save_shapes_only(fn_def, ctx):
    """An array the reverse sweep reads only for its shape (the operand an adjoint is summed
    back to, `rt.unbroadcast(g, x)`; the argument of `np.sum`) is saved as its shape:
    `buf.append(x.shape)`, restored into `x_shape`, which those reads take instead. The array
    itself is then freed as soon as the forward sweep moves on (the LSTM saved twenty arrays per
    layer and step, half of them only for this)."""
    body = fn_def.body
    start = next((k for k, s in enumerate(body) if is_comment(s) and
                  s.value.value == COMMENT + "reverse sweep"), None)
    if start is None:
        return False
    forward, reverse = body[:start], body[start + 1:]
    saves = _Saves(forward, reverse)
    changed = False
    for buf in sorted(ctx.buffers):
        found = _list_saves(saves, buf) or _row_saves(saves, buf)
        if found is None:
            continue
        pushes, pops, name = found
        if not any(isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and
                   s.targets[0].id == name for s in forward):
            continue  # (`name` may not exist where the reverse sweep starts: a branch not taken)
        shape = _unused_name(fn_def, f"{name}_shape")
        name_shape = gast.Attribute(value=_name(name), attr="shape", ctx=gast.Load())
        rows = {}  # buf = rt.save_array(buf, shapes, k, x) -> rt.save_shape(shapes, k, x.shape)
        for push in pushes:
            if isinstance(push, gast.Expr):  # buf.append(x)
                push.value.args[0] = name_shape
            else:
                rows[id(push)] = gast.Expr(value=gast.Call(
                    func=gast.Attribute(value=_name("rt"), attr="save_shape", ctx=gast.Load()),
                    args=push.value.args[1:3] + [anno.deepcopy(name_shape)], keywords=[]))
        for block in blocks(forward):
            block[:] = [rows.get(id(stmt), stmt) for stmt in block]
        for pop in pops:
            pop.targets[0].id = shape
            if _is_runtime(pop.value, "saved_array"):
                pop.value.func.attr = "saved_shape"
                del pop.value.args[0]
        for n in walk(reverse):
            if isinstance(n, gast.Name) and n.id == name:
                n.id = shape
        body.insert(start + 1, gast.Assign(
            targets=[_name(shape, gast.Store())],
            value=gast.Attribute(value=_name(name), attr="shape", ctx=gast.Load())))
        # (fusion gives the shape the class the gradient assumes for the array)
        anno.setanno(fn_def, "shape_names",
                     {**anno.getanno(fn_def, "shape_names", {}), shape: name})
        changed = True
    return changed


def read_for_its_shape(call):
    """The argument of `call` it reads only the shape of: `x` in `rt.unbroadcast(g, x)`,
    `rt.unbroadcast_copy(g, x)` and `kn.sum_adjoint(g, x, None)`; else None."""
    if (_is_runtime(call, "unbroadcast") or _is_runtime(call, "unbroadcast_copy")) and \
            len(call.args) == 2 or \
            _is_runtime(call, "sum_adjoint", "kn") and len(call.args) == 3 and \
            isinstance(call.args[2], gast.Constant) and call.args[2].value is None:
        return call.args[1]
    return None


class _Saves:
    """The save and restore statements of each buffer, and how often each name is mentioned,
    found in one walk of each sweep (a walk per buffer was most of the transform's time)."""

    def __init__(self, forward, reverse):
        self.forward, self.reverse = forward, reverse
        self.appends, self.list_pops, self.row_pushes, self.row_pops = {}, {}, {}, {}
        self.mentions = {}
        for n in walk(forward):
            if isinstance(n, gast.Name):
                self.mentions[n.id] = self.mentions.get(n.id, 0) + 1
            elif isinstance(n, gast.Expr) and _is_list_call(n.value, "append") and \
                    isinstance(n.value.args[0], gast.Name):
                self.appends.setdefault(n.value.func.value.id, []).append(n)
            elif isinstance(n, gast.Assign) and _is_runtime(n.value, "save_array") and \
                    isinstance(n.value.args[0], gast.Name) and \
                    isinstance(n.value.args[3], gast.Name):
                self.row_pushes.setdefault(n.value.args[0].id, []).append(n)
        for n in walk(reverse):
            if isinstance(n, gast.Name):
                self.mentions[n.id] = self.mentions.get(n.id, 0) + 1
            elif isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name):
                if _is_list_call(n.value, "pop"):
                    self.list_pops.setdefault(n.value.func.value.id, []).append(n)
                elif _is_runtime(n.value, "saved_array") and \
                        isinstance(n.value.args[0], gast.Name):
                    self.row_pops.setdefault(n.value.args[0].id, []).append(n)


def _list_saves(saves, buf):
    """(pushes, pops, name) when the list `buf` saves `name` (`buf.append(name)` in the forward
    sweep, `name = buf.pop()` in the reverse) and the reverse sweep reads `name` only for its
    shape; else None."""
    pushes, pops = saves.appends.get(buf, []), saves.list_pops.get(buf, [])
    names = {n.value.args[0].id for n in pushes} | {n.targets[0].id for n in pops}
    if not pushes or not pops or len(names) != 1:
        return None
    name = names.pop()
    if saves.mentions.get(buf, 0) != len(pushes) + len(pops) + 1:  # (and its allocation)
        return None
    return (pushes, pops, name) if _read_for_its_shape_only(saves.reverse, name, pops) else None


def _row_saves(saves, buf):
    """(pushes, pops, name) when the rows of `buf` save `name` (`buf = rt.save_array(buf,
    shapes, k, name)` in the forward sweep, `name = rt.saved_array(buf, shapes, k, n)` in the
    reverse) and the reverse sweep reads `name` only for its shape; else None."""
    pushes, pops = saves.row_pushes.get(buf, []), saves.row_pops.get(buf, [])
    names = {n.value.args[3].id for n in pushes} | {n.targets[0].id for n in pops}
    if not pushes or not pops or len(names) != 1:
        return None
    name = names.pop()
    for block in blocks(saves.forward + saves.reverse):
        for stmt in block:
            if not isinstance(stmt, (gast.For, gast.While)) and \
                    not any(stmt is p for p in pushes + pops) and not _is_grow_group(stmt) \
                    and _mentions(_shallow(stmt), buf) and _buffer_statement(stmt, {buf}) is None:
                return None
    return (pushes, pops, name) if _read_for_its_shape_only(saves.reverse, name, pops) else None


def _read_for_its_shape_only(reverse, name, pops):
    """Does the reverse sweep read `name` only for its shape (apart from restoring it)?"""
    shape_reads = {id(read_for_its_shape(c)) for c in walk(reverse)}
    pop_targets = {id(p.targets[0]) for p in pops}
    return not any(isinstance(n, gast.Name) and n.id == name and
                   id(n) not in shape_reads | pop_targets for n in walk(reverse))


def _is_list_call(node, method):
    """`buf.append(x)` or `buf.pop()` (method "append" or "pop"), of any name `buf`."""
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
        node.func.attr == method and isinstance(node.func.value, gast.Name) and \
        len(node.args) == (method == "append")


def _unused_name(fn_def, wanted):
    used = {n.id for n in walk(fn_def) if isinstance(n, gast.Name)}
    name, k = wanted, 1
    while name in used:
        k += 1
        name = f"{wanted}{k}"
    return name


def _shallow(stmt):
    """The parts of a statement outside its nested blocks."""
    if isinstance(stmt, gast.If):
        return stmt.test
    return stmt


def _buffer_statement(stmt, buffers):
    """The buffer of `buffers` that `stmt` only fills, grows or allocates, else None."""
    if isinstance(stmt, gast.If) and not stmt.orelse and stmt.body and \
            all(_buffer_statement(s, buffers) is not None for s in stmt.body):
        return _buffer_statement(stmt.body[0], buffers)  # if k + n > buf.shape[0]: grow
    if isinstance(stmt, gast.Assign):
        t = stmt.targets[0]
        name = t.id if isinstance(t, gast.Name) else \
            t.value.id if isinstance(t, gast.Subscript) and isinstance(t.value, gast.Name) \
            else None
        return name if name in buffers else None
    if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
        f = stmt.value.func
        if isinstance(f, gast.Attribute) and f.attr == "append" and \
                isinstance(f.value, gast.Name) and f.value.id in buffers:
            return f.value.id
        if _is_runtime(stmt.value, "save_shape") and isinstance(stmt.value.args[0], gast.Name) \
                and stmt.value.args[0].id in buffers:
            return stmt.value.args[0].id
    return None


def _is_self_copy(s):
    return isinstance(s.value, gast.Name) and s.value.id == s.targets[0].id


def tidy(fn_def, ctx):
    """Drop empty ifs (negating the test when only the else branch has code) and line
    comments that repeat the previous one or introduce nothing."""
    changed = False
    for block in blocks(fn_def.body):
        k = 0
        last_comment = None
        while k < len(block):
            s = block[k]
            if isinstance(s, gast.If):
                body = [b for b in s.body if not isinstance(b, gast.Pass) and not is_comment(b)]
                orelse = [b for b in s.orelse if not isinstance(b, gast.Pass) and
                          not is_comment(b)]
                if not body and not orelse:
                    del block[k]
                    changed = True
                    continue
                if not body:
                    s.test = _negate(s.test)
                    s.body, s.orelse = s.orelse, []
                    changed = True
            if is_comment(s):
                text = s.value.value
                following = block[k + 1] if k + 1 < len(block) else None
                if text == last_comment or following is None or is_comment(following):
                    if "sweep" not in text:
                        del block[k]
                        changed = True
                        continue
                last_comment = text
            k += 1
    return changed


def accumulate_in_place(fn_def, ctx):
    """`bw = np.zeros_like(w)` ... `bX[index] += bw`, where `w = X[index]` is a view of X (the
    index numbers and slices) -> `bw = bX[index]`: the adjoint of a row is summed where it ends
    up, as a hand-written adjoint does, instead of in an array made, zeroed and added per trip.
    Only when, in between, `bw` and `bX` are only added into (`bw[i] += e`), nothing leaves the
    block, and `bw` is read nowhere else."""
    mentions = {}
    for n in walk(fn_def):
        if isinstance(n, gast.Name):
            mentions[n.id] = mentions.get(n.id, 0) + 1
    for block in blocks(fn_def.body):
        j = -1
        while j + 1 < len(block):
            j += 1
            final = block[j]
            if not (isinstance(final, gast.AugAssign) and isinstance(final.op, gast.Add) and
                    isinstance(final.value, gast.Name) and
                    isinstance(final.target, gast.Subscript) and
                    isinstance(final.target.value, gast.Name)):
                continue
            bx, bw, index = final.target.value.id, final.value.id, final.target.slice
            primal = ctx.array_adjoints.get(bx)
            if primal is None or bw not in ctx.array_adjoints or not _basic_index(index, ctx):
                continue
            i = next((k for k in range(j - 1, -1, -1) if isinstance(block[k], gast.Assign) and
                      isinstance(block[k].targets[0], gast.Name) and
                      block[k].targets[0].id == bw), None)
            k = _view_binding(block, i, primal, index) \
                if i is not None and _is_zero_init(block[i]) == "array" else None
            if k is None:
                continue
            between = block[i + 1:j]
            inside = sum(_mentions_count(s, bw) for s in block[i:j + 1])
            if inside != mentions[bw] or \
                    (_reads(index) | {primal}) & set().union(*map(_writes, block[k + 1:j])) \
                    or not all(_only_added_into(s, {bw, bx}) for s in between):
                continue
            block[i].value = gast.Subscript(value=_name(bx), slice=anno.deepcopy(index),
                                            ctx=gast.Load())
            del block[j]
            j -= 1


def _basic_index(index, ctx):
    """Is `index` numbers and slices of numbers only (so `x[index]` is a view)?"""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    for part in parts:
        for n in walk(part):
            if isinstance(n, (gast.Call, gast.Subscript, gast.Attribute)) or \
                    isinstance(n, gast.Name) and n.id not in ctx.scalars:
                return False
    return True


def _view_binding(block, i, primal, index):
    """The position of the statement last binding, before `block[i]`'s `np.zeros_like(w)`, its
    `w` to `primal[index]`, else None."""
    arg = block[i].value.args[0] if block[i].value.args else None
    if not isinstance(arg, gast.Name):
        return None
    for k in range(i - 1, -1, -1):
        if arg.id in _writes(block[k]):
            bound = block[k]
            view = isinstance(bound, gast.Assign) and \
                isinstance(bound.value, gast.Subscript) and \
                isinstance(bound.value.value, gast.Name) and bound.value.value.id == primal and \
                gast.dump(bound.value.slice) == gast.dump(index)
            return k if view else None
    return None


def _mentions_count(node, name):
    return sum(1 for n in walk(node) if isinstance(n, gast.Name) and n.id == name)


def _only_added_into(stmt, names):
    """Does `stmt` mention `names` only as arrays added into (`a[i] += e`, `a -= e`), and
    leave its block only at its end?"""
    allowed = set()
    for n in walk(stmt):
        if isinstance(n, (gast.Return, gast.Break, gast.Continue)):
            return False
        if isinstance(n, gast.AugAssign) and isinstance(n.op, (gast.Add, gast.Sub)) and \
                not any(_mentions(n.value, name) for name in names):
            target = n.target.value if isinstance(n.target, gast.Subscript) else n.target
            if isinstance(target, gast.Name) and target.id in names and \
                    not (isinstance(n.target, gast.Subscript) and
                         any(_mentions(n.target.slice, name) for name in names)):
                allowed.add(id(target))
    return all(id(n) in allowed for n in walk(stmt)
               if isinstance(n, gast.Name) and n.id in names)


def _negate(test):
    if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
        return test.operand
    return gast.UnaryOp(op=gast.Not(), operand=test)


def add_extrema_in_place(fn_def, ctx):
    """`bx += kn.extremum_adjoint(g, x, ans, None)` of an array adjoint -> `kn.add_extremum_
    adjoint(bx, g, x, ans)`: no array made and added per call (np.max of a row inside a loop)."""
    for block in blocks(fn_def.body):
        for j, stmt in enumerate(block):
            call = getattr(stmt, "value", None)
            if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add) and \
                    isinstance(stmt.target, gast.Name) and stmt.target.id in ctx.array_adjoints \
                    and _is_runtime(call, "extremum_adjoint", "kn") and len(call.args) == 4 and \
                    isinstance(call.args[3], gast.Constant) and call.args[3].value is None:
                block[j] = anno.copy_loc(gast.Expr(value=gast.Call(
                    func=gast.Attribute(value=_name("kn"), attr="add_extremum_adjoint",
                                        ctx=gast.Load()),
                    args=[_name(stmt.target.id), *call.args[:3]], keywords=[])), stmt)


PASSES = [fold_constants, forward_zeros, merge_accumulations, propagate_copies,
          drop_recomputations, reuse_calls, inline_temps,
          remove_dead, remove_unread_saves, save_shapes_only, share_arrays, tidy]
