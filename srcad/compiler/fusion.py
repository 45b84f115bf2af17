"""Elementwise array statements lowered to one loop nest (issue #12).

NumPy evaluates `a = x[1:] - x[:-1] ** 2; b = 1.0 - x[:-1]; return np.sum(100.0 * a * a + b * b)`
one statement at a time, each into a new array; its gradient adds as many again. A run of
consecutive statements that are elementwise over arrays of one shape becomes one loop nest,
the loop a careful person writes by hand: an array only the run reads becomes a scalar in the
loop, `np.sum` of an elementwise expression an accumulator, and the statements of the run that
do not depend on it (allocations, views, scalar arithmetic) move before the loop.

Which arrays have one shape comes from `typeinfer.shape_classes` (slices with constant bounds
keep their class). A run is fused only where no element of an array written in it is read at
another position (a loop-carried dependence), apart from arrays the run only adds into
(`g[1:] += a; g[:-1] -= b`), or, in a gradient assuming shapes, whole views of one array (`h[i]
= ...` written where x, the row before, is read): the loop checks at entry that they are the
same elements or share none (`rt.identical_or_apart`), else the gradient without assumptions
runs. The loop checks at entry that every array it indexes has the loop's shape, so a wrong
guess raises instead of reading out of bounds.

In a reverse sweep a run also takes what the sweep puts between a step's adjoints: a restore of
an array the run read before (bound to a new name before the loop, or, for a row, stored in the
loop), a temporary recomputed under its own name before each adjoint reading it, and
`np.zeros_like` of a float array (a zero in the loop; np.sum's adjoint spread over a saved shape
is its element too). Whether an array the run assigns is
read after it (and so stays an array) comes from where its reads and assignments sit in the text.

A gradient that assumes arrays combined elementwise have one shape (reverse.shape_checks) lends
fusion its classes (of the function's names, and of their adjoints, which have their shapes),
whichever name holds them in the generated code, and a slice or row whose bounds are not
constants (`w[b:2 * b]`, `hidden[i]`) combined with an array of the loop's class is taken to
have its shape: a view of it is taken before the loop, and a loop whose arrays differ in shape
raises ShapeAssumptionFailed, so the caller runs the gradient generated without assumptions.
"""

import gast
import numpy as np

from . import anno, templates, typeinfer, valuetypes
from .aliasing import is_fresh
from .cleanup import _is_runtime
from .templates import make_const, make_name

# NumPy functions that act elementwise on scalars exactly as on arrays
ELEMENTWISE = {"exp", "log", "log1p", "expm1", "log2", "log10", "sqrt", "sin", "cos", "tan",
               "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "arcsinh", "arctanh",
               "abs", "absolute", "negative", "square", "maximum", "minimum", "arctan2"}
RUNTIME_ELEMENTWISE = {"sigmoid"}
ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
NEW_ARRAYS = {"zeros_like", "empty_like", "ones_like", "zeros", "empty", "ones", "full",
              "full_like", "copy"}


def fuse(fn_def, types, np_name, namer, same_shapes=None, assumed=None):
    """Fuse the elementwise runs of every block of `fn_def` in place (`types`: name -> Ty of
    every variable it uses, adjoints included; `same_shapes`: arguments known to have another
    argument's shape; `assumed`: {name: class} of a gradient assuming shapes, else None)."""
    for total in _sums_out_of_return(fn_def, np_name, namer, types):
        types[total] = typeinfer.FLOAT
    if assumed is not None:  # (the shape an array of an assumed class was saved as has it too)
        shapes = {shape: name for shape, name in anno.getanno(fn_def, "shape_names", {}).items()
                  if name in assumed and types.get(name, typeinfer.UNKNOWN).is_array}
        assumed = {**assumed, **{shape: assumed[name] for shape, name in shapes.items()}}
        for shape, name in shapes.items():
            types[shape] = valuetypes.Ty("tuple", items=(typeinfer.INT,) * types[name].ndim)
    operands = {}
    for block in templates.blocks(fn_def.body):
        block[:] = _operands_out_of_calls(block, np_name, namer, types, operands)
    classes = _stable_classes(fn_def, types, np_name, same_shapes)
    groups = alias_groups(fn_def, types)
    counts = {}
    for node in templates.walk(fn_def):
        if isinstance(node, gast.Name):
            counts[node.id] = counts.get(node.id, 0) + 1
    context = _Context(types, classes, groups, counts, np_name, namer, assumed)
    context.places = _Places(fn_def.body)
    for block in templates.blocks(fn_def.body):
        block[:] = _fuse_block(block, context)
    for block in templates.blocks(fn_def.body):
        block[:] = _operands_back_in_calls(block, operands)


class _Context:
    def __init__(self, types, classes, groups, counts, np_name, namer, assumed):
        self.types, self.classes, self.groups = types, classes, groups
        self.counts, self.np, self.namer, self.assumed = counts, np_name, namer, assumed
        self.bound_views = {}

    def ty(self, name):
        return self.types.get(name, typeinfer.UNKNOWN)


def _fuse_block(stmts, context):
    """`stmts` with their runs fused. The shape classes known at each statement are the stable
    ones, and those of names bound earlier in the block (until bound again)."""
    out, i = [], 0
    env = dict(context.classes)
    context.bound_views = {}  # a name bound to a view in the block -> the view's source
    while i < len(stmts):
        run, j = _Run(context, env), i
        while j < len(stmts) and run.add(stmts[j]):
            j += 1
        end = j
        while run.stmts and run.stmts[-1][0] == "comment":  # (they belong to what follows)
            run.stmts.pop()
            end -= 1
        if run.worth_fusing():
            done = stmts[i:end]  # (not run.stmts: a restore may be two of them)
            run.span = (context.places.of[id(stmts[i])], context.places.of[id(stmts[end - 1])])
            out.extend(run.emit())
        else:  # (a run of statements none elementwise: none of them starts one, but the last)
            done = stmts[i:max(i + 1, j - 1)] if not run.elementwise else stmts[i:i + 1]
            out.extend(done)
        for stmt in done:
            _learn(stmt, env, context)
        i += len(done)
    return out


def _learn(stmt, env, context):
    """Update the classes `env` (and the names bound to views) after `stmt` ran."""
    for n in templates.walk(stmt):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
            context.bound_views.pop(n.id, None)
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
            isinstance(stmt.value, gast.Subscript):
        context.bound_views[stmt.targets[0].id] = templates.to_source(stmt.value)
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
        cls = expr_class(stmt.value, env, context.ty, context.np)
        if cls is None:
            env.pop(stmt.targets[0].id, None)
        else:
            env[stmt.targets[0].id] = cls
        return
    for n in templates.walk(stmt):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and \
                n.id not in context.classes:
            env.pop(n.id, None)


