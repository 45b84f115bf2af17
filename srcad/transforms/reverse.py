"""Reverse: emit the gradient function, a forward sweep followed by a reverse sweep.

Input: a core-form tree with its types and active variables. Output: a `gast.FunctionDef`
`<f>_grad(<f's parameters>, b_out=1.0)` returning `(value, b<wrt1>, b<wrt2>, ...)`, or
`(value, aux, b<wrt1>, ...)` for a function with an auxiliary output.

How the reversal works:
- Every core statement has an adjoint: the partials of its rule accumulated into the
  adjoints of its active arguments (`bx += ...`). The reverse sweep runs them in reverse
  order; an `if` reverses under its (saved) condition; a loop runs backwards over its trips.
- The reverse sweep reads primal values (the partials' inputs, conditions, loop bounds). A
  definition overwriting a value the reverse sweep will still read saves the old value just
  before it (forward) and restores it just after its adjoint (reverse), so every adjoint sees
  the values its statement saw. Nothing else is saved. Outside loops a save is one variable;
  inside a loop it goes into an array indexed by the trip number, preallocated to the trip
  count for a top-level `range` loop and grown by doubling otherwise (arrays saved by
  reference go onto a list).
- Saving is avoided where it costs more than the alternative (decided in `saving.py`): a
  cheap scalar or a view is recomputed right before the adjoint that reads it, an integer
  stepped by a constant (`idx += 1`) is stepped back, and a top-level loop whose inner loops
  would save a lot per trip is checkpointed: the forward sweep runs it plainly, keeping per
  trip only the values the trip reads before writing, and the reverse sweep re-runs each trip
  with saves just before reversing it.
- A range loop is reversed as `i = stop; while i > start: i -= 1; ...`, which lets LLVM
  drop numba's negative-index checks (a descending `range` does not).
- An adjoint starts at zero at the start of the reversal of the innermost block that holds all
  of its variable's uses and definitions, and is reset to zero after the reversal of a
  definition that overwrote a value whose uses came earlier.
- Array arguments written in place are copied on entry, so the caller's arrays never change.
- With parallel=True, a top-level loop whose trips are independent (parallel.py) runs as one
  chunk of trips per thread in both sweeps, each chunk a generated function of its own
  (`parallel_loop`).
"""

import builtins
import inspect
import os
from dataclasses import dataclass, field

import gast
import numpy as np

from ..compiler import anno, templates, typeinfer, valuetypes
from .. import custom, rules, runtime
from ..compiler.activity import diff_inputs
from ..compiler.aliasing import is_fresh
from ..compiler.cleanup import read_for_its_shape
from ..errors import UnsupportedError, UserCodeError
from ..compiler.frontend import Ref, is_custom_vjp
from ..compiler.normalize import call_parts
from ..compiler.templates import comment
from ..compiler.typeinfer import is_pair_of_index_arrays
from . import parallel
from .saving import SavePlanner, exposed_reads, inside, precedes, primal_reads

_name, _const, _assign = templates.make_name, templates.make_const, templates.make_assign
_stmt, _expr, names_read = templates.fill_stmt, templates.fill, templates.names_read


def _store(node):
    node = anno.deepcopy(node)
    node.ctx = gast.Store()
    return node


def _load(node):
    node = anno.deepcopy(node)
    for n in gast.walk(node):
        if hasattr(n, "ctx"):
            n.ctx = gast.Load()
    return node


DTYPES = {"f": "np.float64", "i": "np.int64", "b": "np.bool_"}


def _broadcasting(func):
    return getattr(rules.lookup(func), "broadcasting", False)


@dataclass
class Buffer:
    """A loop's save buffer: one row per slot (trip), of `dtype` (None: a list)."""
    name: str
    dtype: str | None
    row: tuple = ()  # the shape of a row: () a scalar, (0,) an array's elements (widened as
    #                  needed), (n,) the shape of an array of n axes
    saves: str | None = None  # the float number saved (precision.py gives its stack its dtype)


@dataclass
class Loop:
    path: tuple
    parent: "Loop | None"
    counter: str | None = None  # running trip counter, when slots are not the index itself
    trips: str | None = None  # trip count variable, for loops with a data-dependent end
    slot: object = None  # expression indexing this loop's save buffers
    buffers: list = field(default_factory=list)  # the Buffers of its saves
    top: bool = False  # not inside another loop
    allocations: list = field(default_factory=list)  # statements to run before the top loop
    one_trip: bool = False  # a checkpointed loop: one trip in flight, its saves are variables
    trip_count: object = None  # `len(range(...))` of a `for` loop that runs all its trips
    assigned: frozenset = frozenset()  # the names its body assigns or stores into
    grows: list = field(default_factory=list)  # buffer grows hoisted before it

    def outermost(self):
        loop = self
        while loop.parent is not None:
            loop = loop.parent
        return loop


