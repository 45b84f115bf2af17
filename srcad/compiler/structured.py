"""Structured arguments: a function taking tuples, lists and dicts -> one taking their leaves.

Input: `frontend.Parsed` and `{parameter: pytrees.Treedef}` for the structured arguments of the
call. Output: a `Parsed` whose function has one parameter per leaf, in flatten order where the
structured parameter was, named after its path (`params["W1"]` -> `params_W1`), and whose body
reads the leaves by those names. Everything a structure is used for must be static:

    params["W1"], params[0], params[-1], params[1:]   constant keys and indices, nested
    w, b = params                                      unpacking
    layer = params[0]                                  a name for a part (bound outside if/loops)
    for w, b in layers: ...                            a loop over a tuple or list is unrolled
    for i, layer in enumerate(layers): ...             (i is a constant in each copy)
    for k in ("a", "b"): ... params[k] ...             keys written in the loop: unrolled too
    len(params), "W1" in params                        constants
    np.concatenate(parts), f(parts)                    a tuple or list used whole: its leaves'
                                                       tuple (a dict used whole is refused)

Anything else that reaches a structure (a key computed at run time, `params.items()`, storing
into it, a dict used whole) raises UnsupportedError naming the construct and its line.
"""

import ast
import builtins
import dataclasses
import re

import gast

from . import anno, templates
from ..errors import UnsupportedError
from .frontend import local_names
from .names import Namer
from .pytrees import LEAF, Treedef

_name, _const = templates.make_name, templates.make_const


@dataclasses.dataclass(frozen=True)
class Struct:
    """A structured value in the body: its Treedef and the flat parameter of each leaf."""

    treedef: Treedef
    leaves: tuple

    def parts(self):
        """(key, Struct or leaf name) for each child."""
        out, start = [], 0
        for key, child in zip(self.treedef.keys, self.treedef.children, strict=True):
            end = start + child.num_leaves
            out.append((key, self.leaves[start] if child.is_leaf else
                        Struct(child, self.leaves[start:end])))
            start = end
        return out

    def child(self, key):
        parts = self.parts()
        if self.treedef.kind == "dict":
            return parts[{k: i for i, (k, _) in enumerate(parts)}[key]][1]
        return parts[range(len(parts))[key]][1]

    def sliced(self, part):
        chosen = [c for _, c in self.parts()[part]]
        treedef = Treedef(self.treedef.kind, tuple(range(len(chosen))),
                          tuple(c.treedef if isinstance(c, Struct) else LEAF for c in chosen))
        leaves = tuple(leaf for c in chosen
                       for leaf in (c.leaves if isinstance(c, Struct) else (c,)))
        return Struct(treedef, leaves)


def flatten(parsed, structures):
    """`parsed` with each parameter named in `structures` (name -> Treedef) replaced by the
    parameters of its leaves. Returns (Parsed, {parameter: [leaf parameter names]})."""
    if not structures:
        return parsed, {}
    tree = anno.deepcopy(parsed.tree)
    namer = Namer(local_names(tree) | set(parsed.scope) | set(dir(builtins)))
    env, args, leaf_names = {}, [], {}
    for arg in tree.args.args:
        treedef = structures.get(arg.id)
        if treedef is None:
            args.append(arg)
            continue
        names = tuple(namer.fresh(_leaf_name(arg.id, path)) for path in treedef.paths())
        env[arg.id], leaf_names[arg.id] = Struct(treedef, names), list(names)
        args.extend(anno.copy_loc(_name(n, gast.Param()), arg) for n in names)
    tree.args.args = args
    tree.body = _Flattener(env).block(tree.body, conditional=False)
    return dataclasses.replace(parsed, tree=tree), leaf_names


def _leaf_name(param, path):
    """`params_W1` for the path `['W1']`, `layers_0_1` for `[0][1]`."""
    keys = re.findall(r"\[([^\]]*)\]", path)
    text = "_".join(re.sub(r"\W+", "_", k.strip("'\"")).strip("_") or "k" for k in keys)
    return f"{param}_{text}" if text else param


def _error(what, node):
    raise UnsupportedError(what, anno.getanno(node, "loc"))


def _src(node):
    return templates.to_source(node)


