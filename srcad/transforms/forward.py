"""Forward: emit the Jacobian-vector product, the function's own statements with the tangent
of every active variable computed beside them.

Input: a core-form tree with its types and active variables. Output: a `gast.FunctionDef`
`<f>_jvp(<f's parameters>, d<wrt1>, d<wrt2>, ...)` returning `(value, dvalue)`.

How it works:
- The tangent of an active variable `x` is the variable `dx`, of x's type and shape. Each core
  statement that defines an active variable is followed (or, when it overwrites one of its
  own operands, preceded through a temporary) by the statement defining its tangent; control
  flow is the function's own, so nothing is saved and nothing runs backwards.
- A call's tangent comes from its rule in `rules.py`: an elementwise rule's partials with `g`
  replaced by the argument's tangent, summed over the active arguments (spread to the
  result's shape when only a broadcast operand carries one); a function linear in some of its
  arguments applied to their tangents; a reduction along axes `sum_along(t * partial)`,
  because each result element depends on its own slice alone; otherwise the rule's own
  `tangents` entry. A call with none of these is an UnsupportedError naming it.
- Tangents alias as their primals do: `v = x[1:]` makes `dv = dx[1:]`, so a store through a
  view updates both. Array arguments the function writes into (also through a view or another
  name) are copied on entry, with their tangents, so the caller's arrays never change.
"""

import gast

from .. import rules
from ..compiler import anno, templates, typeinfer
from ..compiler.frontend import is_custom_vjp
from ..compiler.normalize import call_parts
from ..compiler.templates import comment
from ..errors import UnsupportedError
from .reverse import _bind, _broadcasting, _load, check_custom_arguments, custom_arrays, \
    mark_assumed, shape_checks, user_rule_name

_name, _const, _assign, _expr = (templates.make_name, templates.make_const,
                                 templates.make_assign, templates.fill)