class Differentiator(SavePlanner):
    def __init__(self, core, types, active, wrt, aliases, np_name="np", aux=None,
                 parallel=None):
        self.core, self.types, self.active, self.wrt = core, types, active, wrt
        self.parallel = parallel or {}  # path -> parallel.LoopPlan of loops to run in chunks
        self.chunks = []  # the chunk functions of parallel loops
        # name -> its placeholder at the function's entry: a save may read it before anything
        # has bound it (defined only in loops or branches that may not run before)
        self.unbound_placeholders = {}
        self.aux = aux  # the name holding the auxiliary output, or None
        self.aliases = aliases  # aliasing.Aliases: which arrays may share memory
        # (the core form writes into an array only by storing into its elements: `x += y` of
        # a name rebinds it in generated code, methods are NumPy calls, out= is refused)
        self.written_in_place = templates.stored_arrays(core.tree)
        self.namer = core.namer
        self.trip_counter = None  # the reversed while loops' counter, named at first use
        self.np = np_name
        self.loops = {}  # path -> loop node
        self.checkpointed = set()  # paths of loops whose trips are re-run in the reverse sweep
        self.fused = {}  # path -> (plan, sum) of loops reversing each trip as it runs
        self.save_loops = self.loops  # the loops whose trips saves must tell apart
        self.snapshotted = set()  # variables checkpointed loops restore in the reverse sweep
        self.reads = {}  # name -> [paths where the reverse sweep reads it]
        self.uses = {}  # name -> [paths of statements accumulating into its adjoint]
        self.defs = {}  # name -> [paths of definitions]
        self.adjoints = {}  # id(stmt) -> [adjoint statements]
        self.paths = {}  # id(stmt) -> path
        self.at_path = {}  # path -> stmt
        self.saves = {}  # (path, name) -> None: the definition at path saves name's old value
        self.inverted = {}  # (path, name) -> the statement restoring name by stepping it back
        self.inits = {}  # block path -> [names whose adjoint starts there]
        self.recompute = {}  # block path -> [names the reversed block recomputes first]
        self.recompute_at_use = {}  # name -> (path, definition) rerun before adjoints reading it
        self.shape_reads = {}  # name -> paths whose adjoint reads only its shape
        self.shapes = typeinfer.shape_classes(core.tree, types, _broadcasting, core.same_shapes)
        self.assumed = {}  # name -> the class its shape is assumed to share (checked)
        self.joined = {}  # a class of shape_classes -> the class it was joined into
        if core.assume_shapes:
            self.shapes, self.assumed, self.joined = typeinfer.assumed_shape_classes(
                core.tree, types, _broadcasting, self.shapes)
            _copies_of_tangents_of_one_shape(core.tree, self.shapes, types, np_name)

    def adj(self, name):
        return self.namer.adjoint(name)

    def ty(self, name):
        return self.types.get(name, typeinfer.UNKNOWN)

    # ---- entry --------------------------------------------------------------------------
    def run(self):
        fn = self.core.tree
        body = fn.body
        ret = body[-1]
        self.collect(body[:-1], ())
        self.ret_atom = ret.value
        self.b_out = self.namer.fresh("b_out")  # (the output's seed, a parameter)
        ret_path = (len(body) - 1,)
        if isinstance(ret.value, gast.Name):
            self.reads.setdefault(ret.value.id, []).append(ret_path)
            self.uses.setdefault(ret.value.id, []).append(ret_path)
        self.plan(body)
        fwd, rev = self.block(body[:-1], (), None)
        fwd = [self.unbound_placeholders[n] for n in sorted(self.unbound_placeholders)] + fwd
        return self.function(fn, fwd, rev)

    # ---- pass 1: adjoint statements, reads, uses, definitions ------------------------------
    def collect(self, stmts, prefix):
        for i, stmt in enumerate(stmts):
            path = prefix + (i,)
            self.paths[id(stmt)] = path
            self.at_path[path] = stmt
            if isinstance(stmt, gast.If):
                test = stmt.test.operand if isinstance(stmt.test, gast.UnaryOp) else stmt.test
                self.read(test.id, prefix + (i + 0.5,))
                self.collect(stmt.body, path + (0,))
                self.collect(stmt.orelse, path + (1,))
            elif isinstance(stmt, (gast.For, gast.While)):
                self.collect_loop(stmt, prefix, i)
            elif isinstance(stmt, gast.Raise):  # (the forward sweep's alone)
                self.adjoints[id(stmt)] = []
            else:
                self.collect_simple(stmt, path)

    def collect_loop(self, stmt, prefix, i):
        path = prefix + (i,)
        self.loops[path] = stmt
        body = stmt.body
        if body and _is_exit_test(body[-1]):
            anno.setanno(stmt, "exit_test", body[-1])
            body = body[:-1]
        after, before = prefix + (i + 0.5,), prefix + (i - 0.5,)
        if isinstance(stmt, gast.For):
            self.define(stmt.target.id, before)
            for arg in stmt.iter.args:
                for name in names_read(arg):
                    self.read(name, after)
        if isinstance(stmt, gast.While) or anno.hasanno(stmt, "exit_test"):
            trips = self.namer.fresh("_n")
            self.types[trips] = typeinfer.INT
            anno.setanno(stmt, "trips", trips)
            self.define(trips, before)
            self.read(trips, after)
        self.collect(body, path + (0,))

    def read(self, name, path):
        self.reads.setdefault(name, []).append(path)

    def define(self, name, path):
        self.defs.setdefault(name, []).append(path)

    def collect_simple(self, stmt, path):
        out = self.adjoint_of(stmt)
        self.adjoints[id(stmt)] = out
        for s in out:
            for name in names_read(s):
                if not self.is_adjoint_name(name):
                    self.read(name, path)
        for name in _read_for_shapes_only(out):
            self.shape_reads.setdefault(name, set()).add(path)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            self.define(stmt.targets[0].id, path)
            inputs = diff_inputs(stmt.value)
        else:  # a store into an array: a definition of some of its elements
            target = stmt.target if isinstance(stmt, gast.AugAssign) else stmt.targets[0]
            self.define(target.value.id, path)
            inputs = diff_inputs(stmt.value)
            if target.value.id in self.active:
                inputs = inputs + [target.value.id]
        for name in inputs:
            if name in self.active:
                self.uses.setdefault(name, []).append(path)

    def is_adjoint_name(self, name):
        return name in self.namer.adjoint_names().values()

    # ---- the adjoint of one statement -------------------------------------------------------
    def adjoint_of(self, stmt):
        loc = anno.getanno(stmt, "loc")
        if isinstance(stmt, gast.AugAssign):
            target = stmt.target
            if target.value.id not in self.active:
                return []
            self.check_store_index(target, loc)
            return self.accumulate_into(stmt.value, _load(target), loc)
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            if target.value.id not in self.active:
                return []
            self.check_store_index(target, loc)
            out = self.accumulate_into(stmt.value, _load(target), loc)
            zero = _assign(_store(self.adjoint_subscript(target)), _const(0.0))
            return out + [zero]
        z = target.id
        if z not in self.active:
            return []
        return self.assign_adjoint(z, stmt.value, loc)

    def adjoint_subscript(self, sub):
        return gast.Subscript(value=_name(self.adj(sub.value.id)), slice=_load(sub.slice),
                              ctx=gast.Load())

    def accumulate_into(self, value, target_sub, loc):
        """Adjoint of `y[index] = value` / `y[index] += value` flowing to `value`; through
        integer-array indices, only the last write of a repeated index reaches `value`, as in
        NumPy."""
        if not isinstance(value, gast.Name) or value.id not in self.active:
            return []
        g = _expr("kn.last_writes(g, i)", g=_name(self.adj(target_sub.value.id)),
                  i=target_sub.slice) if self.index_kind(target_sub.slice) == "fancy" else \
            self.adjoint_subscript(target_sub)
        stored = typeinfer._slice_class(target_sub, self.shapes, self.types)
        if self.index_kind(target_sub.slice) == "basic" and \
                self.shapes.get(value.id) is not None and \
                self.shapes.get(value.id) == self.joined.get(stored, stored):
            return [self.accumulate(value.id, _expr("np.copy(g)", np=_name(self.np), g=g))]
        return [self.accumulate(value.id, self.reduce_to(g, self.index_result_type(target_sub),
                                                          value.id))]

    def index_result_type(self, sub):
        return typeinfer._Infer(self.types).subscript(_load(sub))

    def check_store_index(self, target, loc):
        if self.index_kind(target.slice) != "basic" and isinstance(target.slice, gast.Tuple):
            raise UnsupportedError("a store through an integer-array or boolean index with "
                                   "other indices (y[idx, j] = ...) is not differentiable here; "
                                   "write a loop over the indices", loc)

    def index_kind(self, index):
        items = index.elts if isinstance(index, gast.Tuple) else [index]
        for item in items:
            if isinstance(item, gast.Name):
                ty = self.ty(item.id)
                if ty.is_array:
                    return "mask" if ty.kind == "b" else "fancy"
        return "basic"

    def assign_adjoint(self, z, value, loc):
        g = _name(self.adj(z))
        if isinstance(value, gast.Name):
            return [self.accumulate(value.id, g)] if value.id in self.active else []
        if isinstance(value, gast.Constant):
            return []
        if isinstance(value, gast.Subscript):
            return self.subscript_adjoint(value, g, loc)
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return self.call_adjoint(z, value, g, loc)
        if isinstance(value, gast.Tuple):
            raise UnsupportedError("a tuple holding values that carry derivatives", loc)
        return []

    def subscript_adjoint(self, value, g, loc):
        base = value.value
        if not isinstance(base, gast.Name) or base.id not in self.active:
            return []
        if not self.ty(base.id).ndim:  # `s[None]` of a NumPy scalar: an array holding it
            return [self.accumulate(base.id, _expr("np.sum(g)", np=_name(self.np), g=g))]
        kind = self.index_kind(value.slice)
        bx = _name(self.adj(base.id))
        if kind == "fancy":
            if is_pair_of_index_arrays(value, self.ty):  # p[np.arange(n), y]
                rows, cols = value.slice.elts
                return [gast.Expr(value=_expr("rt.add_at_pairs(bx, i, j, g)", bx=bx, i=rows,
                                              j=cols, g=g))]
            index = value.slice  # (x[idx, :] is x[idx] since normalize.name_index_arrays)
            if self.ty(base.id).ndim == 2 and isinstance(index, gast.Tuple) and \
                    templates.is_whole_slice(index.elts[0]) and \
                    isinstance(index.elts[1], gast.Name) and \
                    self.ty(index.elts[1].id).ndim == 1:  # x[:, idx]
                return [gast.Expr(value=_expr("rt.add_at_columns(bx, idx, g)", bx=bx,
                                              idx=index.elts[1], g=g))]
            if isinstance(index, gast.Tuple):
                raise UnsupportedError("an integer-array index beside other indices (other than "
                                       "A[rows, cols] with two 1-D arrays, x[idx, :] or x[:, idx] "
                                       "with a 1-D idx) is not differentiable here: write a loop "
                                       "over the indices", loc)
            return [gast.Expr(value=_expr("rt.add_at(bx, idx, g)", bx=bx, idx=index, g=g))]
        sub = gast.Subscript(value=_name(self.adj(base.id)),
                             slice=_load(value.slice), ctx=gast.Store())
        return [gast.AugAssign(target=sub, op=gast.Add(), value=g)]

    def call_adjoint(self, z, value, g, loc):
        func, args, keywords = call_parts(value)
        active_args = [n for a in list(args) + list(keywords.values())
                       for n in (a.elts if isinstance(a, gast.Tuple) else [a])
                       if isinstance(n, gast.Name) and n.id in self.active]
        if not active_args:
            return []
        what = templates.SourceText(value, self.core.origins)
        if is_custom_vjp(func):
            return self.custom_adjoint(func, z, args, keywords, g, loc, what)
        rule = rules.lookup(func)
        if rule is None:
            raise UnsupportedError(rules.missing(func, what), loc)
        if rule.nondiff:
            return []
        if rule.piece is not None:
            return self.pieces_adjoint(rule, args, keywords, g, loc, what)
        if any(isinstance(a, gast.Tuple) and any(isinstance(e, gast.Name) and e.id in self.active
                                                 for e in a.elts)
               for a in list(args) + list(keywords.values())):
            raise UnsupportedError(f"srcad has no derivative of {what} with respect to values "
                                   "inside a tuple argument", loc)
        bound = _bind(rule, args, keywords, what, loc)
        ranks = {p: self.ty(n.id).ndim for p, n in bound.items() if isinstance(n, gast.Name)}
        refusal = rules.refused_ranks(rule, ranks, what)
        if refusal is not None:
            raise UnsupportedError(refusal, loc)
        fill = dict(bound, g=g, ans=_name(z), np=_name(self.np))
        out, reciprocals = [], {}
        for param, node in bound.items():
            if not (isinstance(node, gast.Name) and node.id in self.active):
                continue
            if param not in rule.partials:
                raise UnsupportedError(f"srcad has no derivative of {what} with respect to "
                                       f"its argument '{param}'", loc)
            scalar = rule.on_scalar is not None and not self.ty(node.id).is_array
            template = rule.on_scalar if scalar else rule.partials[param]
            if rules.is_zero(template):
                continue
            partial = templates.fill(template, **fill)
            if not self.ty(z).is_array:
                partial = _HoistReciprocals(g, reciprocals, out, self.namer).visit(partial)
            if rule.broadcasting:
                partial = self.reduce_to(partial, self.ty(z), node.id, same_shape_as=z)
            out.append(self.accumulate(node.id, partial))
        return out

    def pieces_adjoint(self, rule, args, keywords, g, loc, what):
        """Adjoints of the elements of the tuple argument of np.stack, np.concatenate, ..."""
        bound = _bind(rule, args, keywords, what, loc)
        fill = dict(bound, g=g, np=_name(self.np))
        elements = bound[rule.params[0]]
        if not isinstance(elements, gast.Tuple):
            raise UnsupportedError(f"srcad differentiates {what} only for a tuple written in "
                                   "the call", loc)
        reads_elements = rule.params[0] in templates.names_in(rule.piece)  # (their shapes)
        if reads_elements and any(not self.ty(e.id).is_array for e in elements.elts
                                  if isinstance(e, gast.Name)):
            raise UnsupportedError(f"srcad differentiates {what} only when every element is "
                                   "an array", loc)
        out = []
        for k, e in enumerate(elements.elts):
            if isinstance(e, gast.Name) and e.id in self.active:
                out.append(self.accumulate(e.id, templates.fill(rule.piece, **fill,
                                                                k=_const(k))))
        return out

    def custom_adjoint(self, func, z, args, keywords, g, loc, what):
        """`adj = f_vjp(g, ans, *args)`, then each active argument takes its entry."""
        vjp = func.__srcad_vjp__
        check_custom_arguments(func, vjp, args, keywords, what, loc,
                               custom_arrays(self.ty, z, args))
        name = user_rule_name(self.core, self.namer, func, "vjp")
        returned = self.check_custom_result(vjp, z, args, loc)
        adj = self.namer.temp("_adj")
        self.types[adj] = returned
        self.namer.custom_adjoints.add(adj)
        call = gast.Call(func=_name(name), args=[g, _name(z)] + [anno.deepcopy(a) for a in args],
                         keywords=[])
        out = [_assign(adj, call)]
        for k, arg in enumerate(args):
            if isinstance(arg, gast.Name) and arg.id in self.active:
                part = gast.Subscript(value=_name(adj), slice=_const(k), ctx=gast.Load())
                if len(args) == 1 and returned.kind == "unknown":  # (a 1-tuple or the adjoint)
                    part = _expr("rt.only_adjoint(a)", a=_name(adj))
                elif len(args) == 1 and returned.kind != "tuple":
                    part = _name(adj)
                where = f"the adjoint of '{arg.id}' from {vjp.__name__} ({loc})"
                out.append(gast.Expr(value=_expr("rt.check_adjoint(a, x, w)", a=part, x=arg,
                                                 w=_const(where))))
                out.append(self.accumulate(arg.id, anno.deepcopy(part)))
        return out

    def check_custom_result(self, vjp, z, args, loc):
        """A vjp returns one adjoint per argument (a tuple for several), never None for an
        argument that carries a derivative (checked where its type can be inferred). Returns
        the type it returns."""
        arg_types = [self.ty(a.id) if isinstance(a, gast.Name) else
                     typeinfer.of_value(a.value) for a in args]
        ty = typeinfer.returned_type(vjp, [self.ty(z), self.ty(z)] + arg_types)
        if ty.kind == "unknown":
            return ty
        items = ty.items if ty.kind == "tuple" else (ty,)
        if len(args) > 1 and ty.kind != "tuple" or len(items) != len(args):
            raise UserCodeError(f"{loc}: the vjp {vjp.__name__} returns {len(items)} adjoint(s) "
                            f"for {len(args)} argument(s) (a tuple, one per argument)")
        for arg, item in zip(args, items, strict=True):
            if isinstance(arg, gast.Name) and arg.id in self.active and item.kind == "none":
                raise UserCodeError(
                    f"{loc}: the vjp {vjp.__name__} returns None for "
                    f"'{templates.SourceText(arg, self.core.origins)}', which carries a "
                    "derivative here")
        return ty

    def reduce_to(self, expr, expr_ty, name, same_shape_as=None):
        """`expr` (of type `expr_ty`) summed back to the shape of variable `name`; nothing to
        do when `expr` has the shape of `same_shape_as`, which has the shape of `name`."""
        target = self.ty(name)
        if same_shape_as is not None and target.is_array and expr_ty.ndim == target.ndim and \
                self.shapes.get(name) is not None and \
                self.shapes.get(name) == self.shapes.get(same_shape_as):
            return expr
        if not expr_ty.is_array:
            if target.is_array:  # a scalar spread over an array: y[a:b] = s
                return _expr("np.full(x.shape, e)", np=_name(self.np), x=_name(name), e=expr)
            return expr
        if not target.is_array:
            return _expr("np.sum(e)", np=_name(self.np), e=expr)
        # a BinOp or UnaryOp makes a new array, which the adjoint may share; for other
        # expressions cleanup.share_arrays decides whether a copy is needed
        helper = "unbroadcast" if isinstance(expr, (gast.BinOp, gast.UnaryOp)) else \
            "unbroadcast_copy"
        return _expr(f"rt.{helper}(e, x)", e=expr, x=_name(name))

    def accumulate(self, name, expr):
        return gast.AugAssign(target=_name(self.adj(name), gast.Store()), op=gast.Add(),
                              value=expr)

    # ---- pass 3: assemble both sweeps --------------------------------------------------------
    def block(self, stmts, prefix, loop):
        fwd, revs = [], []
        for i, stmt in enumerate(stmts):
            f, r = self.statement(stmt, prefix + (i,), loop)
            fwd.extend(f)
            revs.append(r)
        return fwd, [s for r in reversed(revs) for s in r]

    def block_with_inits(self, stmts, block_path, loop):
        fwd, rev = self.block(stmts, block_path, loop)
        inits = self.block_inits(block_path)
        recomputed = [anno.deepcopy(s) for s in stmts
                      if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and
                      s.targets[0].id in self.recompute.get(block_path, [])]
        return fwd, recomputed + inits + rev

    def block_inits(self, block_path):
        """The adjoints starting at zero where the reversal of a block starts (array adjoints
        start later, where the block first touches them: see plan_array_inits)."""
        started_later = {n for names, _ in self.array_inits.values() for n in names}
        return [self.init(n) for n in self.inits.get(block_path, [])
                if n not in started_later]

    def with_inits(self, stmt, rev):
        """`rev` (the reversal of `stmt`) preceded by the array adjoints that start there; one
        sized from the value its first accumulation adds is created by that accumulation."""
        names, by_value = self.array_inits.get(id(stmt), ((), ()))
        out = [self.init(n) for n in names if n not in by_value]
        for name in [n for n in names if n in by_value]:  # (in order: the set's is the hash's)
            adj = self.adj(name)
            k = next(k for k, a in enumerate(rev) if isinstance(a, gast.AugAssign) and
                     isinstance(a.target, gast.Name) and a.target.id == adj)
            value = rev[k].value
            if is_fresh(value):
                created = [_assign(adj, value)]
            elif isinstance(value, gast.Name):
                created = [_assign(adj, _expr("np.zeros_like(v)", np=_name(self.np), v=value)),
                           rev[k]]
            else:  # (cleanup folds this back into `b = <value>` when nothing shares it)
                tmp = self.namer.temp()
                created = [_assign(tmp, value),
                           _assign(adj, _expr("np.zeros_like(v)", np=_name(self.np),
                                              v=_name(tmp))),
                           self.accumulate(name, _name(tmp))]
            rev = rev[:k] + created + rev[k + 1:]
        return out + rev

    def init(self, name):
        ty = self.ty(name)
        if ty.is_array:
            value = _expr("np.zeros_like(x)", np=_name(self.np), x=_name(name))
        else:
            value = _const(0.0)
        return _assign(self.adj(name), value)

    def statement(self, stmt, path, loop):
        if isinstance(stmt, gast.If):
            fb, rb = self.block_with_inits(stmt.body, path + (0,), loop)
            fo, ro = self.block_with_inits(stmt.orelse, path + (1,), loop)
            fwd = gast.If(test=stmt.test, body=fb, orelse=fo)
            rev = gast.If(test=_load(stmt.test), body=rb, orelse=ro)
            return [fwd], self.with_inits(stmt, [rev])
        if isinstance(stmt, (gast.For, gast.While)):
            fwd, rev = self.loop(stmt, path, loop)
            return fwd, self.with_inits(stmt, rev)
        if isinstance(stmt, gast.Raise):
            return [stmt], []
        return self.simple(stmt, path, loop)

    def simple(self, stmt, path, loop):
        fwd, rev_after = [], []
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
        name = target.id if isinstance(target, gast.Name) else target.value.id
        if (path, name) in self.inverted:
            rev_after.append(anno.deepcopy(self.inverted[(path, name)]))
        elif (path, name) in self.saves:
            save, restore = self.save_restore(name, target, loop, path)
            fwd.extend(save)
            rev_after.extend(restore)
        fwd.append(stmt)
        rev = list(self.adjoints.get(id(stmt), []))
        if rev and id(stmt) not in self.array_inits and _may_be_infinite(rev) and \
                self.adjoint_may_be_zero(name, path):
            rev = self.unless_zero(name, rev)
        rev = self.with_inits(stmt, rev)
        # (a restore `w[k] = saved` reads its index as the store did: recomputed there too)
        recomputed = self.recomputation(rev + rev_after)
        if rev:
            rev = [self.origin_comment(stmt)] + recomputed + rev
        else:
            rev = recomputed
        rev.extend(rev_after)
        if isinstance(target, gast.Name) and name in self.active and self.resets(name, path):
            # the value overwritten here did not reach the output through this definition
            rev.append(self.init(name))
        return fwd, rev

    def adjoint_may_be_zero(self, name, path, visiting=frozenset()):
        """Whether the number `name` defined at `path` is used (differentiably) only inside ifs
        that do not hold this definition, or by numbers of which that holds: its adjoint is
        exactly 0 where those ifs took no branch using it (`d = sqrt(r); if d > 0: e += 1 /
        d`)."""
        ty = self.ty(name)
        uses = self.uses.get(name, [])
        if name not in self.active or ty.is_array or ty.kind != "f" or not uses or \
                name in visiting:
            return False
        for use in uses:
            common = next((k for k, (a, b) in enumerate(zip(use, path)) if a != b),
                          min(len(use), len(path)))
            if any(isinstance(self.at_path.get(use[:k]), gast.If)
                   for k in range(common + 1, len(use))):
                continue
            stmt = self.at_path.get(use)
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
            if not (isinstance(target, gast.Name) and
                    self.adjoint_may_be_zero(target.id, use, visiting | {name})):
                return False
        return True

    def unless_zero(self, name, rev):
        """`rev` (a statement's adjoint, whose partials may be infinite where its value was not
        used: sqrt at 0) run only when the adjoint of `name` is not 0, as when no branch read
        it: 0 times an infinite partial is NaN, and the derivative there is 0. The adjoints
        `rev` sets (rather than adds to) are 0 otherwise."""
        adjoints = self.namer.adjoint_names()
        all_adjoints = set(adjoints.values())
        scalars = {adjoint for primal, adjoint in adjoints.items()
                   if not self.ty(primal).is_array}
        partials, guarded = [], []  # (partials computed before: `_r = 1.0 / d`)
        for s in rev:
            target = s.targets[0].id if isinstance(s, gast.Assign) and \
                isinstance(s.targets[0], gast.Name) else None
            if target is not None and target not in all_adjoints and \
                    not names_read(s.value) & all_adjoints and not guarded:
                partials.append(s)
            elif target is not None and target not in scalars:
                return rev
            else:
                guarded.append(s)
        assigned = [s.targets[0].id for s in guarded
                    if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)]
        return partials + [gast.If(
            test=_expr("b != 0.0", b=_name(self.adj(name))), body=guarded,
            orelse=[_assign(a, _const(0.0)) for a in assigned])]

    def origin_comment(self, stmt):
        """`# line 12: <source>` (with the file's name for a helper from another file)."""
        loc = anno.getanno(stmt, "loc")
        if loc is None:
            return comment(templates.to_source(stmt))
        where = f"line {loc.line}" if loc.file == self.core.parsed.file else \
            f"{os.path.basename(loc.file)}:{loc.line}"
        return anno.setanno(comment(f"{where}: {loc.text.strip()}"), "loc", loc)

    def save_restore(self, name, target, loop, path):
        """Statements saving the value `target` is about to overwrite, and restoring it."""
        value = _load(target)
        if isinstance(target, gast.Subscript):
            item_ty = self.index_result_type(target)
            kind, ndim = item_ty.kind, item_ty.ndim
        else:
            ty = self.ty(name)
            kind, ndim = ty.kind, ty.ndim
        restore_target = _store(target)
        copied = _expr("v.copy()", v=value) if ndim and isinstance(target, gast.Subscript) \
            else value
        if loop is None or loop.one_trip:
            var = self.namer.fresh(f"_{name.lstrip('_')}_saved")
            return [_assign(var, copied)], [_assign(restore_target, _name(var))]
        if kind not in DTYPES:
            loc = anno.getanno(self.statement_at(path), "loc")
            raise UnsupportedError(f"{name} (a {kind}) is rebound on every trip of a loop "
                                   "whose reverse sweep reads it: only numbers and arrays are "
                                   "saved per trip (for np.nonzero(m)[0], write "
                                   "np.flatnonzero(m))", loc)
        top = loop.outermost()
        if isinstance(target, gast.Name) and not self.defined_before(name, top.path):
            # the first save in the loop reads a value from before the loop: give it one
            top.allocations.append(_assign(name, self.placeholder(kind, ndim)))
        elif isinstance(target, gast.Name) and name not in self.core.tree_args and \
                not any(len(d) == 1 and d[0] < top.path[0] for d in self.defs.get(name, [])):
            self.unbound_placeholders[name] = _assign(name, self.placeholder(kind, ndim))
        if ndim and kind in DTYPES and (isinstance(target, gast.Subscript) or
                                        self.unshared(name)):
            return self.save_array(name, value, restore_target, kind, ndim, loop)
        buf = self.namer.buffer(f"_{name.lstrip('_')}_saves")
        if ndim:  # (an array that may share memory: the list keeps the array itself)
            loop.buffers.append(Buffer(buf, None))
            push = gast.Expr(value=_expr("buf.append(v)", buf=_name(buf), v=copied))
            pop = _assign(restore_target, _expr("buf.pop()", buf=_name(buf)))
            return [push], [pop]
        loop.buffers.append(Buffer(buf, DTYPES[kind], saves=name if kind == "f" else None))
        slot = anno.deepcopy(loop.slot)
        save = _assign(gast.Subscript(value=_name(buf), slice=slot, ctx=gast.Store()), value)
        restore = _assign(restore_target, gast.Subscript(value=_name(buf),
                                                         slice=anno.deepcopy(slot),
                                                         ctx=gast.Load()))
        return [save], [restore]

    def save_array(self, name, value, restore_target, kind, ndim, loop, what="saves"):
        """Save the array `value` in its slot's row of a buffer (its copy), restore a view."""
        buf = self.namer.buffer(f"_{name.lstrip('_')}_{what}")
        shapes = self.namer.buffer(f"_{name.lstrip('_')}_shapes")
        loop.buffers += [Buffer(buf, DTYPES[kind], (0,)), Buffer(shapes, "np.int64", (ndim,))]
        fill = {"b": _name(buf), "s": _name(shapes), "k": anno.deepcopy(loop.slot)}
        push = _assign(buf, _expr("rt.save_array(b, s, k, v)", **fill, v=value))
        pop = _assign(restore_target, _expr("rt.saved_array(b, s, k, n)", **fill,
                                            n=_const(ndim)))
        return [push], [pop]

    def unshared(self, name):
        """Is the memory of array variable `name` never written in place, under any name that
        may share it? (Then a copy saved when `name` is rebound is as good as the array: with a
        view of an array updated later, the restored view must show the update undone.)"""
        group = {name} | self.aliases.shares.get(name, set())
        if group & set(self.core.tree_args):  # (the caller may pass one array twice)
            group |= set(self.core.tree_args)
        return not group & self.written_in_place

    # ---- loops ------------------------------------------------------------------------------
    def loop(self, stmt, path, outer):
        if path in self.parallel and path in self.fused:
            return self.parallel_fused_loop(stmt, path, *self.fused[path])
        if path in self.parallel:
            return self.parallel_loop(stmt, path, self.parallel[path])
        if path in self.fused:
            return self.fused_loop(stmt, path, *self.fused[path])
        if path in self.checkpointed:
            return self.checkpointed_loop(stmt, path)
        exit_test = anno.getanno(stmt, "exit_test")
        body = stmt.body[:-1] if exit_test is not None else stmt.body
        trips = anno.getanno(stmt, "trips")
        info = Loop(path, outer, trips=trips, top=outer is None)
        is_for = isinstance(stmt, gast.For)
        start, stop, step = _range_args(stmt) if is_for else (None, None, None)
        if is_for and exit_test is None:
            info.trip_count = _trip_count(start, stop, step)
        info.assigned = _assigned_in(stmt)
        unit = is_for and (_is_const(step, 1) or _is_const(step, -1))
        # a top-level `for` that runs all its trips saves into buffers sized to its trip count
        # before it; every other loop's buffers grow (a loop that may break: as it runs)
        growable = not (info.top and is_for and exit_test is None)
        if not growable and unit:
            if _is_const(step, -1):
                info.slot = _expr("a - i", i=_load(stmt.target), a=start)
            else:
                info.slot = _load(stmt.target) if _is_const(start, 0) else \
                    _expr("i - a", i=_load(stmt.target), a=start)
        else:
            info.counter = self.namer.fresh("_k")
            info.slot = _name(info.counter)
        fwd_body, rev_body = self.block_with_inits(body, path + (0,), info)
        pre, fwd_loop_body = [], list(fwd_body)
        if trips is not None:
            pre.append(_assign(trips, _const(0)))
            fwd_loop_body.insert(0, _stmt("n += 1", n=_name(trips)))
        uses_slots = bool(info.buffers)
        if uses_slots and info.counter is not None:
            fwd_loop_body.append(_stmt("k += 1", k=_name(info.counter)))
            rev_body.insert(0, _stmt("k -= 1", k=_name(info.counter)))
        if uses_slots and growable:
            # make room before the loop for all its trips (a while loop: see strip_mine);
            # a buffer reassigned inside a hot loop would cost reference counting every trip
            if is_for and exit_test is None:
                holder, trips_there = self.grow_point(info, _trip_count(start, stop, step))
                holder.grows.extend(self.grow_buffers(info, _expr(
                    "k + n", k=_name(info.counter), n=trips_there)))
            elif is_for:  # (`for it in range(10**9)` that breaks: room made as it goes)
                fwd_loop_body = self.grow_buffers(info, _expr(
                    "k + 1", k=_name(info.counter))) + fwd_loop_body
            elif any(b.dtype is not None for b in info.buffers):
                fwd_loop_body = self.strip_mine(stmt, info, fwd_loop_body)
        pre.extend(info.grows)
        if exit_test is not None:
            fwd_loop_body.append(exit_test)
        fwd_stmt = anno.replaced(stmt, body=fwd_loop_body)
        # allocation of save buffers: before the outermost loop
        allocs = [self.allocate(b, growable, start, stop, step) for b in info.buffers]
        if uses_slots and info.counter is not None:
            allocs.append(_assign(info.counter, _const(0)))
        info.outermost().allocations.extend(allocs)
        if info.top:
            pre = info.allocations + pre
        fwd = pre + [fwd_stmt]
        rev = self.reverse_loop(stmt, info, rev_body, start, stop, step, unit)
        # the loop (re)defines its index and trip count before it starts
        for name in ([stmt.target.id] if is_for else []) + ([trips] if trips else []):
            before = path[:-1] + (path[-1] - 0.5,)
            if (before, name) in self.saves:
                save, restore = self.save_restore(name, _name(name, gast.Store()), outer, before)
                fwd = save + fwd
                rev = rev + restore
        return fwd, rev

    def checkpointed_loop(self, stmt, path):
        """Forward: the primal loop, pushing each trip's snapshot. Reverse: per trip backwards,
        pop the snapshot, re-run the trip's body with its saves, then reverse it (the body's
        own saves are planned as for straight-line code: one trip at a time is in flight)."""
        start, stop, step = _range_args(stmt)
        unit = _is_const(step, 1) or _is_const(step, -1)
        info = Loop(path, None, top=True)
        info.slot = _load(stmt.target) if _is_const(start, 0) and _is_const(step, 1) else \
            _expr("len(range(a, i, s))", a=start, i=_load(stmt.target), s=step)
        pushes, pops = [], []
        for name in self.snapshot(stmt, path):
            self.snapshotted.add(name)
            ty = self.ty(name)
            if not ty.is_array:
                save, restore = self.save_restore(name, _name(name, gast.Store()), info, path)
                pushes += save
                pops += restore
                continue
            rebound = any(isinstance(d[-1], int) and inside(d, path) and
                          isinstance(self.statement_at(d), gast.Assign) and
                          isinstance(self.statement_at(d).targets[0], gast.Name)
                          for d in self.defs.get(name, []))
            target = _name(name, gast.Store()) if rebound else gast.Subscript(
                value=_name(name), slice=gast.Constant(value=Ellipsis, kind=None),
                ctx=gast.Store())
            if ty.kind in DTYPES:
                save, restore = self.save_array(name, _name(name), target, ty.kind, ty.ndim,
                                                info, "snapshots")
                pushes += save
                pops += restore
                continue
            buf = self.namer.buffer(f"_{name.lstrip('_')}_snapshots")
            info.buffers.append(Buffer(buf, None))
            pushes.append(gast.Expr(value=_expr("buf.append(v.copy())", buf=_name(buf),
                                                v=_name(name))))
            pops.append(_assign(target, _expr("buf.pop()", buf=_name(buf))))
        frame = Loop(path, None, top=True, one_trip=True, assigned=_assigned_in(stmt))
        rerun, rev_body = self.block_with_inits(stmt.body, path + (0,), frame)
        primal = anno.copy_loc(gast.For(target=stmt.target, iter=stmt.iter,
                                        body=pushes + [anno.deepcopy(s) for s in stmt.body],
                                        orelse=[], type_comment=None), stmt)
        allocs = [self.allocate(b, False, start, stop, step) for b in info.buffers]
        fwd = info.allocations + allocs + [primal]
        rev = frame.allocations + frame.grows + self.reverse_loop(
            stmt, info, pops + rerun + rev_body, start, stop, step, unit)
        before = path[:-1] + (path[-1] - 0.5,)
        if (before, stmt.target.id) in self.saves:
            save, restore = self.save_restore(stmt.target.id, _name(stmt.target.id,
                                                                    gast.Store()), None, before)
            fwd, rev = save + fwd, rev + restore
        return fwd, rev

    def loops_to_fuse(self, body):
        """{path: (plan, total)} of the top-level loops whose trips are independent
        (parallel.py) and whose only value read after them is one sum, `total`, added into the
        output: the forward sweep runs each trip and reverses it at once, as a hand-written
        adjoint does (nothing saved across trips, no second run of the trips). The reversal is
        linear in the sum's adjoint, which passes through the trips unchanged and is plus or
        minus the output's seed, a parameter of the gradient: the trips add into private
        adjoints with it, and the reverse sweep adds them to the gradient's."""
        fused = {}
        plans = parallel.plan(self.core.tree, self.types, self.aliases, self.core.origins)
        for path, plan in plans.items():
            stmt = body[path[0]]
            after, _ = exposed_reads(body[path[0] + 1:], set())
            outputs = (parallel.assigned(stmt) | parallel.stored(stmt)) & after
            if plan.reason is not None or len(outputs) != 1 or \
                    next(iter(outputs)) not in plan.sums or \
                    not self.can_run_in_parallel(path, plan):
                continue
            total = next(iter(outputs))
            ret = body[-1].value
            scalar = isinstance(ret, gast.Name) and self.ty(ret.id).kind == "f" and \
                not self.ty(ret.id).ndim  # (an array's seed is an array)
            sign = _added_into_output(body[path[0] + 1:-1], total, ret.id) if scalar else 0
            if not sign:
                continue
            stmts = [a for s in gast.walk(stmt) if id(s) in self.adjoints
                     for a in self.adjoints[id(s)]]
            adjoints = set(self.namer.adjoint_names().values())
            read_only = (names_read(stmts) - parallel.written(stmts)) & adjoints
            if total in self.active and read_only <= {self.adj(total)} and \
                    not any(n in self.active for n in plan.array_sums):
                fused[path] = (plan, total, sign)
        return fused

    def fused_loop(self, stmt, path, plan, total, sign):
        """Forward: each trip, then its reversal (loops_to_fuse). Reverse: the private
        adjoints added to the gradient's."""
        prologue, privates, allocations, trips, added = self.fused_trips(stmt, path, plan,
                                                                         total, sign)
        return prologue + [init for _, _, init, _ in privates] + allocations + [trips], added

    def parallel_fused_loop(self, stmt, path, plan, total, sign):
        """A loop that reverses each trip as it runs (loops_to_fuse) with parallel=True: one
        chunk of trips per thread, each adding into its own copies of the sums and of the
        private adjoints, added up after the loop; the reverse sweep only adds them."""
        prologue, privates, allocations, trips, added = self.fused_trips(stmt, path, plan,
                                                                         total, sign)
        chunks, c, lo, hi, count, bounds = self.chunking(stmt)
        trips.iter = _expr("range(a, b)", a=lo, b=hi)
        parts, starts, ends, after = [], [], [], []
        # (an adjoint a trip writes at its own rows only is the chunks' one array)
        copies = [(name, self.ty(name)) for name in plan.sums + plan.array_sums] + \
            [(private, valuetypes.array("f", self.ty(primal).ndim) if self.ty(primal).ndim
              else typeinfer.FLOAT) for private, primal, _, by_rows in privates if not by_rows]
        for name, ty in copies:
            for out, statements in zip((parts, starts, ends, after),
                                       self.chunk_copies(name, ty, chunks, c), strict=True):
                out.extend(statements)
        workspaces = [anno.deepcopy(a) for a in plan.workspaces.values()]
        rows = parallel.stored(stmt) - set(plan.array_sums) - set(plan.workspaces) - \
            parallel.assigned(stmt) | {a.targets[0].id for a in parts} | \
            {private for private, _, _, by_rows in privates if by_rows}
        chunk = self.chunk_function(
            f"{self.core.tree.name}_grad_chunk{self.chunk_number()}", c, chunks,
            [comment("forward sweep: each trip, then its reversal")] + bounds + starts +
            workspaces + prologue + allocations + [trips] + ends, stmt, rows)
        fwd = [count] + [init for _, _, init, _ in privates] + parts + \
            self.chunk_driver(chunk) + after + self.defined_after(stmt, path, plan)
        return fwd, added

    def chunk_number(self):
        """The number of the next loop's chunk function."""
        return sum(1 for f in self.chunks if not f.name.endswith("_reverse")) + 1

    def chunking(self, stmt):
        """(the names of the chunk count, a chunk's number, its first trip and the one after
        its last; the statement counting the chunks; a chunk's statements finding its trips)
        of a loop run in chunks."""
        start, stop, _ = _range_args(stmt)
        chunks, c = self.namer.fresh("_chunks"), self.namer.fresh("_c")
        lo, hi = self.namer.fresh("_lo"), self.namer.fresh("_hi")
        for name in (chunks, c, lo, hi):
            self.types[name] = typeinfer.INT
        bounds = [_assign(lo, _expr("rt.chunk_start(c, n, a, b)", c=c, n=chunks, a=start,
                                    b=stop)),
                  _assign(hi, _expr("rt.chunk_start(c + 1, n, a, b)", c=c, n=chunks, a=start,
                                    b=stop))]
        count = _assign(chunks, _expr("rt.chunk_count(b)", b=stop) if _is_const(start, 0)
                        else _expr("rt.chunk_count(b - a)", a=start, b=stop))
        return chunks, c, lo, hi, count, bounds

    def fused_trips(self, stmt, path, plan, total, sign):
        """(statements before the trips, [(private adjoint, its variable, the statement
        starting it at zero, whether a trip writes it at its own rows only)], the trips'
        buffers, the loop of the trips, each reversed as it runs, the reverse sweep's
        statements adding the private adjoints) of a fused loop whose sum's adjoint is `sign`
        times the output's seed."""
        frame = Loop(path, None, top=True, one_trip=True, assigned=_assigned_in(stmt))
        rerun, rev_body = self.block_with_inits(stmt.body, path + (0,), frame)
        primal_of = {adj: name for name, adj in self.namer.adjoint_names().items()}
        exposed, _ = exposed_reads(rerun + rev_body, set())
        prologue, privates, added, renames = [], [], [], {}
        seed = self.adj(total)
        body = self.core.tree.body
        defined = set(self.core.tree_args).union(*map(parallel.assigned, body[:path[0]]))
        for name in sorted(parallel.written(rerun + rev_body) & exposed - {seed}):
            primal = primal_of.get(name)
            if primal is None:  # (a trip's own number, which a save reads before its store:
                ty = self.ty(name)  # any value will do, unless it has one from before the loop)
                if ty.kind in ("f", "i", "b") and not ty.ndim and name not in defined:
                    prologue.append(_assign(name, self.placeholder(ty.kind, 0)))
                continue
            how = self.chunk_adjoint(name, primal, rev_body, stmt, plan)
            if how == "workspace":
                prologue.append(self.init(primal))
            elif how == "zero":
                prologue.append(_assign(name, _const(0.0)))
            else:  # (added into, or written by rows: private, added after)
                private = self.namer.fresh(f"{primal}_trips")
                self.types[private] = self.ty(primal)
                renames[name] = self.adj(private)
                privates.append((self.adj(private), primal,
                                 _assign(self.adj(private), self.init(primal).value),
                                 how == "shared"))
                added.append(self.accumulate(primal, _name(self.adj(private))))
        for node in gast.walk(gast.Module(body=rev_body, type_ignores=[])):
            if isinstance(node, gast.Name) and node.id in renames:
                node.id = renames[node.id]
        output_seed = _name(self.b_out) if sign > 0 else _expr("-b", b=_name(self.b_out))
        for s in rev_body:
            templates.substitute(s, seed, output_seed)
            anno.setanno(s, "reversal", True)  # (it indexes what the trip did: guards.py)
        trips = anno.copy_loc(gast.For(target=_store(stmt.target), iter=stmt.iter,
                                       body=rerun + rev_body, orelse=[], type_comment=None),
                              stmt)
        return prologue, privates, frame.allocations + frame.grows, trips, added

    def parallel_loop(self, stmt, path, plan):
        """A loop whose trips are independent (parallel.py) runs as one chunk of trips per
        thread in both sweeps, each chunk a function of its own. Forward: a chunk runs its
        trips, summing into copies of its own that are added up after the loop. Reverse: a
        chunk re-runs each of its trips, last first, with the trip's saves (as a checkpointed
        loop does) and reverses it, adding into its own copies of the adjoints several trips
        add into."""
        chunks, c, lo, hi, count, bounds = self.chunking(stmt)
        rev_parts, rev_body, rev_after, rev_shared = self.parallel_reverse(stmt, path, plan, c,
                                                                            chunks, lo, hi)
        parts, prologue, epilogue, after = [], [], [], []
        for name in plan.sums + plan.array_sums:
            for out, statements in zip((parts, prologue, epilogue, after),
                                       self.chunk_copies(name, self.ty(name), chunks, c),
                                       strict=True):
                out.extend(statements)
        prologue.extend(anno.deepcopy(a) for a in plan.workspaces.values())
        trips = anno.copy_loc(gast.For(
            target=_store(stmt.target), iter=_expr("range(a, b)", a=lo, b=hi),
            body=[anno.deepcopy(s) for s in stmt.body], orelse=[], type_comment=None), stmt)
        rows = parallel.stored(stmt) - set(plan.array_sums) - set(plan.workspaces) - \
            parallel.assigned(stmt) | {a.targets[0].id for a in parts}
        fwd_def = self.chunk_function(
            f"{self.core.tree.name}_grad_chunk{self.chunk_number()}", c, chunks,
            [comment("forward sweep")] + bounds + prologue + [trips] + epilogue, stmt, rows)
        rev_def = self.chunk_function(fwd_def.name + "_reverse", c, chunks, bounds + rev_body,
                                      stmt, rev_shared)
        fwd = [count] + parts + self.chunk_driver(fwd_def) + after + \
            self.defined_after(stmt, path, plan)
        rev = [anno.deepcopy(count)] + rev_parts + self.chunk_driver(rev_def) + \
            rev_after
        return fwd, rev

    def defined_after(self, stmt, path, plan):
        """A value for each variable private to the loop's trips that the gradient mentions
        elsewhere but has not defined before the loop (in the serial gradient the last trip
        defines it, and saving what a later definition overwrites reads it; nothing else)."""
        body = self.core.tree.body
        before = set(self.core.tree_args).union(*map(parallel.assigned, body[:path[0]]))
        elsewhere = {n.id for s in body if s is not stmt for n in gast.walk(s)
                     if isinstance(n, gast.Name)}
        return [_assign(name, self.placeholder(self.ty(name).kind, self.ty(name).ndim))
                for name in sorted(parallel.assigned(stmt) & elsewhere - before - set(plan.sums))
                if self.ty(name).kind in ("f", "i", "b")]

    def parallel_reverse(self, stmt, path, plan, c, chunks, lo, hi):
        """(statements allocating the chunks' copies of adjoints, the reverse chunk's body after
        its bounds, statements adding the copies up, the arrays the chunks write by rows) of a
        parallel loop."""
        frame = Loop(path, None, top=True, one_trip=True, assigned=_assigned_in(stmt))
        rerun, rev_body = self.block_with_inits(stmt.body, path + (0,), frame)
        # the sums into arrays were the forward sweep's; a trip reads nothing they write
        rerun = parallel.without_stores(rerun, plan.array_sums)
        info = Loop(path, None, top=True)
        loop = self.reverse_loop(stmt, info, rerun + rev_body, _name(lo), _name(hi),
                                 _const(1), True)
        stmts = frame.allocations + frame.grows + loop
        primal_of = {adj: name for name, adj in self.namer.adjoint_names().items()}
        index = stmt.target.id
        exposed, _ = exposed_reads(stmts, set())
        parts, prologue, epilogue, after = [], [], [], []
        shared = {n for n in parallel.stored(stmt) if n not in primal_of and plan.own_rows and
                  parallel.rows_only(stmts, n, index)}
        # what the re-run writes that is not private to a trip: sums, workspaces
        for name in plan.sums:
            prologue.append(_assign(name, self.placeholder(self.ty(name).kind, 0)))
        prologue.extend(anno.deepcopy(a) for a in plan.workspaces.values())
        for name in sorted(parallel.written(stmts) & exposed):
            primal = primal_of.get(name)
            if primal is None:  # a trip's own value: the forward analysis saw to that
                ty = self.ty(name)
                if ty.kind in ("f", "i", "b") and name not in shared and \
                        name not in plan.sums and name not in plan.workspaces:
                    # (a save of the value the trip overwrites reads it: any will do)
                    prologue.append(_assign(name, self.placeholder(ty.kind, ty.ndim)))
                continue
            how = self.chunk_adjoint(name, primal, stmts, stmt, plan)
            if how == "shared":
                shared.add(name)
            elif how == "workspace":
                prologue.append(self.init(primal))
            elif how == "zero":
                prologue.append(_assign(name, _const(0.0)))
            elif how == "parts":
                adjoint = valuetypes.array("f", self.ty(primal).ndim)
                for out, statements in zip((parts, prologue, epilogue, after),
                                           self.chunk_copies(name, adjoint, chunks, c),
                                           strict=True):
                    out.extend(statements)
            else:
                raise AssertionError(f"{name}: {how}")  # (can_run_in_parallel said yes)
        shared |= {a.targets[0].id for a in parts}
        return parts, prologue + stmts + epilogue, after, shared

    def chunk_adjoint(self, name, primal, stmts, loop, plan):
        """How a chunk holds the adjoint `name` of `primal`, which the loop's reversed trips
        (`stmts`) write and read before writing: "shared" (the gradient's own: a sum's, passed
        on unchanged, or an array written by rows), "workspace" (zeros of the chunk's own
        workspace), "parts" (only added into: the chunk's copy, added up after the loop),
        "zero" (a value private to a trip, zero where each trip starts), or why none fits."""
        index = loop.target.id
        is_array = self.ty(primal).is_array
        if primal in plan.sums:
            return "shared"
        if primal in plan.workspaces:
            return "workspace"
        if is_array and plan.own_rows and parallel.rows_only(stmts, name, index):
            return "shared"
        if parallel.added_only(stmts, name):
            return "parts"
        if not is_array and primal in parallel.assigned(loop):
            return "zero"
        return (f"the reversed trips write '{name}' (the adjoint of '{primal}') at places "
                "other than their own rows")

    def can_run_in_parallel(self, path, plan):
        """Does every adjoint the loop's reversed trips write, and that starts outside the
        loop, fit a chunk (chunk_adjoint), and does the reverse sweep of what runs before the
        loop read none of its sums (their values from before it, which neither chunks nor
        trips reversed as they run put back: adjoints reading them, or an earlier loop read
        again as it is checkpointed)? Else the loop stays serial, `plan` saying why."""
        loops_before = [n for s in self.core.tree.body[:path[0]] for n in gast.walk(s)
                        if isinstance(n, (gast.For, gast.While))]
        for name in plan.sums + plan.array_sums:
            if any(p[0] < path[0] for p in self.reads.get(name, [])) or \
                    any(name in primal_reads(loop) for loop in loops_before):
                plan.reason = (f"the reverse sweep before the loop reads '{name}', which the "
                               "loop sums into")
                return False
        loop = self.loops[path]
        started = {n for block, names in self.inits.items() if inside(block, path)
                   for n in names}
        stmts = [a for s in gast.walk(loop) if id(s) in self.adjoints
                 for a in self.adjoints[id(s)]]
        primal_of = {adj: name for name, adj in self.namer.adjoint_names().items()}
        for name in sorted(parallel.written(stmts)):
            primal = primal_of.get(name)
            if primal is None or primal in started:
                continue
            if self.ty(primal).is_array and primal in parallel.assigned(loop) and \
                    primal not in plan.workspaces:
                plan.reason = (f"the adjoint of '{primal}', an array a trip assigns, starts "
                               "before the loop")
                return False
            how = self.chunk_adjoint(name, primal, stmts, loop, plan)
            if how not in ("shared", "workspace", "parts", "zero"):
                plan.reason = how
                return False
        return True

    def chunk_copies(self, name, ty, chunks, c):
        """For a sum (of type `ty`) the chunks each add part of: (allocating the chunks'
        copies, starting a chunk's at zero, keeping it at the chunk's end, adding them all to
        `name` after the loop)."""
        buf = self.namer.fresh(f"_{name}_parts")
        if ty.is_array:
            return ([_assign(buf, _expr("np.zeros((n,) + a.shape, a.dtype)", n=chunks, a=name))],
                    [_assign(name, _expr("p[c]", p=buf, c=c))], [],
                    [_stmt("a += np.sum(p, axis=0)", a=_store(_name(name)), p=buf)])
        dtype = DTYPES[ty.kind]
        return ([_assign(buf, _expr(f"np.zeros(n, {dtype})", n=chunks))],
                [_assign(name, self.placeholder(ty.kind, 0))],
                [_assign(gast.Subscript(value=_name(buf), slice=_name(c), ctx=gast.Store()),
                         _name(name))],
                [_stmt("a += np.sum(p)", a=_store(_name(name)), p=buf)])

    def chunk_function(self, name, c, chunks, body, stmt, shared):
        """The FunctionDef `name(c, chunks, <what body reads from the gradient>)`: the names
        it reads before writing them, except those it writes as values of its own (a trip's
        own, a chunk's copies); `shared` are arrays it writes into that the gradient holds."""
        name = self.namer.fresh(name)
        loc = anno.getanno(stmt, "loc")
        if loc is not None:
            body = [comment(f"a chunk of the trips of the loop at line {loc.line} (one chunk "
                            "per thread)")] + body
        module_names = set(self.core.scope) | {"rt", "kn"}
        own = parallel.written(body) - set(shared)
        free = exposed_reads(body, set())[0] - own - module_names - {c, chunks}
        local = set(self.core.tree_args) | parallel.assigned(self.core.tree)
        free = {n for n in free if n in local or not hasattr(builtins, n)}
        params = [c, chunks] + sorted(free)
        args = gast.arguments(args=[_name(p, gast.Param()) for p in params], posonlyargs=[],
                              vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                              defaults=[])
        fn = gast.FunctionDef(name=name, args=args, body=body, decorator_list=[], returns=None,
                              type_comment=None, type_params=[])
        self.chunks.append(fn)
        return fn

    def chunk_driver(self, fn):
        """Run the chunks of `fn` (on every thread)."""
        rest = gast.Tuple(elts=[_name(a.id) for a in fn.args.args[1:]], ctx=gast.Load())
        return [gast.Expr(value=_expr("rt.run_chunks(f, rest)", f=fn.name, rest=rest))]

    def strip_mine(self, stmt, info, body):
        """A while loop saving per trip becomes two: the outer one makes room for 64 more
        trips, the inner one runs the body while there is room. No buffer is rebound inside
        the inner loop, where numba would otherwise count references on every trip."""
        k = _name(info.counter)
        room = self.namer.fresh("_room")
        grows = self.grow_buffers(info, _expr("k + 64", k=k))
        first = next(b.name for b in info.buffers if b.dtype is not None)
        inner = gast.While(test=gast.BoolOp(op=gast.And(), values=[
            anno.deepcopy(stmt.test), _expr("k < room", k=k, room=_name(room))]),
            body=body, orelse=[])
        return grows + [_assign(room, _expr("b.shape[0]", b=_name(first))), inner]

    def grow_point(self, info, trips):
        """Where the buffers of `for` loop `info` (of `trips` trips) are grown, and the trips
        they need room for there: before the outermost enclosing loop whose every trip runs
        this loop's whole range once (a nest of loops over ranges fixed at entry grows its
        buffers once, to their final size, rather than at every trip of the loops around it),
        or before a loop of trips each reversed before the next starts (fused or checkpointed:
        a trip pops all it pushed, so every trip needs the room of one)."""
        holder = info
        while info.trip_count is not None and holder.parent is not None and \
                (holder.parent.trip_count is not None or holder.parent.one_trip) and \
                len(holder.path) == len(holder.parent.path) + 2:
            outside = self.evaluated_before(trips, holder.parent, holder.path[-1])
            if outside is None:
                break
            holder = holder.parent
            trips = outside if holder.one_trip else \
                _expr("m * n", m=holder.trip_count, n=outside)
        return holder, trips

    def evaluated_before(self, expr, loop, at):
        """`expr` (read by statement `at` of `loop`'s body) as it can be evaluated before the
        loop, or None: a name the body assigns once, at its top level before `at`, to an
        expression of names it does not assign or store into (`_t3 = x.shape[0]`), is replaced
        by that expression. An element read is never moved out of a loop that stores into an
        array (another name may share its memory)."""
        stmt = self.statement_at(loop.path)
        stores_into_arrays = bool(templates.stored_arrays(stmt))
        if stores_into_arrays and _reads_elements(expr):
            return None
        for name in names_read(expr) & loop.assigned:
            values = [s.value for s in stmt.body[:at] if isinstance(s, gast.Assign) and
                      isinstance(s.targets[0], gast.Name) and s.targets[0].id == name]
            stores = sum(1 for n in gast.walk(stmt) if isinstance(n, gast.Name) and
                         n.id == name and isinstance(n.ctx, gast.Store))
            if stores != 1 or len(values) != 1 or names_read(values[0]) & loop.assigned or \
                    any(isinstance(n, gast.Call) for n in gast.walk(values[0])):
                return None
            if stores_into_arrays and _reads_elements(values[0]):
                return None
            expr = _expr(templates.to_source(expr), **{name: values[0]})
        return expr

    def grow_buffers(self, info, needed):
        """`if n > first.shape[0]: b = rt.grow(b, n)` for each buffer b of a loop, n the
        rows `needed`: they are allocated and grown alike (a save widens a row, never adds
        one), so the first one's size is every one's."""
        names = [b.name for b in info.buffers if b.dtype is not None]
        if not names:
            return []
        n = self.namer.fresh("_rows")
        self.types[n] = typeinfer.INT
        return [_assign(n, needed),
                gast.If(test=_expr("n > b.shape[0]", n=_name(n), b=_name(names[0])),
                        body=[_assign(b, _expr("rt.grow(b, n)", b=_name(b), n=_name(n)))
                              for b in names], orelse=[])]

    def defined_before(self, name, loop_path):
        start = loop_path[:-1] + (loop_path[-1] - 0.5,)
        return name in self.core.tree_args or any(
            precedes(d, start, self.save_loops) for d in self.defs.get(name, []) if d != start)

    def placeholder(self, kind, ndim):
        if ndim:  # (no value of the program: never one of shape_checks' shapes)
            return anno.setanno(_expr(f"np.empty({(0,) * ndim}, {DTYPES[kind]})",
                                      np=_name(self.np)), "placeholder", True)
        return _const({"f": 0.0, "i": 0, "b": False}[kind])

    def allocate(self, buf, growable, start, stop, step):
        if buf.dtype is None:
            return _assign(buf.name, gast.List(elts=[], ctx=gast.Load()))
        size = _const(16) if growable else _trip_count(start, stop, step)
        if buf.row:
            size = gast.Tuple(elts=[size] + [_const(n) for n in buf.row], ctx=gast.Load())
        allocation = _expr(f"np.empty(n, {buf.dtype})", np=_name(self.np), n=size)
        if buf.saves is not None:
            anno.setanno(allocation, "saves", buf.saves)
        return _assign(buf.name, allocation)

    def reverse_loop(self, stmt, info, rev_body, start, stop, step, unit):
        if isinstance(stmt, gast.While):
            self.trip_counter = self.trip_counter or self.namer.fresh("_")
            return [gast.For(target=_name(self.trip_counter, gast.Store()),
                             iter=_expr("range(n)", n=_name(info.trips)), body=rev_body,
                             orelse=[], type_comment=None)]
        i = stmt.target
        if unit and _is_const(step, -1):
            first = _expr("a - n + 1", a=start, n=_name(info.trips)) if info.trips else \
                _expr("b + 1", b=stop)
            iter_ = _expr("range(first, a + 1)", first=first, a=start)
            return [gast.For(target=_store(i), iter=iter_, body=rev_body, orelse=[],
                             type_comment=None)]
        if unit:
            # `i = stop; while i > start: i -= 1; ...` rather than a for over a descending
            # range: numba checks every signed index for wraparound, and LLVM proves i >= 0
            # (dropping the check, then unrolling and keeping accumulated elements in
            # registers) from this loop's test, not from a descending range's
            end = _expr("a + n", a=start, n=_name(info.trips)) if info.trips else stop
            step_back = _stmt("i -= 1", i=_store(i))
            loop = gast.While(test=_expr("i > a", i=_load(i), a=start),
                              body=[step_back] + rev_body, orelse=[])
            anno.setanno(loop, "counter", i.id)  # (it ends: cleanup may drop it if empty)
            return [_assign(i.id, end), loop]
        trips = _name(info.trips) if info.trips else \
            _expr("len(range(a, b, s))", a=start, b=stop, s=step)
        r = self.namer.fresh("_r")
        set_index = _assign(_store(i), _expr("a + r * s", a=start, r=_name(r), s=step))
        return [gast.For(target=_name(r, gast.Store()),
                         iter=_expr("range(n - 1, -1, -1)", n=trips),
                         body=[set_index] + rev_body, orelse=[], type_comment=None)]

    # ---- the function -----------------------------------------------------------------------
    def function(self, fn, fwd, rev):
        args = fn.args
        b_out = self.b_out
        copies = [_assign(a, _expr("a.copy()", a=_name(a)))
                  for a in self.core.tree_args if self.ty(a).is_array and
                  a in self.aliases.memory_written(self.written_in_place)]
        body = copies + [comment("forward sweep")] + shape_checks(
            fwd, self.assumed, self.types, self.namer, self.core.tree_args)
        ret = self.ret_atom
        value = ret
        # (the reverse sweep restores overwritten elements of an array in place)
        written = isinstance(ret, gast.Name) and self.ty(ret.id).is_array and \
            ret.id in self.written_in_place
        if isinstance(ret, gast.Name) and (ret.id in self.snapshotted or written or
                                           any(n == ret.id for (_, n) in self.saves)):
            value_name = self.namer.fresh(f"{ret.id}_value")
            body.append(_assign(value_name, _copied(_name(ret.id), self.ty(ret.id))))
            value = _name(value_name)
        outputs = [value]
        if self.aux is not None:
            aux_value = self.namer.fresh(f"{self.aux}_value")
            body.append(_assign(aux_value, _copied(_name(self.aux), self.ty(self.aux))))
            outputs.append(_name(aux_value))
        body.append(comment("reverse sweep"))
        body.extend(self.block_inits(()))
        if isinstance(ret, gast.Name) and ret.id in self.active:
            seed = _expr("rt.seed(b, v)", b=_name(b_out), v=_name(ret.id)) \
                if self.ty(ret.id).is_array else _name(b_out)  # (vjp's cotangent, or 1.0)
            body.append(self.accumulate(ret.id, seed))
        body.extend(rev)
        grads = [_name(self.adj(w)) for w in self.wrt]
        body.append(gast.Return(value=gast.Tuple(elts=outputs + grads, ctx=gast.Load())))
        new_args = gast.arguments(
            args=[anno.deepcopy(a) for a in args.args] + [_name(b_out)],
            posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
            defaults=[_const(1.0)])  # (the caller binds the function's own defaults)
        for a in new_args.args:
            a.ctx = gast.Param()
        return gast.FunctionDef(name=f"{fn.name}_grad", args=new_args, body=body,
                                decorator_list=[], returns=None, type_comment=None,
                                type_params=[])