class _Flattener:
    def __init__(self, env):
        # local name -> the Struct or leaf parameter it is bound to
        self.env = env
        self.out = None

    # ---- statements ---------------------------------------------------------------------
    def block(self, stmts, conditional):
        """`stmts` rewritten; `conditional`: they may run zero or many times (inside an if, a
        while or a range loop), where binding a structure to a name is not static."""
        saved, self.out = self.out, []
        for stmt in stmts:
            self.statement(stmt, conditional)
        result, self.out = self.out, saved
        return result

    def emit(self, stmt, like):
        self.out.append(anno.copy_loc(stmt, like))

    def statement(self, stmt, conditional):
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
            self.assign(stmt, stmt.targets[0], stmt.value, conditional)
        elif isinstance(stmt, gast.For) and \
                isinstance(self.resolve(self.loop_items(stmt.iter)), Struct):
            self.unroll(stmt, conditional)
        elif isinstance(stmt, gast.For) and (keys := self.keys_written(stmt)) is not None:
            self.unroll_keys(stmt, keys, conditional)
        elif isinstance(stmt, gast.AugAssign) and \
                isinstance(self.env.get(getattr(stmt.target, "id", None)), Struct):
            _error(f"augmented assignment to '{stmt.target.id}', a structured value", stmt)
        elif isinstance(stmt, gast.If) and (known := self.static_test(stmt.test)) is not None:
            for taken in stmt.body if known else stmt.orelse:
                self.statement(taken, conditional)  # (`if "bias" in p:` is decided here)
        elif isinstance(stmt, (gast.If, gast.While, gast.For)):
            self.compound(stmt)
        elif isinstance(stmt, (gast.FunctionDef, gast.ClassDef)) and \
                self.reads_structure(stmt):
            _error(f"a nested function or class reading the structured value "
                   f"'{self.reads_structure(stmt)}' (pass it the leaves it needs)", stmt)
        else:
            if isinstance(stmt, gast.AugAssign):
                self.materialize(stmt)
            self.check_stores(stmt, stmt, conditional)
            self.emit(self.expr(stmt), stmt)

    def assign(self, stmt, target, value, conditional):
        found = self.resolve(value)
        self.bind(target, self.expr(value) if found is None else found, stmt, conditional)

    def bind(self, target, value, stmt, conditional):
        """Assign `value` (a Struct, a leaf name or an expression) to `target` as Python would.
        Outside ifs and loops a name bound to a part of a structure becomes another name for
        it (so `W` in an unrolled loop may be a matrix in one copy and a vector in the next)."""
        if isinstance(target, gast.Name):
            if isinstance(value, (Struct, str)) and not conditional:
                self.env[target.id] = value
                return
            if isinstance(value, Struct):
                _error(f"binding a structured value to '{target.id}' inside an if or a "
                       "loop (srcad resolves structures statically: bind it before)", stmt)
            self.forget(target.id, stmt, conditional)
            expr = _name(value) if isinstance(value, str) else value
            self.emit(templates.make_assign(_name(target.id, gast.Store()), expr), stmt)
        elif isinstance(target, (gast.Tuple, gast.List)) and isinstance(value, Struct):
            if value.treedef.kind == "dict":
                _error(f"unpacking a dict ({_src(target)} = ...) gives its keys; read its "
                       "entries by constant keys", stmt)
            if any(isinstance(t, gast.Starred) for t in target.elts):
                _error("starred unpacking of a structured value", stmt)
            parts = value.parts()
            if len(parts) != len(target.elts):
                _error(f"unpacking {len(parts)} values into {len(target.elts)} names", stmt)
            for t, (_, part) in zip(target.elts, parts, strict=True):
                self.bind(t, part, stmt, conditional)
        else:
            self.check_stores(target, stmt, conditional)
            expr = _name(value) if isinstance(value, str) else value
            self.emit(templates.make_assign(self.expr(target), expr), stmt)

    def unroll(self, loop, conditional):
        """`for target in structure: body` -> one copy of body per item, target bound to it."""
        items = self.resolve(self.loop_items(loop.iter))
        if items.treedef.kind == "dict":
            _error(f"iterating over a dict ({_src(loop.iter)}): read its entries by constant "
                   "keys", loop)
        if loop.orelse or _has_jump(loop.body):
            _error("break, continue or else in a loop over a structured value (srcad unrolls "
                   "it)", loop)
        enumerated = self.loop_items(loop.iter) is not loop.iter
        for k, (_, part) in enumerate(items.parts()):
            if enumerated:
                if not (isinstance(loop.target, gast.Tuple) and len(loop.target.elts) == 2):
                    _error("enumerate() over a structured value must be unpacked as i, item",
                           loop)
                self.bind(loop.target.elts[0], _const(k), loop, conditional)
                self.bind(loop.target.elts[1], part, loop, conditional)
            else:
                self.bind(loop.target, part, loop, conditional)
            self.out.extend(self.block(anno.deepcopy(loop.body), conditional))

    def keys_written(self, loop):
        """The keys of `for k in ("a", "b"): ... p[k] ...`, a loop over constants written in it
        whose body reads a structure by them (and does not rebind k), else None."""
        if not (isinstance(loop.iter, (gast.Tuple, gast.List)) and
                isinstance(loop.target, gast.Name)):
            return None
        try:
            keys = [gast.literal_eval(item) for item in loop.iter.elts]
        except ValueError:
            return None
        k, body = loop.target.id, gast.Module(body=loop.body, type_ignores=[])
        reads = any(isinstance(n, gast.Subscript) and isinstance(n.slice, gast.Name) and
                    n.slice.id == k and isinstance(self.resolve(n.value), Struct)
                    for n in gast.walk(body))
        return keys if reads and k not in _stored_names(body) else None

    def unroll_keys(self, loop, keys, conditional):
        """`for k in ("a", "b"): body` reading a structure by k -> a copy of body per key, k
        that constant in it."""
        if loop.orelse or _has_jump(loop.body):
            _error("break, continue or else in a loop over keys of a structured value (srcad "
                   "unrolls it)", loop)
        for key in keys:
            body = anno.deepcopy(loop.body)
            for stmt in body:
                templates.substitute(stmt, loop.target.id, _const(key))
            self.bind(loop.target, _const(key), loop, conditional)
            self.out.extend(self.block(body, conditional))

    def loop_items(self, node):
        """The structure a `for` iterates over (`layers` in `enumerate(layers)` too)."""
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and \
                node.func.id == "enumerate" and len(node.args) == 1 and not node.keywords and \
                self.resolve(node.args[0]) is not None:
            return node.args[0]
        return node

    def materialize(self, stmt):
        """A name for a leaf that `stmt` rebinds becomes a variable before it."""
        for name in sorted(_stored_names(stmt) & set(self.env)):
            if isinstance(self.env[name], str):
                self.emit(templates.make_assign(_name(name, gast.Store()),
                                                _name(self.env.pop(name))), stmt)

    def compound(self, stmt):
        self.materialize(stmt)
        for field in ("test", "iter"):
            if hasattr(stmt, field):
                setattr(stmt, field, self.expr(getattr(stmt, field)))
        if isinstance(stmt, gast.For):
            self.check_stores(stmt.target, stmt, True)
        stmt.body = self.block(stmt.body, conditional=True)
        stmt.orelse = self.block(stmt.orelse, conditional=True)
        self.emit(stmt, stmt)

    def check_stores(self, node, stmt, conditional):
        """Refuse stores into a structure; forget names rebound to ordinary values."""
        for n in gast.walk(node):
            if isinstance(n, gast.Subscript) and isinstance(n.ctx, (gast.Store, gast.Del)) and \
                    isinstance(self.resolve(n.value), Struct):
                _error(f"assigning to {_src(n)} changes the structured argument (srcad "
                       "flattens structures it only reads)", stmt)
            if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del)):
                self.forget(n.id, stmt, conditional)

    def forget(self, name, stmt, conditional):
        if name in self.env:
            if conditional and isinstance(self.env[name], Struct):
                _error(f"rebinding '{name}', a structured value, inside an if or a loop "
                       "(srcad resolves structures statically)", stmt)
            del self.env[name]

    def reads_structure(self, node):
        return next((n.id for n in gast.walk(node) if isinstance(n, gast.Name) and
                     n.id in self.env), None)

    # ---- expressions --------------------------------------------------------------------
    def resolve(self, node):
        """The Struct or leaf name `node` denotes, or None when it is not a structure's."""
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            return self.env.get(node.id)
        if not isinstance(node, gast.Subscript):
            return None
        base = self.resolve(node.value)
        if not isinstance(base, Struct):
            return None
        if isinstance(node.slice, gast.Slice):
            bounds = [self.literal(b, node) if b is not None else None
                      for b in (node.slice.lower, node.slice.upper, node.slice.step)]
            if base.treedef.kind == "dict":
                _error(f"slicing a dict ({_src(node)})", node)
            return base.sliced(slice(*bounds))
        key = self.literal(node.slice, node)
        try:
            return base.child(key)
        except (KeyError, IndexError, TypeError):
            _error(f"{_src(node.value)} has no entry {key!r} ({_src(node)}); its structure is "
                   f"{base.treedef}", node)

    def literal(self, node, where):
        try:
            return gast.literal_eval(node)
        except ValueError:
            _error(f"{_src(where)}: a key computed at run time into a structured argument "
                   "(srcad flattens structures statically: use constant keys, or unpack it, "
                   "or loop over it with for)", where)

    def expr(self, node):
        """`node` with every structure access replaced by its leaf parameter."""
        found = self.resolve(node)
        if isinstance(found, str):
            return anno.copy_loc(_name(found), node)
        if isinstance(found, Struct):
            return self.whole(node, found)
        constant = self.static_query(node)
        if constant is not None:
            return anno.copy_loc(_const(constant[0]), node)
        if isinstance(node, gast.Subscript):  # (x[idx], idx a list: NumPy's index array)
            index = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
            for k, item in enumerate(index):
                struct = self.resolve(item)
                if isinstance(struct, Struct) and struct.treedef.kind == "list":
                    index[k] = anno.copy_loc(gast.List(elts=self.whole(item, struct).elts,
                                                       ctx=gast.Load()), item)
            if not isinstance(node.slice, gast.Tuple):
                node.slice = index[0]
        if isinstance(node, gast.Attribute) and isinstance(self.resolve(node.value), Struct):
            _error(f"{_src(node)} of a structured argument (srcad flattens structures "
                   "statically: read entries by constant keys, or loop over a tuple or list)",
                   node)
        if isinstance(node, (gast.Lambda, gast.ListComp, gast.GeneratorExp, gast.DictComp,
                             gast.SetComp)) and self.reads_structure(node):
            _error(f"a lambda or comprehension reading the structured value "
                   f"'{self.reads_structure(node)}' (read the leaves it needs before)", node)
        for field, value in gast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field, [self.expr(v) if isinstance(v, gast.AST) else v
                                      for v in value])
            elif isinstance(value, gast.AST):
                setattr(node, field, self.expr(value))
        return node

    def static_query(self, node):
        """(value,) for `len(s)` and `key in s` on a structure, else None."""
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and \
                node.func.id == "len" and len(node.args) == 1 and \
                isinstance(self.resolve(node.args[0]), Struct):
            return (len(self.resolve(node.args[0]).treedef.keys),)
        if isinstance(node, gast.Compare) and len(node.ops) == 1 and \
                isinstance(node.ops[0], (gast.In, gast.NotIn)) and \
                isinstance(self.resolve(node.comparators[0]), Struct):
            struct = self.resolve(node.comparators[0])
            if struct.treedef.kind != "dict":
                _error(f"'in' on a tuple or list ({_src(node)}) compares values at run time",
                       node)
            key = self.literal(node.left, node)
            return ((key in struct.treedef.keys) == isinstance(node.ops[0], gast.In),)
        return None

    def static_test(self, test):
        """The truth of an `if` test made of `len(s)`, `key in s` of structures and constants
        (`"bias" in p`, `len(layers) > 1`), or None for any other test."""
        if self.reads_structure(test) is None:
            return None
        folded = self.expr(anno.deepcopy(test))
        if not all(isinstance(n, (gast.Constant, gast.Compare, gast.BoolOp, gast.UnaryOp,
                                  gast.cmpop, gast.boolop, gast.Not, gast.USub))
                   for n in gast.walk(folded)):
            return None
        expression = ast.Expression(body=gast.gast_to_ast(folded))
        return bool(eval(compile(ast.fix_missing_locations(expression), "<test>", "eval"),  # noqa: S307
                         {"__builtins__": {}}))

    def whole(self, node, struct):
        """A tuple or list used whole: the tuple of its parts."""
        if struct.treedef.kind == "dict":
            _error(f"the dict {_src(node)} used whole (passed to a function, returned, or in "
                   "an operation): srcad flattens a dict where constant keys read it "
                   f"({_src(node)}[key])", node)
        elts = [self.whole(node, part) if isinstance(part, Struct) else _name(part)
                for _, part in struct.parts()]
        return anno.copy_loc(gast.Tuple(elts=elts, ctx=gast.Load()), node)


def _stored_names(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and
            isinstance(n.ctx, (gast.Store, gast.Del))}


def _has_jump(stmts):
    """Does a break or continue in `stmts` (outside nested loops) leave the enclosing loop?"""
    for stmt in stmts:
        if isinstance(stmt, (gast.Break, gast.Continue)):
            return True
        if isinstance(stmt, gast.If) and (_has_jump(stmt.body) or _has_jump(stmt.orelse)):
            return True
        if isinstance(stmt, (gast.With, gast.Try)) and _has_jump(stmt.body):
            return True
    return False