class Tangents:
    def __init__(self, core, types, active, wrt, aliases, np_name="np"):
        self.core, self.types, self.active, self.wrt = core, types, active, wrt
        self.aliases = aliases  # aliasing.Aliases: which arrays may share memory
        self.namer = core.namer
        self.np = np_name
        self.written = templates.stored_arrays(core.tree)
        self.locals = {a.id for a in core.tree.args.args} | {
            n.id for n in gast.walk(core.tree)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        self.shapes = typeinfer.shape_classes(core.tree, types, _broadcasting, core.same_shapes)
        self.assumed = {}  # name -> the class its shape is assumed to share (checked)
        if core.assume_shapes:
            self.shapes, self.assumed, _ = typeinfer.assumed_shape_classes(
                core.tree, types, _broadcasting, self.shapes)

    def d(self, name):
        tangent = self.namer.tangent(name)
        self.types[tangent] = self.ty(name)
        return tangent

    def ty(self, name):
        return self.types.get(name, typeinfer.UNKNOWN)

    def tangent_of(self, node):
        """The tangent of the atom `node`, or None when it carries none."""
        if isinstance(node, gast.Name) and node.id in self.active:
            return _name(self.d(node.id))
        return None

    def zero_like(self, name):
        if self.ty(name).is_array:
            return _expr("np.zeros_like(x)", np=_name(self.np), x=_name(name))
        return _const(0.0)

    # ---- statements ------------------------------------------------------------------------
    def block(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                stmt.body, stmt.orelse = self.block(stmt.body), self.block(stmt.orelse)
                out.append(stmt)
            elif isinstance(stmt, (gast.For, gast.While)):
                if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name) and \
                        stmt.target.id in self.active:
                    raise UnsupportedError("a loop over the values of an array that carries "
                                           "a derivative", anno.getanno(stmt, "loc"))
                stmt.body = self.block(stmt.body)
                out.append(stmt)
            else:
                out.extend(new if anno.hasanno(new, "loc") else anno.copy_loc(new, stmt)
                           for new in self.statement(stmt))  # (a tangent: its primal's line)
        return out

    def statement(self, stmt):
        loc = anno.getanno(stmt, "loc")
        if isinstance(stmt, gast.AugAssign):  # y[index] += v
            target = stmt.target
            t = self.tangent_of(stmt.value)
            if target.value.id not in self.active or t is None:
                return [stmt]
            self.check_local(target.value.id, loc)
            if not isinstance(stmt.op, (gast.Add, gast.Sub)):
                raise UnsupportedError("an in-place update other than += or -= of an array "
                                       "that carries a derivative", loc)
            tangent = gast.AugAssign(target=self.tangent_subscript(target), op=stmt.op, value=t)
            anno.setanno(tangent, "augmented", anno.getanno(stmt, "augmented"))
            return [stmt, tangent]
        if not isinstance(stmt, gast.Assign):
            return [stmt]
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):  # y[index] = v
            if target.value.id not in self.active:
                return [stmt]
            self.check_local(target.value.id, loc)
            t = self.tangent_of(stmt.value) or _const(0.0)
            return [stmt, _assign(self.tangent_subscript(target), t)]
        z = target.id
        if z not in self.active:
            return [stmt]
        tangent = self.tangent_expr(z, stmt.value, loc)
        if tangent is None:
            return [stmt, _assign(self.d(z), self.zero_like(z))]
        if isinstance(tangent, gast.Name) and self.ty(z).is_array and \
                not isinstance(stmt.value, (gast.Name, gast.Subscript)) and self.written:
            # `z = x + 0.0` is new memory while `dx` is not: a store into z must leave dx alone
            tangent = _expr("t.copy()", t=tangent)
        if z in templates.names_read(stmt.value):  # `x = x * y`: the tangent reads the old x
            new = self.namer.temp("_new")
            tangent = templates.renamed(tangent, {z: new})
            stmt.targets[0] = _name(new, gast.Store())
            shared, tangent = self.shared_calls(tangent)
            return [stmt, *shared, _assign(self.d(z), tangent), _assign(z, _name(new))]
        shared, tangent = self.shared_calls(tangent)
        return [stmt, *shared, _assign(self.d(z), tangent)]

    def shared_calls(self, tangent):
        """(assignments, tangent): a call the tangent makes more than once with the same
        arguments (a rule's tangent naming a value twice: eigh's eigenvectors, a factor's
        triangle) computed once, into a temporary, before it."""
        count = {}
        for node in gast.walk(tangent):
            if isinstance(node, gast.Call):
                count[gast.dump(node)] = count.get(gast.dump(node), 0) + 1
        shared, temps = [], {}

        class Hoist(gast.NodeTransformer):
            def visit_Call(hoist, node):  # (inner calls first: their temporaries come first)
                key = gast.dump(node)
                hoist.generic_visit(node)
                if count[key] < 2:
                    return node
                if key not in temps:
                    temps[key] = self.namer.temp()
                    shared.append(_assign(temps[key], node))
                return _name(temps[key])
        if max(count.values(), default=0) < 2:
            return [], tangent
        return shared, Hoist().visit(tangent)

    def check_local(self, name, loc):
        if name not in self.locals:
            raise UnsupportedError(f"a value that carries a derivative is written into "
                                   f"'{name}', a global or a closure's array: forward mode "
                                   "tracks the arrays the function creates or takes as "
                                   "arguments (pass it as an argument)", loc)

    def tangent_subscript(self, sub):
        return gast.Subscript(value=_name(self.d(sub.value.id)), slice=_load(sub.slice),
                              ctx=gast.Store())

    # ---- expressions -----------------------------------------------------------------------
    def tangent_expr(self, z, value, loc):
        """The tangent of `z = value`, or None when it is zero."""
        if isinstance(value, gast.Name):
            return self.tangent_of(value)
        if isinstance(value, gast.Subscript):
            base = value.value
            if isinstance(base, gast.Name) and base.id in self.active:
                if not self.ty(base.id).ndim:  # `s[None]` of a NumPy scalar: an array of it
                    return _expr("np.full_like(z, t)", np=_name(self.np), z=_name(z),
                                 t=_name(self.d(base.id)))
                return gast.Subscript(value=_name(self.d(base.id)), slice=_load(value.slice),
                                      ctx=gast.Load())
            return None
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return self.call_tangent(z, value, loc)
        if isinstance(value, gast.Tuple):
            raise UnsupportedError("a tuple holding values that carry derivatives", loc)
        return None

    def call_tangent(self, z, value, loc):
        func, args, keywords = call_parts(value)
        what = templates.SourceText(value, self.core.origins)
        if is_custom_vjp(func):
            return self.custom_tangent(func, z, args, keywords, what, loc)
        rule = rules.lookup(func)
        if rule is None:
            raise UnsupportedError(rules.missing(func, what), loc)
        if rule.nondiff:
            return None
        bound = _bind(rule, args, keywords, what, loc)
        active = {p for p, node in bound.items() if self.carries(node)}
        if not active:
            return None
        ranks = {p: self.ty(n.id).ndim for p, n in bound.items() if isinstance(n, gast.Name)}
        refusal = rules.refused_ranks(rule, ranks, what)
        if refusal is not None:
            raise UnsupportedError(refusal, loc)
        terms = []
        for group in rule.linear:  # f applied to the tangents of a group it is linear in
            if active & set(group):
                terms.append(self.linear_term(value, rule, group, what, loc))
                active -= set(group)
        if rule.linear_pieces:  # a product of the tuple's elements: one term per factor
            terms.extend(self.piece_terms(value, what, loc))
            active.discard(rule.params[0])
        fill = dict(bound, ans=_name(z), np=_name(self.np))
        for param in sorted(active, key=rule.params.index):
            if isinstance(bound[param], gast.Tuple):
                raise UnsupportedError(f"srcad has no forward-mode derivative of {what} with "
                                       "respect to values inside a list or tuple argument "
                                       "(make it an array: np.array([...]))", loc)
            t = self.tangent_of(bound[param])
            if rule.on_scalar is not None and not self.ty(bound[param].id).is_array:
                terms.append(templates.fill(rule.on_scalar, **fill, g=t))
            elif param in rule.tangents:
                if not rules.is_zero(rule.tangents[param]):
                    terms.append(templates.fill(rule.tangents[param], **fill, t=t))
            elif rule.broadcasting and param in rule.partials:
                if not rules.is_zero(rule.partials[param]):
                    terms.append(templates.fill(rule.partials[param], **fill, g=t))
            elif rule.slicewise and param in rule.partials:
                terms.append(self.slice_term(rule, param, fill, z, t))
            else:
                raise UnsupportedError(f"srcad has no forward-mode derivative of {what} with "
                                       f"respect to its argument '{param}' (reverse mode has "
                                       "one: use grad or vjp)" if param in rule.partials else
                                       f"srcad has no derivative of {what} with respect to its "
                                       f"argument '{param}'", loc)
        if not terms:
            return None
        tangent = _sum_of(terms)
        if rule.broadcasting and self.ty(z).is_array and not self.has_result_shape(
                z, bound, rule):
            tangent = _expr("rt.broadcast_tangent(t, z)", t=tangent, z=_name(z))
        return tangent

    def custom_tangent(self, func, z, args, keywords, what, loc):
        """`f_jvp(t, ans, *args)` for a custom_vjp function given a jvp with defjvp."""
        jvp = func.__srcad_jvp__
        if jvp is None:
            raise UnsupportedError(f"{what} calls a custom_vjp function with no tangent: "
                                   f"forward mode needs one (decorate it with "
                                   f"@{func.fn.__name__}.defjvp)", loc)
        check_custom_arguments(func, jvp, args, keywords, what, loc,
                               custom_arrays(self.ty, z, args))
        name = user_rule_name(self.core, self.namer, func, "jvp")
        tangents = [self.tangent_of(a) or (self.zero_like(a.id) if isinstance(a, gast.Name)
                                           else _const(0.0)) for a in args]
        t = tangents[0] if len(tangents) == 1 else gast.Tuple(elts=tangents, ctx=gast.Load())
        call = gast.Call(func=_name(name), args=[t, _name(z)] + [anno.deepcopy(a) for a in args],
                         keywords=[])
        where = f"the tangent from {jvp.__name__} ({loc})"
        return _expr("rt.checked_tangent(t, z, w)", t=call, z=_name(z), w=_const(where))

    def carries(self, node):
        if isinstance(node, gast.Tuple):
            return any(self.carries(e) for e in node.elts)
        return isinstance(node, gast.Name) and node.id in self.active

    def linear_term(self, value, rule, group, what, loc):
        """The call `value` with each argument of `group` replaced by its tangent (zero when
        it carries none) and the others as they are."""
        call = anno.deepcopy(value)
        if isinstance(call, gast.BinOp):  # (a matrix product: a @ b)
            for param in group:
                side = {"a": "left", "b": "right"}[param]
                setattr(call, side, self.linear_argument(getattr(call, side), what, loc))
            return call
        positional = dict(zip(rule.params, range(len(call.args)), strict=False))
        for param in group:
            if param in positional:
                k = positional[param]
                call.args[k] = self.linear_argument(call.args[k], what, loc)
            else:
                for kw in call.keywords:
                    if kw.arg == param:
                        kw.value = self.linear_argument(kw.value, what, loc)
        return call

    def piece_terms(self, value, what, loc):
        """`f((a, b, c))` linear in each element: `f((da, b, c)) + f((a, db, c)) + ...`."""
        terms = []
        for k, e in enumerate(value.args[0].elts):
            t = self.tangent_of(e)
            if t is not None:
                call = anno.deepcopy(value)
                call.args[0].elts[k] = t
                terms.append(call)
        if not terms:
            raise UnsupportedError(f"cannot take the tangent of {what}", loc)
        return terms

    def linear_argument(self, node, what, loc):
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.linear_argument(e, what, loc) for e in node.elts],
                              ctx=gast.Load())
        t = self.tangent_of(node)
        if t is not None:
            return t
        if isinstance(node, gast.Name):
            return self.zero_like(node.id)
        if isinstance(node, gast.Constant):
            return _const(0.0)
        raise UnsupportedError(f"cannot take the tangent of an argument of {what}", loc)

    def slice_term(self, rule, param, fill, z, t):
        """Each result element of a reduction along axes depends on its own slice only: its
        tangent is the sum over that slice of the tangent times the partial."""
        ones = _expr("np.ones_like(z)", np=_name(self.np), z=_name(z)) if self.ty(z).is_array \
            else _const(1.0)
        partial = templates.fill(rule.partials[param], **fill, g=ones)
        product = gast.BinOp(left=t, op=gast.Mult(), right=partial)
        if not self.ty(z).is_array:
            return _expr("np.sum(p)", np=_name(self.np), p=product)
        return _expr("kn.sum_along(p, axis, keepdims)", p=product, axis=fill["axis"],
                     keepdims=fill.get("keepdims", _const(False)))

    def has_result_shape(self, z, bound, rule):
        """Does the sum of an elementwise call's tangent terms certainly have the result's
        shape (one of the arrays it reads has the result's shape class)?"""
        want = self.shapes.get(z)
        if want is None:
            return False
        terms = {p: rule.partials.get(p, "") for p, node in bound.items()
                 if self.carries(node) and not rules.is_zero(rule.partials.get(p, ""))}
        names = set()
        for param, node in bound.items():
            if not isinstance(node, gast.Name):
                continue
            used = node.id in self.active and param in terms or any(
                param in templates.names_in(partial) for partial in terms.values())
            if used:
                names.add(node.id)
        return any(self.shapes.get(n) == want for n in names)

    # ---- the function ----------------------------------------------------------------------
    def run(self):
        fn = self.core.tree
        *body, ret = fn.body
        entry = []
        for a in (a.id for a in fn.args.args):
            # an argument written into, also through a view or another name, is copied (with
            # its tangent) so the caller's arrays never change
            written = self.ty(a).is_array and \
                ({a} | self.aliases.shares.get(a, set())) & self.written
            if written:
                entry.append(_assign(a, _expr("a.copy()", a=_name(a))))
            if a in self.active and a not in self.wrt:  # (given no tangent: held constant)
                entry.append(_assign(self.d(a), self.zero_like(a)))
            elif a in self.active and written:
                entry.append(_assign(self.d(a), _expr("a.copy()", a=_name(self.d(a)))))
        body = entry + [comment("forward sweep")] + shape_checks(
            self.block(body), self.assumed, self.types, self.namer, [a.id for a in fn.args.args])
        value = ret.value
        if isinstance(value, gast.Name) and value.id in self.active:
            tangent = _name(self.d(value.id))
        elif isinstance(value, gast.Name) and self.ty(value.id).is_array:
            tangent = _expr("np.zeros(x.shape)", np=_name(self.np), x=value)
        else:
            tangent = _const(0.0)
        body.append(gast.Return(value=gast.Tuple(elts=[value, tangent], ctx=gast.Load())))
        args = [anno.deepcopy(a) for a in fn.args.args] + \
            [_name(self.d(w), gast.Param()) for w in self.wrt]
        for a in args:
            a.ctx = gast.Param()
        new_args = gast.arguments(args=args, posonlyargs=[], vararg=None, kwonlyargs=[],
                                  kw_defaults=[], kwarg=None, defaults=[])
        return gast.FunctionDef(name=f"{fn.name}_jvp", args=new_args, body=body,
                                decorator_list=[], returns=None, type_comment=None,
                                type_params=[])


def _sum_of(terms):
    """The sum of the tangent terms, those over one denominator as one quotient: x / y's
    tangent `(tx + -ty * ans) / y` divides once, not twice (a division costs several
    multiplications)."""
    total = terms[0]
    for term in terms[1:]:
        if all(isinstance(t, gast.BinOp) and isinstance(t.op, gast.Div) for t in (total, term)) \
                and gast.dump(total.right) == gast.dump(term.right):
            total = gast.BinOp(left=gast.BinOp(left=total.left, op=gast.Add(), right=term.left),
                               op=gast.Div(), right=total.right)
        else:
            total = gast.BinOp(left=total, op=gast.Add(), right=term)
    return total


def jvp(core, types, active, wrt, aliases, np_name="np"):
    """The function computing `(f(x), J(x) @ dx)` for the core form `core`."""
    tangents = Tangents(core, types, active, wrt, aliases, np_name)
    fn = tangents.run()
    if core.assume_shapes:
        mark_assumed(fn, tangents.shapes, core.namer.tangent_names())
    return fn