def _may_be_infinite(stmts):
    """Whether partials in `stmts` may be infinite at finite values: a division or a power
    (sqrt's 1 / (2 sqrt(x)) at 0, log's 1 / x); sums and products of finite values, and the
    bounded partials of sin and cos, are finite."""
    return any(isinstance(n, (gast.Div, gast.Pow)) for s in stmts for n in gast.walk(s))


def _copied(expr, ty):
    """An expression copying the arrays of `expr`, of type `ty` (tuples element by element)."""
    if ty.kind == "tuple":
        return gast.Tuple(elts=[_copied(_expr("t[k]", t=expr, k=_const(k)), item)
                                for k, item in enumerate(ty.items)], ctx=gast.Load())
    return _expr("a.copy()", a=expr) if ty.is_array else expr


def custom_arrays(ty, z, args):
    """Whether each argument of a custom function's rule is an array (`ty`: a name's type):
    the adjoint or tangent and the result (`z`'s), then the function's arguments."""
    return [ty(z).ndim > 0] * 2 + [isinstance(a, gast.Name) and ty(a.id).ndim > 0 for a in args]


def check_custom_arguments(func, rule, args, keywords, what, loc, arrays):
    """A custom_vjp function is differentiated for positional numbers and arrays, which neither
    it nor its `rule` (vjp or jvp) may write into: srcad takes them for functions of their
    arguments, and a write would go unseen. `arrays`: whether each argument is an array, the
    rule's two first (the adjoint or tangent, and the result) first."""
    for fn, flags in ((func.fn, arrays[2:]), (rule, arrays)):
        params = list(inspect.signature(fn).parameters)
        for name in custom.parameters_written(fn) or ():
            k = params.index(name)
            if k < len(flags) and flags[k]:
                raise UnsupportedError(
                    f"{getattr(fn, '__name__', 'the rule')} writes into its argument '{name}' "
                    f"(in {what}): srcad takes a custom function and its rule to read their "
                    f"arguments only; write into a copy ({name} = {name}.copy())", loc)
    if keywords:
        raise UnsupportedError(f"keyword arguments to the custom_vjp function in {what}", loc)
    if any(not isinstance(a, (gast.Name, gast.Constant)) for a in args):
        raise UnsupportedError(f"a custom_vjp function of a tuple or a list (in {what}): srcad "
                               "differentiates one of numbers and arrays, each an argument of "
                               "its own", loc)