def expr_class(node, env, ty, np_name):
    """The shape class of array expression `node` (`env`: name -> class), or None."""
    if isinstance(node, gast.Name):
        return env.get(node.id) if ty(node.id).is_array else None
    if isinstance(node, gast.Subscript):
        view = _view_of(node, ty)
        if view is None or env.get(view[0]) is None:
            return None
        root, outer = typeinfer.split_slice_class(env[view[0]], len(view[2]))
        return _class(root, [a + b for a, b in zip(outer, view[2], strict=True)])
    if _fill_value(node) is not None:
        g, x = _fill_value(node)
        return env.get(x) if isinstance(g, gast.Constant) or isinstance(g, gast.Name) and \
            ty(g.id).ndim == 0 else None
    if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
            isinstance(node.func.value, gast.Name) and node.func.value.id == np_name and \
            node.func.attr in typeinfer.SHAPE_PRESERVING + ("full_like",) and node.args:
        return expr_class(node.args[0], env, ty, np_name)
    if isinstance(node, gast.BinOp) and isinstance(node.op, ARITHMETIC):
        operands = [node.left, node.right]
    elif isinstance(node, gast.UnaryOp):
        operands = [node.operand]
    elif is_elementwise_call(node, np_name):
        operands = node.args
    else:
        return None
    found = set()
    for operand in operands:
        if isinstance(operand, gast.Constant) or \
                isinstance(operand, gast.Name) and ty(operand.id).ndim == 0 and \
                ty(operand.id).kind in ("f", "i", "b"):
            continue
        found.add(expr_class(operand, env, ty, np_name))
    return found.pop() if len(found) == 1 else None


def _class(root, cuts):
    return root if not any(cuts) else f"{root}[{','.join(map(str, cuts))}]"


