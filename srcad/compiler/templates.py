"""Small expression templates: parse a string once, fill placeholders with nodes, unparse.

Rules are written as Python expression strings (`"g * np.cos(x)"`); `fill` turns one into a
gast expression with each placeholder name replaced by a copy of the given node.
"""

import ast
import functools

import gast

from . import anno


@functools.lru_cache(maxsize=None)
def parse_expr(text):
    return gast.parse(text, mode="eval").body


def names_in(text):
    return {n.id for n in gast.walk(parse_expr(text)) if isinstance(n, gast.Name)}


def make_name(id_, ctx=None):
    return gast.Name(id=id_, ctx=ctx or gast.Load(), annotation=None, type_comment=None)


def make_const(value):
    return gast.Constant(value=value, kind=None)


def make_assign(target, value):
    """`target = value`; a string target is a variable name."""
    if isinstance(target, str):
        target = make_name(target, gast.Store())
    return gast.Assign(targets=[target], value=value, type_comment=None)


def walk(node):
    """Every node below `node` (itself included; or below each node of a list) but the
    contexts (Load, Store), in no particular order: gast.walk, three times as fast, for the
    analyses that only collect (the cleanup passes walk every statement many times)."""
    todo = list(node) if isinstance(node, list) else [node]
    pop, append, node_type, fields_of = todo.pop, todo.append, gast.AST, _CHILD_FIELDS.get
    while todo:
        n = pop()
        yield n
        fields = fields_of(n.__class__)
        if fields is None:
            fields = _child_fields(n.__class__)
        for field in fields:
            value = getattr(n, field, None)
            if value.__class__ is list:
                for v in value:
                    if isinstance(v, node_type):
                        append(v)
            elif isinstance(value, node_type):
                append(value)


_CHILD_FIELDS = {}  # node class -> the fields that may hold nodes


def _child_fields(cls):
    _CHILD_FIELDS[cls] = fields = tuple(f for f in cls._fields if f not in _LEAF_FIELDS)
    return fields


_LEAF_FIELDS = {"ctx", "id", "attr", "arg", "module", "level", "kind",
                "type_comment", "type_ignores", "is_async", "conversion", "tag"}


def blocks(stmts):
    """Every statement list in `stmts` and the blocks nested in it (body, orelse), outermost
    first, as a list (the caller may change them while going through it)."""
    out = []

    def visit(block):
        out.append(block)
        for s in block:
            for field in ("body", "orelse"):
                inner = getattr(s, field, None)
                if isinstance(inner, list):
                    visit(inner)
    visit(stmts)
    return out


def is_sliced(index):
    """Does the index take a slice (`1:`, `...`): a store through it writes many elements?"""
    return any(isinstance(n, gast.Slice) or isinstance(n, gast.Constant) and n.value is Ellipsis
               for n in gast.walk(index))


def assignments(tree):
    """{name: the values its assignments `name = value` give it} in `tree`."""
    values = {}
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            values.setdefault(node.targets[0].id, []).append(node.value)
    return values


def stored_arrays(tree):
    """The names of the arrays the statements of `tree` store into."""
    return {stored_array(s) for s in walk(tree)} - {None}


def stored_array(node):
    """The name of the array the statement `node` stores into (`a[i] = ...`, `a[1:] += ...`),
    or None."""
    target = node.targets[0] if isinstance(node, gast.Assign) else \
        node.target if isinstance(node, gast.AugAssign) else None
    if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
        return target.value.id
    return None


def names_read(node):
    """The variable names `node` reads (Load context)."""
    return {n.id for n in walk(node) if isinstance(n, gast.Name) and
            isinstance(n.ctx, gast.Load)}


def substitute(node, name, expr):
    """Replace, in place, each read of the variable `name` inside `node` (a statement) by a
    copy of the expression `expr`."""
    class Substitute(gast.NodeTransformer):
        def visit_Name(self, n):
            return anno.deepcopy(expr) if n.id == name and isinstance(n.ctx, gast.Load) else n
    Substitute().visit(node)


def renamed(node, names):
    """A copy of `node` with each variable of `names` ({old: new}) named anew."""
    node = anno.deepcopy(node)
    for n in walk(node):
        if isinstance(n, gast.Name) and n.id in names:
            n.id = names[n.id]
    return node


def fill(text, **replacements):
    """The expression `text` with every Name in `replacements` replaced by (a copy of) its node.

    A replacement may be a node or a string (taken as a Name).
    """
    tree = anno.deepcopy(parse_expr(text))
    return _Replace(replacements).visit(tree)


def fill_stmt(text, **replacements):
    """Like `fill`, for a statement: fill_stmt("k += 1", k=node)."""
    return _Replace(replacements).visit(gast.parse(text).body[0])


class _Replace(gast.NodeTransformer):
    def __init__(self, replacements):
        self.replacements = replacements

    def visit_Name(self, node):
        if node.id in self.replacements:
            new = self.replacements[node.id]
            if isinstance(new, str):
                return gast.Name(id=new, ctx=node.ctx, annotation=None, type_comment=None)
            return anno.deepcopy(new)
        return node


class _Origins(gast.NodeTransformer):
    """Each temporary written as the user's expression it holds, and the temporaries in that
    expression too (`g[_t2]`, `_t2` being `idx[i]`)."""

    def __init__(self, origins, seen=()):
        self.origins, self.seen = origins, seen

    def visit(self, node):
        written = anno.getanno(node, "as_written")  # (lowered code: compiler/lists.py)
        if written is not None:
            return make_name(written, getattr(node, "ctx", None))
        return super().visit(node)

    def visit_Name(self, node):
        new = self.origins.get(node.id)
        if new is None or node.id in self.seen:
            return node
        if isinstance(new, str):
            return gast.Name(id=new, ctx=node.ctx, annotation=None, type_comment=None)
        return _Origins(self.origins, (*self.seen, node.id)).visit(anno.deepcopy(new))


class SourceText:
    """The source of `node`, rendered only when formatted (for error messages), with each
    temporary in `origins` written as the user's expression it holds."""

    def __init__(self, node, origins=None):
        self.node, self.origins = node, origins

    def __str__(self):
        return to_source(_Origins(self.origins or {}).visit(anno.deepcopy(self.node)))

    def __format__(self, spec):
        return format(str(self), spec)


def to_source(node):
    """Python source for a gast node (statement list, statement or expression)."""
    if isinstance(node, list):
        return "\n".join(to_source(n) for n in node)
    tree = _NegativeBases().visit(gast.gast_to_ast(anno.deepcopy(node)))
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


class _NegativeBases(ast.NodeTransformer):
    """`ast.unparse` writes the constant -1 as the base of a power without parentheses, and
    `-1 ** 2` is -(1 ** 2): such a base becomes the expression `-(1)`, which it parenthesises."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left = node.left
        if isinstance(node.op, ast.Pow) and isinstance(left, ast.Constant) and \
                isinstance(left.value, (int, float, complex)) and \
                not isinstance(left.value, bool) and (left.value.real < 0 or
                                                      str(left.value).startswith("-")):
            node.left = ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-left.value))
        return node


COMMENT = "__srcad_comment__"


def comment(text):
    return gast.Expr(value=gast.Constant(value=COMMENT + text, kind=None))


def is_whole_slice(item):
    """Is index item `item` a bare `:`?"""
    return isinstance(item, gast.Slice) and item.lower is None and item.upper is None and \
        item.step is None


def is_comment(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) and \
        isinstance(stmt.value.value, str) and stmt.value.value.startswith(COMMENT)