def user_rule_name(core, namer, func, attribute):
    """The name the generated code calls a custom_vjp function's vjp or jvp by (the same
    object keeps one name); the gradient is checked to be regenerated if it is replaced."""
    rule = getattr(func, attribute)
    core.checks[Ref(func, attribute, "attr")] = rule
    name = next((k for k, v in core.scope.items() if v is rule), None)
    if name in namer.rules:
        return name
    if name is None or name in namer.taken:  # (a global `_` beside a trip counter `_`)
        name = namer.fresh(rule.__name__)
        core.scope[name] = rule
    namer.taken.add(name)
    namer.rules.add(name)
    return name


def _bind(rule, args, keywords, what, loc):
    """Parameter -> the call's argument node (or the default's constant)."""
    try:
        return rule.bind_nodes(list(args), keywords)
    except TypeError as exc:
        raise UnsupportedError(f"cannot apply the derivative rule to {what}: {exc}",
                               loc) from None


def _is_exit_test(stmt):
    return isinstance(stmt, gast.If) and len(stmt.body) == 1 and \
        isinstance(stmt.body[0], gast.Break) and not stmt.orelse


def _is_const(node, value):
    return isinstance(node, gast.Constant) and node.value == value and \
        not isinstance(node.value, bool)


def _reads_elements(expr):
    """Does `expr` read an element of an array (not its shape)?"""
    return any(isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name)
               for n in gast.walk(expr))