class _Run:
    """Consecutive statements being fused: each `add`ed one is kept or refused whole."""

    def __init__(self, context, classes):
        self.c, self.classes = context, classes
        self.cls = None  # the shape class of the loop, its rank
        self.rank = 0
        self.stmts = []  # (kind, statement)
        self.local = {}  # name assigned in the run -> its statement
        self.views = {}  # name -> the name the run assigned it is another name for
        self.known = {}  # the shape classes of the arrays assigned before the loop
        self.accessed = set()  # every name the loop reads or writes, or a hoisted one assigns
        self.hoisted_reads = set()  # the names the statements run before the loop read
        self.reduced = set()  # scalars the run sums into
        self.accesses = {}  # alias group of an outside array -> {(name, cuts, updated)}
        self.extents = []  # (name, cuts) of the outside arrays the loop indexes
        self.sliced = {}  # source of a slice with bounds that are not constants -> the slice
        self.pending = []  # (source, rank, slice) of those the statement being added reads
        self.anchored = False  # whether it reads an array of the loop's class
        self.assumes = False  # whether the loop's arrays are assumed to have one shape
        self.sunk = set()  # names and alias groups restored after the loop
        self.sunk_reads = set()  # the names and groups those restores read
        # name a hoisted statement binds -> (the source of its value, the names it reads,
        # whether it is a view whose elements the loop accesses as the slice's)
        self.hoisted_values = {}
        self.late = set()  # views of arrays the loop writes, hoisted
        self.renamed = {}  # an outside array the run read, then bound again -> its new name
        self.span = None  # the places of its first and last statements in the text
        self.restored = {}  # a name bound to a restored array -> the array or slice restored
        self.holders = {}  # what an access is keyed by -> the name holding the array
        self.apart = set()  # alias groups whose arrays must be one another or apart (checked)
        self.elementwise = 0

    # ---- accepting statements -------------------------------------------------------------
    def add(self, stmt):
        saved = self._state()
        for stmts in self._restore_in_loop(stmt), self._zeros_of_outside(stmt), [stmt]:
            if stmts is None:
                continue
            accepted = []
            try:
                for s in stmts:
                    self.pending, self.anchored = [], False
                    s = self._zeros_as_fill(self._renaming(s))
                    kind = self._classify(s)
                    if kind is None:
                        raise _Refused
                    self._adopt_slices()
                    accepted.append((kind, s))
            except _Refused:
                vars(self).update(_copied(saved))
                continue
            self.stmts.extend(accepted)
            return True
        return False

    def _state(self):
        return _copied({k: v for k, v in vars(self).items() if k not in ("c", "classes")})

    def _restore_in_loop(self, stmt):
        """A restore of an array the run has read, which later statements read again (the
        reverse sweep of `c[i] = c[i] * f` reads c[i] before and after restoring it), as
        statements the loop can hold: `x = saved` binds a new name to the saved array before the
        loop (later statements read it by that name, x takes it after the loop); `x[i] = saved`
        becomes `_row = saved` before the loop and `x[i] = _row` in it. None for any other
        statement, or a restore nothing in the run has read."""
        if not (isinstance(stmt, gast.Assign) and _is_restore(stmt.value)):
            return None
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            name = target.id
            if name not in self.accessed or name in self.local or name in self.views or \
                    name in self.hoisted_values or name in self.renamed:
                return None
            fresh = self.c.namer.fresh(f"{name}_restored")
            self.c.types[fresh] = self.c.ty(name)
            self.restored[fresh] = name
            self.renamed[name] = fresh
            return [templates.make_assign(fresh, stmt.value)]
        rank = self._sliced_rank(target) if isinstance(target, gast.Subscript) else None
        if rank is None or not isinstance(target.value, gast.Name) or \
                self.c.groups.get(target.value.id, target.value.id) not in self.accesses:
            return None
        row = self.c.namer.fresh("_row")
        self.c.types[row] = valuetypes.Ty("f", rank)
        self.restored[row] = templates.to_source(target)
        return [templates.make_assign(row, stmt.value),
                gast.Assign(targets=[target], value=make_name(row), type_comment=None)]

    def _classify(self, stmt):
        if templates.is_comment(stmt):
            return "comment"
        if _is_save(stmt) or isinstance(stmt, gast.Expr) and \
                _is_runtime(stmt.value, "assume_shape", "rt"):
            return self._hoist(None, stmt.value)
        if isinstance(stmt, gast.Assign) and _is_restore(stmt.value):
            return self._hoist_restore(stmt) or self._sink(stmt)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            return self._assign(stmt.targets[0].id, stmt.value)
        if isinstance(stmt, gast.AugAssign):
            return self._update(stmt)
        if isinstance(stmt, gast.Expr) and _is_runtime(stmt.value, "check_inplace", "rt"):
            value, target = stmt.value.args[:2]  # (x op= e: the result must keep x's shape)
            if isinstance(value, gast.Name) and value.id in self.local and \
                    isinstance(target, gast.Name):
                if target.id not in self.local and target.id not in self.views:
                    self._operand(target.id, (0,) * self.c.ty(target.id).ndim)
                return "proven"  # (both have the loop's shape)
            return None
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
            self._store_target(stmt.targets[0], updated=False)
            self._element(stmt.value, scalar_ok=True)
            self.elementwise += 1
            return "store"
        return None

    def _zeros_as_fill(self, stmt, outside=False):
        """`z = np.zeros_like(a)` of an array `a` of the run (`outside`: of a float array
        before it, read for its shape only) as the fill `kn.sum_adjoint(0.0, a, None)`, a zero
        in the loop (of float arrays only: they are float64 where fusion runs)."""
        value = getattr(stmt, "value", None)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                isinstance(value, gast.Call) and len(value.args) == 1 and not value.keywords \
                and isinstance(value.args[0], gast.Name) and \
                templates.to_source(value.func) == f"{self.c.np}.zeros_like":
            a = value.args[0].id
            if a in self.local or a in self.views or outside and \
                    self.c.ty(a).is_array and self.c.ty(a).kind == "f":
                return templates.make_assign(stmt.targets[0].id, templates.fill(
                    "kn.sum_adjoint(0.0, a, None)", a=make_name(a)))
        return stmt

    def _zeros_of_outside(self, stmt):
        """`z = np.zeros_like(a)` of an array before the run as a fill in the loop (else it
        is allocated before the loop)."""
        fill = self._zeros_as_fill(stmt, outside=True)
        return None if fill is stmt else [fill]

    def _renaming(self, stmt):
        """`stmt` reading the names bound again in the run by their new names; an elementwise
        value bound to an outside array the loop reads whole (`bx = b * w` after `... bx[i]
        ...`: of the loop's shape, as the value) gets a new name of its own (the loop reads
        both; the name takes the new array after the loop)."""
        if self.renamed:
            stmt = templates.renamed(stmt, self.renamed)
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            return stmt
        name, value = stmt.targets[0].id, stmt.value
        ty = self.c.ty(name)
        if (name, (0,) * ty.ndim) in self.extents and ty.kind == "f" and ty.ndim > 0 and \
                name not in self.local and name not in self.views and \
                name not in self.hoisted_values and _elementwise_shape(value, self.c.np) and \
                name not in templates.names_read(value):
            fresh = self.c.namer.fresh(f"{name}_new")
            self.c.types[fresh] = ty
            self.renamed[name] = fresh
            stmt = templates.make_assign(fresh, anno.deepcopy(value))
        return stmt

    def _assign(self, name, value):
        ty = self.c.ty(name)
        if name in self.accessed and not self._bound_again(name, value) and \
                not self._assigned_again(name, value) or \
                any(isinstance(n, gast.Name) and n.id == name for n in templates.walk(value)):
            return None  # (x = x * y: the loop would read the new array it writes)
        if _whole_sum(value, self.c.np) is not None and ty.kind == "f" and ty.ndim == 0:
            self._element(value.args[0])
            self.reduced.add(name)
            self.accessed.add(name)
            self.elementwise += 1
            return "reduce"
        if ty.kind == "f" and ty.ndim > 0:
            if isinstance(value, gast.Name) and (value.id in self.local or
                                                 value.id in self.views):
                return self._alias(name, value)
            fill = _fill_value(value)
            if fill is None and not _elementwise_shape(value, self.c.np):
                return self._hoist(name, value)
            if fill is not None:
                if _rank(self.c.ty(fill[1])) != ty.ndim:
                    raise _Refused
                if fill[1] not in self.local and fill[1] not in self.views:
                    self._operand(fill[1], (0,) * ty.ndim)  # (its shape only)
                self._element(fill[0], scalar_ok=True, scalar_only=True)
            else:
                self._element(value)
            self.local[name] = value
            self.accessed.add(name)
            self.elementwise += 1
            return "assign"
        return self._hoist(name, value)

    def _hoist(self, name, value):
        """A statement independent of the loop (it reads nothing the run assigns, and no
        array the run writes before it): it runs before the loop. (`name` None: a call.)"""
        reads = {n.id for n in templates.walk(value) if isinstance(n, gast.Name)}
        if reads & (set(self.local) | set(self.views) | self.reduced) or \
                name in self.accessed and not self._bound_again(name, value) or \
                name in self.sunk_reads:
            return None
        # a view of an array the loop writes (`h = y[i]` after `y[i] = ...`) is late: the loop
        # reads it only where it wrote (_touch), and nothing before the loop reads it
        view = name is not None and isinstance(value, gast.Subscript) and \
            self._sliced_rank(value) is not None
        late = False
        for n in _element_reads(value):
            group = self.c.groups.get(n, n)
            if n in self.sunk or group in self.sunk:
                return None
            if n in self.late or any(w for *_, w in self.accesses.get(group, ())):
                if not view:
                    return None
                late = True
        self.hoisted_reads |= reads
        if name is not None and not self._bound_again(name, value):
            self.hoisted_values = {n: v for n, v in self.hoisted_values.items()
                                   if name not in v[1]}
            if name not in reads:
                self.hoisted_values[name] = (templates.to_source(value), reads, view)
            if late:
                self.late.add(name)
            self.accessed.add(name)
            cls = expr_class(value, {**self.classes, **self.known}, self.c.ty, self.c.np)
            if cls is not None:
                self.known[name] = cls
        return "hoist"

    def _view_key(self, name):
        """What the loop's accesses to `name` are keyed by: the slice it is a view of."""
        found = self.hoisted_values.get(name)
        return found[0] if found is not None and found[2] else name

    def _bound_again(self, name, value):
        """Whether a hoisted statement of the run bound `name` to `value` (`w = p[2 * i]`
        recomputed), and nothing it reads changed since."""
        return self.hoisted_values.get(name, (None,))[0] == templates.to_source(value)

    def _assigned_again(self, name, value):
        """Can an array the run assigned elementwise take a new elementwise value (the reverse
        sweep recomputes `_t = a * b` before each adjoint reading it)? Each element then takes
        its values in the statements' order, as the arrays did, unless another name stands for
        the first value, or the new value is another array under this name (an alias is
        resolved wherever the loop reads the name)."""
        return name in self.local and name not in self.views.values() and \
            not isinstance(value, gast.Name)

    def _hoist_restore(self, stmt):
        """A restore the run has not read the old value of: it runs before the loop."""
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            return self._hoist(target.id, stmt.value)
        if not isinstance(target.value, gast.Name):
            return None
        group = self.c.groups.get(target.value.id, target.value.id)
        # (statements hoisted before it keep their order; a restore sunk after the loop must
        # not change places with it)
        if group in self.accesses or group in self.sunk or group in self.sunk_reads:
            return None
        return self._hoist(None, gast.Tuple(elts=[stmt.value, target.slice], ctx=gast.Load()))

    def _sink(self, stmt):
        """A restore the rest of the run does not read (`x = rt.saved_array(...)`,
        `y[i] = xs.pop()`): it runs after the loop."""
        target = stmt.targets[0]
        reads = {n.id for n in templates.walk(stmt) if isinstance(n, gast.Name)} - \
            {n.id for n in templates.walk(target) if isinstance(n, gast.Name) and
             isinstance(n.ctx, gast.Store)}
        groups = {self.c.groups.get(n, n) for n in reads}
        base = target.id if isinstance(target, gast.Name) else \
            target.value.id if isinstance(target.value, gast.Name) else None
        if base is None or reads & (set(self.local) | set(self.views) | self.reduced) or \
                base in self.local or base in self.views or \
                any(w for g in groups for *_, w in self.accesses.get(g, ())):
            return None
        self.sunk |= {base, self.c.groups.get(base, base)}
        self.sunk_reads |= reads | groups
        self.accessed.add(base)
        return "sink"

    def _alias(self, name, value):
        """`name = other` of an array the run assigned: the same array, read by either name."""
        base = self.views.get(value.id, value.id)
        self.views[name] = base
        self.accessed.add(name)
        return "alias"

    def _update(self, stmt):
        if not isinstance(stmt.op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
            return None
        target = stmt.target
        if isinstance(target, gast.Name) and self.c.ty(target.id).ndim == 0:
            value = stmt.value
            if _whole_sum(value, self.c.np) is None or \
                    not isinstance(stmt.op, (gast.Add, gast.Sub)) or \
                    target.id in self.accessed or self.c.ty(target.id).kind != "f":
                return None
            self._element(value.args[0])
            self.reduced.add(target.id)
            self.accessed.add(target.id)
            self.elementwise += 1
            return "reduce"
        if isinstance(target, gast.Name) and target.id in self.local:
            self.anchored = True
            self._element(stmt.value, scalar_ok=True)
            self.elementwise += 1
            return "update"
        additive = isinstance(stmt.op, (gast.Add, gast.Sub))
        self._store_target(target, updated=additive)
        self._element(stmt.value, scalar_ok=True)
        if not additive:  # (x *= e reads x's element: the same access as the write)
            self._store_target(target, updated=False)
        self.elementwise += 1
        return "update"

    def _store_target(self, target, updated):
        view = _view_of(target, self.c.ty)
        if view is None:
            self._sliced_operand(target, updated=updated, write=True)
            return
        if view[0] in self.local or view[0] in self.views:
            raise _Refused
        base, starts, cuts = view
        self._operand(base, cuts)
        self._touch(self._view_key(base) if isinstance(target, gast.Name) else base, starts,
                    updated=updated, write=True, group=self.c.groups.get(base, base),
                    holder=base)

    # ---- elements -------------------------------------------------------------------------
    def _element(self, expr, scalar_ok=False, scalar_only=False):
        """Check that `expr` is elementwise over the run's shape (at least one array in it
        unless `scalar_ok`; none with `scalar_only`)."""
        arrays = self._visit(expr)
        if arrays and scalar_only or not arrays and not scalar_ok:
            raise _Refused

    def _visit(self, node):
        if isinstance(node, gast.Constant):
            if not isinstance(node.value, (int, float)):
                raise _Refused
            return 0
        if isinstance(node, gast.Name):
            name = node.id
            if name in self.local or name in self.views:
                self.anchored = True
                return 1
            ty = self.c.ty(name)
            if ty.ndim == 0 and ty.kind in ("f", "i", "b"):
                if name in self.reduced or name in self.sunk:
                    raise _Refused
                self.accessed.add(name)
                return 0
            if ty.kind != "f" or not ty.is_array:
                raise _Refused
            self._operand(name, (0,) * ty.ndim)
            self._touch(self._view_key(name), (0,) * ty.ndim, updated=False,
                        group=self.c.groups.get(name, name), holder=name)
            return 1
        if isinstance(node, gast.Subscript):
            view = _view_of(node, self.c.ty)
            if view is None:
                self._sliced_operand(node, updated=False)
                return 1
            if view[0] in self.local or view[0] in self.views or self.c.ty(view[0]).kind != "f":
                raise _Refused
            self._operand(view[0], view[2])
            self._touch(view[0], view[1], updated=False, holder=view[0])
            return 1
        if isinstance(node, gast.BinOp) and isinstance(node.op, ARITHMETIC):
            return self._visit(node.left) + self._visit(node.right)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
            return self._visit(node.operand)
        if is_elementwise_call(node, self.c.np):
            return sum(self._visit(a) for a in node.args)
        fill = _fill_value(node)
        if fill is not None:  # (np.sum's adjoint times a partial: its element is g)
            g, x = fill
            if self._visit(g):  # (x's shape is checked as an operand's, or it is the loop's)
                raise _Refused
            if x not in self.local and x not in self.views:  # (an alias: the loop's shape)
                self._operand(x, (0,) * _rank(self.c.ty(x)))  # (its shape only)
            return 1
        raise _Refused

    def _operand(self, name, cuts):
        """An outside array indexed by the loop: its shape class must be the run's."""
        original = self.restored.get(name, name)  # (a restored array has the shape it had)
        if original in self.sliced or any(key == original for key, *_ in self.pending):
            # a row restored into a slice taken to have the loop's shape: checked at entry
            if self.cls is None or any(cuts):
                raise _Refused
            self.anchored = True
            self._extent(name, cuts)
            return
        if self.c.assumed is not None and original in self.c.assumed:
            cls, self.assumes = "assumed " + self.c.assumed[original], True
        else:
            cls = self.known.get(original, self.classes.get(original))
        if cls is None:
            raise _Refused
        root, outer = typeinfer.split_slice_class(cls, len(cuts))
        total = [a + b for a, b in zip(outer, cuts, strict=True)]
        key = (root, tuple(total))
        if self.cls is None:
            self.cls, self.rank = key, len(cuts)
        elif key != self.cls:
            raise _Refused
        self.anchored = True
        self._extent(name, cuts)

    def _extent(self, name, cuts):
        if name in self.sunk:
            raise _Refused
        self.accessed.add(name)
        if (name, cuts) not in self.extents:
            self.extents.append((name, cuts))

    def _sliced_operand(self, node, updated, write=False):
        """`x[i]`, `x[a:b]` (bounds that are not constants) of an outside float array, in a
        gradient assuming shapes: taken to have the loop's shape (checked at its entry)."""
        rank = self._sliced_rank(node)
        if rank is None:
            raise _Refused
        key = templates.to_source(node)
        self.pending.append((key, rank, node))
        self.assumes = True
        reads = {n.id for n in templates.walk(node) if isinstance(n, gast.Name)}
        if reads & self.sunk:
            raise _Refused
        self.accessed |= reads
        self._extent(key, (0,) * rank)
        base = node.value.id
        self._touch(key, (0,) * rank, updated, write, self.c.groups.get(base, base))

    def _adopt_slices(self):
        """The slices a statement reads that the loop has not seen take the loop's shape when the
        statement combines them with an array of it (or when they are the loop's first
        arrays): `x[:4] * 3.0` beside `y = x * 1.0` is not assumed to have x's shape."""
        for key, rank, node in self.pending:
            if key in self.sliced:
                continue
            if self.cls is None:
                self.cls, self.rank = ("slice " + key, ()), rank
            elif not self.anchored or rank != self.rank:
                raise _Refused
            self.sliced[key] = node
            self.anchored = True

    def _sliced_rank(self, node):
        """The rank of a basic index of an outside float array whose bounds are integers the run
        does not change, else None."""
        if self.c.assumed is None or not isinstance(node.value, gast.Name):
            return None
        base, ty = node.value.id, self.c.ty(node.value.id)
        if not ty.is_array or ty.kind != "f" or base in self.local or base in self.views:
            return None
        items = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
        rank = ty.ndim - sum(not isinstance(item, gast.Slice) for item in items)
        bounds = [b for item in items for b in ((item.lower, item.upper, item.step)
                                                if isinstance(item, gast.Slice) else (item,))]
        if len(items) > ty.ndim or rank < 1 or \
                not all(b is None or self._integer(b) for b in bounds):
            return None
        return rank

    def _integer(self, node):
        return is_integer_expression(node, lambda name: self.c.ty(name) == typeinfer.INT and
                                     name not in self.reduced)

    def _touch(self, name, cuts, updated, write=False, group=None, holder=None):
        group = group or self.c.groups.get(name, name)
        if group in self.sunk or write and group in self.sunk_reads:
            raise _Refused
        if holder is not None:
            self.holders.setdefault(name, holder)
        seen = self.accesses.setdefault(group, set())
        seen.add((name, cuts, updated, write))
        written = any(w for *_, w in seen)
        if not written:
            return
        if all(u for _, _, u, _ in seen):
            return  # only added into: the order of the additions does not matter
        if len({(n, c) for n, c, u, w in seen}) > 1:
            # an element written here may be read or written at another position: unless two
            # whole arrays, which the loop checks at entry are the same or share no memory
            # (x, a row of h, and h[i] written: the reverse sweep runs without the assumption)
            if self.c.assumed is None or any(any(c) for _, c, _, _ in seen) or any(
                    n not in self.holders and n not in self.sliced and
                    all(key != n for key, *_ in self.pending) for n, *_ in seen) or \
                    not _likely_apart({self.c.bound_views.get(n, n) for n, *_ in seen}):
                raise _Refused
            self.apart.add(group)

    def worth_fusing(self):
        return self.elementwise >= 2 and self.cls is not None

    # ---- the loop -------------------------------------------------------------------------
    def emit(self):
        c = self.c
        # (an array read after the loop, or by a statement hoisted before it (its earlier
        # value), stays an array)
        materialized = {n for n in self.local if self._read_after(n) or n in self.hoisted_reads}
        aliases_after = [(n, b) for n, b in self.views.items()
                         if c.counts.get(n, 0) > self._uses_in_run(n)]
        materialized |= {b for _, b in aliases_after} | set(self.renamed.values())
        hoisted, before, body, after = [], [], [], []
        index = [c.namer.fresh(f"_i{k}" if k else "_i") for k in range(self.rank)]
        sizes = [c.namer.fresh(f"_n{k}" if k else "_n") for k in range(self.rank)]
        sliced = {}  # source of a slice -> the name of its view
        for key, node in self.sliced.items():
            sliced[key] = c.namer.fresh("_view")
            before.append(templates.make_assign(sliced[key], anno.deepcopy(node)))
        extents = [(sliced.get(name, name), cuts) for name, cuts in self.extents]
        first, first_cuts = extents[0]
        for k, size in enumerate(sizes):
            before.append(templates.make_assign(size, _extent(first, k, first_cuts[k],
                                                              c.ty(first))))
        mismatch = [gast.Compare(left=_extent(name, k, cuts[k], c.ty(name)), ops=[gast.NotEq()],
                                 comparators=[make_name(sizes[k])])
                    for name, cuts in extents[1:] for k in range(self.rank)]
        if mismatch:
            before.append(gast.If(
                test=gast.BoolOp(op=gast.Or(), values=mismatch) if len(mismatch) > 1
                else mismatch[0],
                body=[templates.fill_stmt("rt.assumption_failed()" if self.assumes else
                                          "rt.fusion_mismatch()")], orelse=[]))
        before += self._apart_checks(sliced)
        rewrite = _Elements(self, index, materialized, sliced)
        allocated = set()
        for kind, stmt in self.stmts:
            if kind == "proven":
                continue
            if kind == "hoist":
                hoisted.append(stmt)
            elif kind == "sink":
                after.append(stmt)
            elif kind == "comment":
                (body if body else hoisted).append(stmt)
            elif kind == "reduce":
                target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
                value = stmt.value.args[0]
                if isinstance(stmt, gast.Assign):
                    before.append(templates.make_assign(target.id, make_const(0.0)))
                    op = gast.Add()
                else:
                    op = stmt.op
                body.append(gast.AugAssign(target=make_name(target.id, gast.Store()), op=op,
                                           value=rewrite.visit(anno.deepcopy(value))))
            elif kind == "assign":
                name = stmt.targets[0].id
                fill = _fill_value(stmt.value)
                value = fill[0] if fill is not None else stmt.value
                value = rewrite.visit(anno.deepcopy(value))
                if name in materialized:
                    if name not in allocated:
                        allocated.add(name)
                        before.append(templates.fill_stmt(
                            "t = np.empty(s)", t=make_name(name, gast.Store()),
                            np=make_name(c.np), s=gast.Tuple(
                                elts=[make_name(s) for s in sizes], ctx=gast.Load())))
                    body.append(templates.make_assign(rewrite.element(name, gast.Store()),
                                                      value))
                else:
                    body.append(templates.make_assign(name, value))
            elif kind in ("store", "update"):
                stmt = anno.deepcopy(stmt)
                target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
                if isinstance(target, gast.Subscript):
                    element = rewrite.visit_Subscript(target, gast.Store())
                elif target.id in self.local and target.id not in materialized:
                    element = make_name(target.id, gast.Store())
                else:
                    element = rewrite.element(target.id, gast.Store())
                if isinstance(stmt, gast.Assign):
                    stmt.targets[0] = element
                else:
                    stmt.target = element
                stmt.value = rewrite.visit(stmt.value)
                body.append(stmt)
        for name, base in aliases_after + list(self.renamed.items()):
            after.append(templates.make_assign(name, make_name(base)))
        loop = body
        for k in reversed(range(self.rank)):
            loop = [gast.For(target=make_name(index[k], gast.Store()),
                             iter=templates.fill("range(n)", n=make_name(sizes[k])),
                             body=loop, orelse=[], type_comment=None)]
        anno.setanno(loop[0], "fused_loop", True)  # (parallel=True may run it in chunks)
        return hoisted + before + loop + after

    def _apart_checks(self, sliced):
        """`if not rt.identical_or_apart(a, b): rt.assumption_failed()` for each two arrays of an
        alias group the loop writes one of (and accesses at the same positions)."""
        checks = []
        for group in sorted(self.apart):
            keys = sorted({n for n, *_ in self.accesses[group]})
            written = {n for n, _, _, w in self.accesses[group] if w}
            for k, a in enumerate(keys):
                for b in keys[k + 1:]:
                    if a in written or b in written:
                        checks.append(templates.fill_stmt(
                            "if not rt.identical_or_apart(a, b): rt.assumption_failed()",
                            a=make_name(sliced.get(a) or self.holders[a]),
                            b=make_name(sliced.get(b) or self.holders[b])))
        return checks

    def _read_after(self, name):
        """May a statement after the run read `name` as the run leaves it? (The run assigns
        its arrays before it reads them.)"""
        return self.c.places.read_after(name, *self.span)

    def _uses_in_run(self, name):
        return sum(1 for _, stmt in self.stmts for n in templates.walk(stmt)
                   if isinstance(n, gast.Name) and n.id == name)


class _Places:
    """Where each statement sits in the text: its place (the order of the text), the blocks
    around it; the places reading each name and those assigning it whole; each loop's first
    and last place."""

    def __init__(self, body):
        self.of, self.chain, self.reads, self.kills, self.loops = {}, [], {}, {}, []
        self._visit(body, ())

    def _visit(self, block, around):
        for index, stmt in enumerate(block):
            k = self.of[id(stmt)] = len(self.chain)
            self.chain.append(around + ((id(block), index),))
            compound = isinstance(stmt, (gast.For, gast.While, gast.If))
            header = [getattr(stmt, f) for f in ("test", "iter", "target")
                      if getattr(stmt, f, None) is not None] if compound else stmt
            for node in templates.walk(header):
                if isinstance(node, gast.Name) and (isinstance(node.ctx, gast.Load) or
                                                    isinstance(stmt, gast.AugAssign)):
                    self.reads.setdefault(node.id, []).append(k)
            if isinstance(stmt, gast.Assign):
                for target in stmt.targets:
                    for node in target.elts if isinstance(target, gast.Tuple) else [target]:
                        if isinstance(node, gast.Name):
                            self.kills.setdefault(node.id, []).append(k)
            if compound:
                self._visit(stmt.body, self.chain[k])
                self._visit(stmt.orelse, self.chain[k])
                if not isinstance(stmt, gast.If):
                    self.loops.append((k, len(self.chain) - 1))

    def dominates(self, w, k):
        """Does every path to the statement at place k pass the one at place w first (w sits
        before k in a block around k, or in k's own)?"""
        block, index = self.chain[w][-1]
        return any(b == block and i > index for b, i in self.chain[k])

    def read_after(self, name, start, end):
        """May a statement after places start..end read `name` as they leave it: a read later
        in the text that no assignment after `end` comes before on every path, or a read in a
        loop around them (its next trip)?"""
        for k in self.reads.get(name, ()):
            if start <= k <= end:
                continue
            if k > end and not any(end < w < k and self.dominates(w, k)
                                   for w in self.kills.get(name, ())):
                return True
            if k < start and any(a < k for a, b in self.loops if a < start and end <= b):
                return True
        return False


def _extent(name, axis, cut, ty):
    """The length of `name[cut:]` along `axis` (`name[a:-b]` has the length of `name[a+b:]`);
    `name` of type `ty` is an array or a shape."""
    shape = templates.fill(f"x{'' if ty.kind == 'tuple' else '.shape'}[{axis}]", x=make_name(name))
    return templates.fill(f"max(s - {cut}, 0)", s=shape) if cut else shape


class _Elements(gast.NodeTransformer):
    """An elementwise expression of the run as the expression of one element."""

    def __init__(self, run, index, materialized, sliced):
        self.run, self.index, self.materialized, self.sliced = run, index, materialized, sliced

    def element(self, name, ctx, starts=None):
        starts = starts or (0,) * self.run.rank
        items = [make_name(i) if not c else
                 gast.BinOp(left=make_name(i), op=gast.Add(), right=make_const(c))
                 for i, c in zip(self.index, starts, strict=True)]
        return gast.Subscript(value=make_name(name), ctx=ctx,
                              slice=items[0] if len(items) == 1 else
                              gast.Tuple(elts=items, ctx=gast.Load()))

    def visit_Name(self, node):
        run = self.run
        if node.id in run.views:
            return self.visit_Name(make_name(run.views[node.id]))
        if node.id in run.local:
            return self.element(node.id, gast.Load()) if node.id in self.materialized else node
        if run.c.ty(node.id).is_array:
            return self.element(node.id, gast.Load())
        return node

    def visit_Call(self, node):
        fill = _fill_value(node)
        if fill is not None:
            return self.visit(fill[0])
        self.generic_visit(node)
        return node.args[0] if node.func.attr == "copy" else node

    def visit_Subscript(self, node, ctx=None):
        view = _view_of(node, self.run.c.ty)
        if view is None:
            return self.element(self.sliced[templates.to_source(node)], ctx or gast.Load())
        return self.element(view[0], ctx or gast.Load(), view[1])


def _copied(state):
    """A copy of a run's attributes deep enough that accepting statements leaves it alone."""
    copy = {k: (dict(v) if isinstance(v, dict) else set(v) if isinstance(v, set) else
                list(v) if isinstance(v, list) else v) for k, v in state.items()}
    copy["accesses"] = {k: set(v) for k, v in state["accesses"].items()}
    return copy


class _Refused(Exception):
    pass


def _likely_apart(keys):
    """May the arrays accessed by `keys` (names, and sources of views) be one another or apart
    when the loop runs, as the rows of an array (`h[i]`, `h[i - 1]`) and names bound to other
    arrays are? Not a view beside the name of its array (`y`, `y[1:]`), a view with a step
    (`y[::-1]`) or two slices of one array (`v[k:k + 4]`, `v[k + 1:k + 5]`): the check at
    entry would fail, and the gradient be generated again without the assumption."""
    bases = {}
    for key in keys:
        node = templates.parse_expr(key)
        indices = node.slice.elts if isinstance(node, gast.Subscript) and \
            isinstance(node.slice, gast.Tuple) else [getattr(node, "slice", None)]
        sliced = any(isinstance(i, gast.Slice) for i in indices)
        if any(isinstance(i, gast.Slice) and i.step is not None for i in indices):
            return False
        while isinstance(node, gast.Subscript):
            node = node.value
        base = templates.to_source(node)
        bases.setdefault(base, []).append((key == base, sliced))
    return all(len(views) == 1 or not any(whole or sliced for whole, sliced in views)
               for views in bases.values())


def _rank(ty):
    """The rank of an array of type `ty`, or of the array a shape of type `ty` is of."""
    return len(ty.items) if ty.kind == "tuple" else ty.ndim


def _view_of(node, ty):
    """`x` or `x[a:b, ...]` (constant a >= 0, b < 0 on each axis): (x, where each axis
    starts, how much each axis is shorter than x's), else None."""
    if isinstance(node, gast.Name):
        zeros = (0,) * ty(node.id).ndim
        return (node.id, zeros, zeros) if ty(node.id).is_array else None
    if not (isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and
            ty(node.value.id).is_array):
        return None
    found = typeinfer.constant_slices(node.slice, ty(node.value.id).ndim)
    return None if found is None else (node.value.id, *found)


def _fill_value(value):
    """`kn.sum_adjoint(g, x, None)` (g spread over x's shape): (g, x's name), else None."""
    if _is_runtime(value, "sum_adjoint", "kn") and len(value.args) == 3 and \
            isinstance(value.args[1], gast.Name) and \
            isinstance(value.args[2], gast.Constant) and value.args[2].value is None:
        return value.args[0], value.args[1].id
    return None


def _elementwise_shape(value, np_name):
    """Whether `value` may be an elementwise expression (else it is a call or an index that
    makes its own array)."""
    return isinstance(value, (gast.BinOp, gast.UnaryOp)) or is_elementwise_call(value, np_name)


def is_elementwise_call(node, np_name):
    """`np.exp(e)`, `rt.sigmoid(e)`, `np.copy(e)` (a new array of e's elements): a call
    whose element is the call of the elements."""
    if not (isinstance(node, gast.Call) and not node.keywords and node.args and
            isinstance(node.func, gast.Attribute) and isinstance(node.func.value, gast.Name)):
        return False
    module, attr = node.func.value.id, node.func.attr
    return module == np_name and (attr in ELEMENTWISE or attr == "copy" and
                                  len(node.args) == 1) or \
        module == "rt" and attr in RUNTIME_ELEMENTWISE


def is_integer_expression(node, integer_name):
    """Is `node` integer arithmetic (+, -, *, //, unary -) of int constants and of names
    `integer_name` accepts?"""
    if isinstance(node, gast.Constant):
        return isinstance(node.value, int) and not isinstance(node.value, bool)
    if isinstance(node, gast.Name):
        return integer_name(node.id)
    if isinstance(node, gast.BinOp):
        return isinstance(node.op, (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv)) and \
            is_integer_expression(node.left, integer_name) and \
            is_integer_expression(node.right, integer_name)
    return isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and \
        is_integer_expression(node.operand, integer_name)


def _sums_out_of_return(fn_def, np_name, namer, types):
    """`return (np.sum(t), a * g)` -> `s = np.sum(t); r = a * g` first, so that the sum and the
    elementwise result may join a run. Returns the names of the sums."""
    ret = fn_def.body[-1]
    if not isinstance(ret, gast.Return) or ret.value is None:
        return []
    hoisted, totals = {}, []  # id of a node -> the name it becomes
    for node in templates.walk(ret.value):
        summed = _whole_sum(node, np_name)
        if summed is None:
            continue
        if isinstance(summed, gast.Name) and types.get(summed.id, typeinfer.UNKNOWN).is_array \
                and types[summed.id].kind == "f" or \
                not isinstance(summed, gast.Name) and _elementwise_type(summed, np_name, types):
            hoisted[id(node)] = namer.fresh("_total"), node
            totals.append(hoisted[id(node)][0])
    items = ret.value.elts if isinstance(ret.value, gast.Tuple) else [ret.value]
    for item in items:
        ty = _elementwise_type(item, np_name, types)
        if ty is not None and not any(id(n) in hoisted for n in templates.walk(item)):
            hoisted[id(item)] = namer.fresh("_result"), item
            types[hoisted[id(item)][0]] = ty
    if hoisted:
        fn_def.body[-1:] = [templates.make_assign(name, anno.deepcopy(node))
                            for name, node in hoisted.values()]
        ret.value = _Renamed({k: name for k, (name, _) in hoisted.items()}).visit(ret.value)
        fn_def.body.append(ret)
    return totals


def _operands_out_of_calls(stmts, np_name, namer, types, operands):
    """`g = rt.matmul_adjoint_b(b / (1.0 + t) * t, X, w)` -> `_operand = b / (1.0 + t) * t`
    first, so that the elementwise operand may join the run that computes t (the adjoint of a
    logistic loss's `X @ w`: one loop, no temporaries). `operands`: name -> the operand, of
    each one taken out."""
    out = []
    for stmt in stmts:
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr, gast.Return)) and \
                stmt.value is not None:
            hoisted = {}
            for node in templates.walk(stmt.value):
                if not isinstance(node, gast.Call) or is_elementwise_call(node, np_name) or \
                        _fill_value(node) is not None or _whole_sum(node, np_name) is not None:
                    continue
                for arg in node.args:
                    ty = _elementwise_type(arg, np_name, types)
                    if ty is not None:
                        hoisted[id(arg)] = namer.fresh("_operand"), arg
                        types[hoisted[id(arg)][0]] = ty
            for name, arg in hoisted.values():
                out.append(anno.copy_loc(templates.make_assign(name, arg), stmt))
                operands[name] = arg
            if hoisted:
                stmt.value = _Renamed({k: name for k, (name, _) in hoisted.items()}).visit(
                    stmt.value)
        out.append(stmt)
    return out


def _operands_back_in_calls(stmts, operands):
    """The operands _operands_out_of_calls took out that joined no run, back in their calls
    (NumPy's array expression there is as fast as a loop of its own, and reads better)."""
    out = []
    for k, stmt in enumerate(stmts):
        name = stmt.targets[0].id if isinstance(stmt, gast.Assign) and \
            isinstance(stmt.targets[0], gast.Name) else None
        if name not in operands or stmt.value is not operands[name]:
            out.append(stmt)
            continue
        user = next((s for s in stmts[k + 1:] if name in templates.names_read(s)), None)
        by_elements = user is not None and any(
            isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and
            n.value.id == name for n in templates.walk(user))
        if user is None or by_elements:  # (its call joined a loop that reads its elements)
            out.append(stmt)
        else:
            templates.substitute(user, name, stmt.value)
    return out


def _elementwise_type(node, np_name, types):
    """The type of elementwise expression `node` when its arrays are float arrays of one rank
    (that array type), else None."""
    if not _elementwise_shape(node, np_name):
        return None
    arrays = {types[n.id] for n in templates.walk(node) if isinstance(n, gast.Name) and
              n.id in types and types[n.id].is_array}
    return arrays.pop() if len(arrays) == 1 and next(iter(arrays)).kind == "f" else None