def _assigned_in(loop):
    """The names `loop` assigns or stores into."""
    return frozenset(n.id for n in gast.walk(loop) if isinstance(n, gast.Name) and
                     isinstance(n.ctx, gast.Store)) | templates.stored_arrays(loop)


def _trip_count(start, stop, step):
    """The number of trips of `range(start, stop, step)`, as an expression."""
    if _is_const(start, 0) and _is_const(step, 1):
        return _expr("max(n, 0)", n=stop)
    if _is_const(step, 1):
        return _expr("max(b - a, 0)", a=start, b=stop)
    if _is_const(step, -1):
        return _expr("max(a - b, 0)", a=start, b=stop)
    return _expr("len(range(a, b, s))", a=start, b=stop, s=step)


def _range_args(stmt):
    args = stmt.iter.args
    if len(args) == 1:
        return _const(0), args[0], _const(1)
    if len(args) == 2:
        return args[0], args[1], _const(1)
    return args[0], args[1], args[2]


def _copies_of_tangents_of_one_shape(tree, shapes, types, np_name):
    """`rt.broadcast_tangent(t, z)` (forward mode's tangent spread over its result's shape, in
    code an hvp differentiates again) as `np.copy(t)` where t has z's shape class and rank: an
    elementwise copy fusion folds into its loop, where the spread would be a new array and its
    adjoint a sum back to t's shape. (The shapes are checked as they run: shape_checks.)"""
    for call in gast.walk(tree):
        if not (isinstance(call, gast.Call) and
                anno.getanno(call.func, "func", None) is runtime.broadcast_tangent and
                len(call.args) == 2 and all(isinstance(a, gast.Name) for a in call.args)):
            continue
        t, z = (a.id for a in call.args)
        ty_t, ty_z = (types.get(n, typeinfer.UNKNOWN) for n in (t, z))
        if shapes.get(t) is not None and shapes.get(t) == shapes.get(z) and \
                ty_t.ndim == ty_z.ndim and ty_t.kind == ty_z.kind == "f":
            call.func = gast.Attribute(value=_name(np_name), attr="copy", ctx=gast.Load())
            anno.setanno(call.func, "func", np.copy)
            call.args = call.args[:1]