class _Renamed(gast.NodeTransformer):
    """Replaces the nodes `names` lists (by id) by those names."""

    def __init__(self, names):
        self.names = names

    def visit(self, node):
        if id(node) in self.names:
            return make_name(self.names[id(node)])
        return super().visit(node)


def _whole_sum(node, np_name):
    """`e` of `np.sum(e)` (no axis, no keywords), else None."""
    return node.args[0] if _is_runtime(node, "sum", np_name) and len(node.args) == 1 and \
        not node.keywords else None


def _stable_classes(fn_def, types, np_name, same_shapes):
    """typeinfer.shape_classes of the generated function, without the names bound more than
    once or other than by `name = value` (a class relates the values of names bound once)."""
    for node in templates.walk(fn_def):  # (calls srcad wrote carry no function yet)
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
                isinstance(node.func.value, gast.Name) and node.func.value.id == np_name and \
                not anno.hasanno(node.func, "func"):
            anno.setanno(node.func, "func", getattr(np, node.func.attr, None))
    classes = typeinfer.shape_classes(fn_def, types, lambda f: isinstance(f, np.ufunc),
                                      same_shapes)
    bound = {a.id: 1 for a in fn_def.args.args}
    for node in templates.walk(fn_def):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            names, times = [node.targets[0].id], 1
        elif isinstance(node, (gast.Assign, gast.For)):
            target = node.targets[0] if isinstance(node, gast.Assign) else node.target
            names, times = [n.id for n in templates.walk(target)
                            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)], 2
        else:
            continue
        for name in names:
            bound[name] = bound.get(name, 0) + times
    unstable = {n for n, k in bound.items() if k > 1}
    return {n: c for n, c in classes.items()
            if n not in unstable and _root(c) not in unstable}