def shape_checks(fwd, assumed, types, namer, args):
    """`fwd` checking the shapes `assumed` ({name: class}) assumes equal: one slot per class
    holds the first shape seen, and each binding of one of its names (and each argument of
    `args` among them) that is not an elementwise operation of the class's own names (whose
    result has their shape) compares with it."""
    if not assumed:
        return fwd
    slots = {}

    def ty(name):
        return types.get(name, typeinfer.UNKNOWN)

    def check(name):
        cls = assumed[name]
        if cls not in slots:
            slots[cls] = (namer.fresh("_shape"), ty(name).ndim)
        return gast.Expr(value=_expr("rt.assume_shape(s, x.shape)",
                                     s=_name(slots[cls][0]), x=_name(name)))

    def derived(name, value):
        operands = typeinfer.elementwise_operands(value, _broadcasting)
        arrays = [a for a in operands if isinstance(a, gast.Name) and ty(a.id).is_array]
        return bool(arrays) and all(
            assumed.get(a.id) == assumed[name] and ty(a.id).ndim == ty(name).ndim
            for a in arrays) and all(isinstance(a, (gast.Constant, gast.Name)) for a in operands)

    def walk(stmts):
        out = []
        for stmt in stmts:
            for block in ("body", "orelse"):
                if isinstance(getattr(stmt, block, None), list):
                    setattr(stmt, block, walk(getattr(stmt, block)))
            out.append(stmt)
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
            if isinstance(target, gast.Name) and target.id in assumed and \
                    not anno.hasanno(stmt.value, "placeholder") and \
                    not derived(target.id, stmt.value):
                out.append(check(target.id))
        return out
    body = [check(a) for a in args if a in assumed] + walk(fwd)
    return [_assign(slot, _expr("rt.shape_slot(n)", n=_const(rank)))
            for slot, rank in slots.values()] + body