def _root(cls):
    return cls.split("[", 1)[0].rstrip("#")


def alias_groups(fn_def, types):
    """{name: group}: names that may share memory (flow-insensitive): a name bound to another
    name, a view, a list's element, or anything but a new array (numbers share nothing)."""
    parent = {}
    numbers = {n for n, ty in types.items() if ty.ndim == 0 and ty.kind in ("f", "i", "b")}
    modules = {n.func.value.id for n in templates.walk(fn_def)  # (np.exp, rt.grow)
               if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and
               isinstance(n.func.value, gast.Name) and n.func.value.id not in types}
    numbers |= modules

    def find(n):
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    def union(a, b):
        parent[find(a)] = find(b)
    for node in templates.walk(fn_def):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            if _fresh(node.value):
                continue
            value = node.value.args[0] if _is_runtime(node.value, "save_array", "rt") or \
                _is_runtime(node.value, "saved_array", "rt") else node.value  # (its buffer)
            for n in templates.walk(value):
                if isinstance(n, gast.Name) and n.id not in numbers:
                    union(node.targets[0].id, n.id)
        elif isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
                node.func.attr == "append" and isinstance(node.func.value, gast.Name):
            for n in templates.walk(node):
                if isinstance(n, gast.Name) and n.id not in numbers:
                    union(node.func.value.id, n.id)
    return {n: find(n) for n in parent}


def _is_save(stmt):
    """Does `stmt` save a value for the reverse sweep (`buf.append(v)`, `buf =
    rt.save_array(buf, shapes, k, v)`, `rt.save_shape(shapes, k, v.shape)`)?"""
    value = stmt.value if isinstance(stmt, (gast.Expr, gast.Assign)) else None
    return isinstance(stmt, gast.Expr) and isinstance(value, gast.Call) and \
        isinstance(value.func, gast.Attribute) and value.func.attr == "append" or \
        _is_runtime(value, "save_shape", "rt") or \
        isinstance(stmt, gast.Assign) and _is_runtime(value, "save_array", "rt")


def _element_reads(value):
    """The names whose elements `value` may read (not `x.shape`)."""
    shapes = {id(n.value) for n in templates.walk(value) if isinstance(n, gast.Attribute) and
              n.attr in ("shape", "ndim", "size")}
    return {n.id for n in templates.walk(value) if isinstance(n, gast.Name) and
            id(n) not in shapes}


def _is_restore(value):
    """`rt.saved_array(...)`, `rt.saved_shape(...)`, `xs.pop()`: a value the reverse sweep
    restores."""
    return _is_runtime(value, "saved_array", "rt") or _is_runtime(value, "saved_shape", "rt") or \
        isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
        value.func.attr == "pop" and isinstance(value.func.value, gast.Name) and not value.args


def _fresh(value):
    """A value that is certainly a new array (or a scalar)."""
    if isinstance(value, gast.Constant) or is_fresh(value):
        return True
    return isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
        (value.func.attr in NEW_ARRAYS or value.func.attr in ELEMENTWISE or
         value.func.attr == "sigmoid")