def differentiate(core, types, active, wrt, aliases, np_name="np", aux=None, parallel=None):
    """Build the gradient FunctionDef of `core` w.r.t. the parameter names `wrt` (returning
    the variable `aux` after the value when it is given). `parallel`: {path: LoopPlan} of the
    top-level loops to run in chunks (parallel.plan); their chunk functions are the returned
    function's "chunks" annotation.

    Raises:
        UnsupportedError: a construct without a derivative, naming it and its file:line.
    """
    core.tree_args = [a.id for a in core.tree.args.args]
    differentiator = Differentiator(core, types, active, wrt, aliases, np_name, aux, parallel)
    fn = differentiator.run()
    anno.setanno(fn, "chunks", differentiator.chunks)
    anno.setanno(fn, "fused", [_fused_description(core.tree.body[path[0]], total,
                                                  path in differentiator.parallel)
                               for path, (_, total, _) in sorted(differentiator.fused.items())])
    if core.assume_shapes:
        mark_assumed(fn, differentiator.shapes, core.namer.adjoint_names())
    return fn


def _added_into_output(stmts, name, returned):
    """1 or -1 if the value of `name` reaches the variable `returned` through `stmts` only by
    additions and subtractions (`t = a + name`, `u = t - b`; -1 for `v = c - u`), each name
    of that chain read once and written only by its step of the chain; else 0. The adjoint
    of `name` is that sign times the output's seed."""
    chain, current, sign = {name}, name, 1
    for stmt in stmts:
        reads = [n for n in gast.walk(stmt) if isinstance(n, gast.Name) and
                 isinstance(n.ctx, gast.Load) and n.id in chain]
        writes = any(isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and
                     n.id in chain for n in gast.walk(stmt))
        if not reads:
            if writes:
                return 0
            continue
        value = getattr(stmt, "value", None)
        if len(reads) != 1 or reads[0].id != current or not isinstance(stmt, gast.Assign) or \
                not isinstance(stmt.targets[0], gast.Name) or \
                not (isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub))
                     and reads[0] in (value.left, value.right)):
            return 0
        if isinstance(value.op, gast.Sub) and reads[0] is value.right:
            sign = -sign
        current = stmt.targets[0].id
        chain.add(current)
    return sign if current == returned else 0


def _fused_description(loop, total, in_parallel):
    """What srcad.explain says of a loop reversed trip by trip."""
    loc = anno.getanno(loop, "loc")
    where = f"the loop at line {loc.line}" if loc is not None else "a top-level loop"
    how = "runs in parallel, each trip reversed" if in_parallel else "is reversed trip by trip"
    return (f"{where} {how} as it runs (its trips are independent; "
            f"'{total}', a sum added into the output, is its one value used after it)")


def mark_assumed(fn, shapes, derivatives):
    """Annotate the derivative function `fn` with the shape classes its code assumes (fusion's
    classes): `shapes` for the function's names, the same for their `derivatives` ({name:
    the name of its adjoint or tangent})."""
    anno.setanno(fn, "assumed", {**shapes, **{derivatives[n]: c for n, c in shapes.items()
                                              if n in derivatives}})


def _read_for_shapes_only(stmts):
    """The names `stmts` read only for their shapes (the operand an adjoint is summed back to):
    cleanup saves their shapes alone, cheaper than recomputing them."""
    shape_args = {id(a) for n in templates.walk(stmts) if isinstance(n, gast.Call)
                  for a in [read_for_its_shape(n)] if isinstance(a, gast.Name)}
    only = {}
    for n in templates.walk(stmts):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            only[n.id] = only.get(n.id, True) and id(n) in shape_args
    return {name for name, shape in only.items() if shape}


class _HoistReciprocals(gast.NodeTransformer):
    """A scalar partial `(... g ...) / d` as `(... g ...) * _r` with `_r = 1.0 / d` computed
    before it (once per call for every partial dividing by `d`): the division leaves the chain
    of adjoints a loop carries from one trip to the next (Newton's step reversed)."""

    def __init__(self, g, reciprocals, out, namer):
        self.adjoint_names = templates.names_read(g)
        self.reciprocals = reciprocals  # dump of d -> the name holding 1 / d
        self.out = out
        self.namer = namer

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not isinstance(node.op, gast.Div) or isinstance(node.right, gast.Constant) or \
                not templates.names_read(node.left) & self.adjoint_names or \
                templates.names_read(node.right) & self.adjoint_names:
            return node
        key = gast.dump(node.right)
        if key not in self.reciprocals:
            self.reciprocals[key] = self.namer.temp("_r")
            self.out.append(_assign(self.reciprocals[key], gast.BinOp(
                left=_const(1.0), op=gast.Div(), right=node.right)))
        return gast.BinOp(left=node.left, op=gast.Mult(), right=_name(self.reciprocals[key]))
