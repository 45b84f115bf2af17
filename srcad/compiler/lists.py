"""Lists: a list the function builds becomes an array of its items and a count, before the
lowering to core form, so every transform differentiates it as it does arrays.

    ys = []                    ys = rt.list_empty()        (typed once types are known)
                               ys_len = 0
    ys.append(v)               if rt.list_full(ys, ys_len, v, where):
                                   ys = rt.list_grown(ys, ys_len, v)
                               ys[ys_len] = v
                               ys_len += 1
    ys = [a, b]                an empty list, then a and b appended
    ys = [v] * n, zs = ys[1:]  lists made by the loops [_v for _ in range(n)], [v for v in ...]
    [e for v in it if c]       a list appended to by that loop, before its statement
    ys[k], ys[k] = v           ys[rt.list_index(k, ys_len, where)], ys[rt.list_slot(...)] = v
    len(ys), if ys:            ys_len, if ys_len > 0:
    for y in ys, np.f(ys)      for y in ys[:ys_len], np.f(ys[:ys_len])
    np.f(ys[a:b])              np.f(ys[:ys_len][a:b])      (a slice read, not a new list)

The items share one shape (list_full and list_slot check it) and one dtype (a list given
floats after integers holds floats: `settle`, once types are known). A list holds its items
by reference and the array holds copies: aliasing.py pairs the array with every item
appended, so a write into an item that a later read of the list would see is refused, as
for a view. Anything else done with a list (passing it to a function of the user's,
returning it, ys.pop(), ys[k] += v, a second name for it) is refused with its line;
mode="auto" runs such code on the tape. A comprehension that is the argument of sum() stays
one (normalize lowers `sum(e for ...)` to a loop of its own).
"""

import builtins
import os

import gast
import numpy as np

from . import anno, templates
from .frontend import is_library, local_names, resolve
from .. import runtime
from ..errors import UnsupportedError

_ITERATORS = (enumerate, zip, reversed)
_DTYPES = {"b": np.bool_, "i": np.int64, "f": np.float64}
_JOINS = (np.stack, np.concatenate, np.vstack, np.hstack, np.dstack, np.column_stack, np.block)
_SUPPORTED = ("srcad's source transform takes lists built with [], [a, b], a comprehension "
              "or append(), and read by index, len(), a for loop or a NumPy function")


def lower(tree, scope, enclosing=None):
    """Lower the lists of FunctionDef `tree` in place (not those of functions defined inside
    it: they are lowered where they are inlined). `scope`: the free names `tree` reads (with
    `enclosing`, the scope of the function it is defined in); the runtime module joins it
    under the name the lowered code uses.

    Returns:
        {array name: count name} of the lists lowered.
    Raises:
        UnsupportedError: a list used otherwise than srcad lowers, naming the use.
    """
    names = _list_names(tree.body)
    if not names and not any(_hoistable_comprehensions(s) for s in _statements(tree.body)):
        return {}
    taken = local_names(tree) | {n.id for n in gast.walk(tree) if isinstance(n, gast.Name)} | \
        set(scope) | set(dir(builtins))
    rt = "rt" if scope.get("rt", runtime) is runtime and "rt" not in local_names(tree) else \
        _fresh("rt", taken)
    scope[rt] = runtime
    numpy = next((k for k, v in scope.items() if v is np), None) or _fresh("np", taken)
    scope[numpy] = np
    lowering = _Lists(names, rt, numpy, taken, scope, enclosing)
    tree.body = lowering.block(tree.body)
    return lowering.counts


def settle(tree, types, scope):
    """Once types are known, an empty list's array (`rt.list_empty()`) gets the rank and dtype
    its items give it (NumPy's floats where it has none; a list given integers, then floats,
    holds floats). Returns whether anything changed (then types are inferred again)."""
    empties = [node for node in templates.walk(tree) if isinstance(node, gast.Assign) and
               isinstance(node.value, gast.Call) and
               anno.getanno(node.value.func, "func") is runtime.list_empty]
    numpy = next((k for k, v in scope.items() if v is np), None)
    stored = {node.targets[0].id: set() for node in empties}  # the kinds of the items stored
    for node in templates.walk(tree):  # (`ys[k] = 2.5` into [0, 1])
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript) and \
                getattr(node.targets[0].value, "id", None) in stored:
            value = node.value
            kind = types[value.id].kind if isinstance(value, gast.Name) and \
                value.id in types else np.asarray(getattr(value, "value", 0.0)).dtype.kind
            if kind in "US" or callable(resolve(value, scope)):
                raise UnsupportedError(
                    f"the list '{node.targets[0].value.id}' holds "
                    f"{'strings' if kind in 'US' else 'functions'} (srcad takes lists of "
                    "numbers or of arrays of one shape; a tuple holds anything)",
                    anno.getanno(node, "loc"))
            stored[node.targets[0].value.id].add(kind)
    for node in empties:
        name = node.targets[0].id
        if "tuple" in stored[name]:
            raise UnsupportedError(f"the list '{name}' holds tuples (srcad takes lists of numbers "
                                   "or of arrays of one shape)", anno.getanno(node, "loc"))
        ty = types.get(name)
        ndim, kind = (ty.ndim, ty.kind) if ty is not None and ty.kind in _DTYPES else (1, "f")
        kind = max({kind} | (stored[name] & set(_DTYPES)), key="bif".index)
        dtype = _DTYPES[kind]
        node.value = templates.fill(f"np.zeros({(0,) * ndim}, dtype=np.{dtype.__name__})",
                                    np=numpy)
        anno.setanno(node.value.func, "func", np.zeros)
        anno.setanno(node.value.keywords[0].value, "func", dtype)
    return bool(empties)


def appends(tree):
    """{array: count} of the lists lowered in core form `tree`: an append `ys[n] = v` stores
    into `ys` at index `n`, the slot past its last item (nothing reads it before)."""
    return {node.args[0].id: node.args[1].id for node in templates.walk(tree)
            if isinstance(node, gast.Call) and
            anno.getanno(node.func, "func") is runtime.list_full and
            all(isinstance(a, gast.Name) for a in node.args[:2])}


def _fresh(base, taken):
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _statements(stmts):
    for s in stmts:
        yield s
        if not isinstance(s, (gast.FunctionDef, gast.AsyncFunctionDef, gast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(s, field, None) or [])


def _list_names(stmts):
    """The names some statement of `stmts` (not of a nested function) assigns a list: a list
    written out, a comprehension, `[v] * n`, or a slice of another list."""
    names, more = set(), True
    while more:
        more = False
        for s in _statements(stmts):
            if isinstance(s, (gast.Assign, gast.AnnAssign)) and s.value is not None:
                target = s.targets[0] if isinstance(s, gast.Assign) else s.target
                if isinstance(target, gast.Name) and target.id not in names and \
                        _makes_a_list(s.value, names):
                    names.add(target.id)
                    more = True
    return names


def _makes_a_list(value, names):
    return isinstance(value, (gast.List, gast.ListComp)) or _repeated(value) is not None or \
        isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) and \
        value.value.id in names and isinstance(value.slice, gast.Slice)


def _repeated(value):
    """(item, count) of `[item] * count` (or `count * [item]`), else None."""
    if not (isinstance(value, gast.BinOp) and isinstance(value.op, gast.Mult)):
        return None
    for one, count in ((value.left, value.right), (value.right, value.left)):
        if isinstance(one, gast.List) and len(one.elts) == 1 and \
                not isinstance(one.elts[0], gast.Starred) and not isinstance(count, gast.List):
            return one.elts[0], count
    return None


def _is_sum_of_comprehension(node):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and \
        node.func.id == "sum" and node.args and isinstance(node.args[0], gast.ListComp)


def _hoistable_comprehensions(stmt):
    """The list comprehensions in `stmt`'s own expressions evaluated once, unconditionally,
    when it runs (not in a branch of `a if c else b`, `and`/`or`, a lambda, a while loop's
    test or a comprehension, except as its first iterable; not sum()'s argument), outermost
    first."""
    found = []

    def visit(node):
        if isinstance(node, gast.ListComp):
            found.append(node)
            return
        if isinstance(node, (gast.GeneratorExp, gast.SetComp, gast.DictComp)):
            visit(node.generators[0].iter)  # (evaluated at once, where the generator is made)
            return
        if isinstance(node, (gast.IfExp, gast.BoolOp, gast.Lambda)) or \
                _is_sum_of_comprehension(node):
            return
        for child in gast.iter_child_nodes(node):
            visit(child)

    if isinstance(stmt, (gast.FunctionDef, gast.AsyncFunctionDef, gast.ClassDef, gast.While)):
        return found
    for field, value in gast.iter_fields(stmt):
        if field in ("body", "orelse", "finalbody", "handlers"):
            continue
        for node in value if isinstance(value, list) else [value]:
            if isinstance(node, gast.AST):
                visit(node)
    return found


class _Lists:
    def __init__(self, names, rt, numpy, taken, scope, enclosing):
        self.names, self.rt, self.np, self.taken = set(names), rt, numpy, taken
        self.scope = {**(enclosing or {}), **scope}  # (what names resolve to)
        self.write_scope = scope  # (where a builtin the lowered code calls joins)
        self.counts = {}
        self.shown = {}  # a comprehension's list -> how messages name it
        self.stmt = None

    # ---- statements --------------------------------------------------------------------

    def block(self, stmts):
        out = []
        for s in stmts:
            out.extend(self.statement(s))
        return out

    def statement(self, s):
        self.stmt = s
        if isinstance(s, (gast.FunctionDef, gast.AsyncFunctionDef, gast.ClassDef)):
            self.refuse_inside(s, "is read by a function defined inside this one")
            return [s]
        before = []
        made = s.value if isinstance(s, (gast.Assign, gast.AnnAssign)) and \
            isinstance(s.value, gast.ListComp) else None  # (ys = [...]: made in place)
        for comprehension in _hoistable_comprehensions(s):
            if comprehension is made:
                continue
            name = _fresh("items", self.taken)
            self.names.add(name)
            self.shown[name] = "made by a list comprehension"
            before += self.built(name, comprehension)
            _replace(s, comprehension, templates.make_name(name))
            self.stmt = s
        return before + self.lowered(s)

    def lowered(self, s):
        target = s.targets[0] if isinstance(s, gast.Assign) and len(s.targets) == 1 else \
            s.target if isinstance(s, (gast.AnnAssign, gast.AugAssign)) else None
        if isinstance(s, (gast.Assign, gast.AnnAssign)) and isinstance(target, gast.Name) and \
                target.id in self.names:
            if not _makes_a_list(s.value, self.names):
                self.refuse(target.id, "is assigned something other than a list")
            return self.built(target.id, s.value)
        if isinstance(s, gast.AugAssign) and self.is_list(target, inside=True):
            self.refuse(self.list_of(target), f"has an item updated in place "
                        f"({templates.to_source(target)} op= v): write "
                        f"{templates.to_source(target)} = {templates.to_source(target)} op v")
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
                isinstance(s.value.func, gast.Attribute) and self.is_list(s.value.func.value):
            return self.method(s.value)
        if isinstance(s, gast.Assign) and len(s.targets) == 1 and \
                isinstance(target, gast.Subscript) and self.is_list(target.value):
            return self.store(target, s.value)
        if isinstance(s, gast.For):
            s.iter = self.iterable(s.iter)
            self.refuse_appending_to(s.iter, s.body)
        elif isinstance(s, (gast.If, gast.While)):
            s.test = self.test(s.test)
        for field, value in gast.iter_fields(s):
            if field in ("body", "orelse", "finalbody"):
                setattr(s, field, self.block(value))
            elif field == "handlers":
                for handler in value:
                    handler.body = self.block(handler.body)
            elif field not in ("iter", "test") or not isinstance(s, (gast.For, gast.If,
                                                                      gast.While)):
                setattr(s, field, self.rewritten(value))
        return [s]

    def built(self, name, value):
        """The statements making `name` the list `value` (a literal or a comprehension)."""
        if any(isinstance(n, gast.Name) and n.id == name for n in gast.walk(value)):
            self.refuse(name, "is made from itself (build the new list under a name of its own "
                        "and read that one)")
        count = self.count(name)
        out = [self.located(templates.fill_stmt(f"ys = {self.rt}.list_empty()", ys=name)),
               self.located(templates.fill_stmt("n = 0", n=count))]
        if isinstance(value, gast.List):
            for item in value.elts:
                if isinstance(item, gast.Starred):
                    self.refuse(name, "is made with *")
                out += self.appended(name, item, f"{name} = [...]")
            return out
        if _repeated(value) is not None:  # (one item, evaluated once: the same object n times)
            item, count = _repeated(value)
            if self.scope.setdefault("range", range) is not range or \
                    self.write_scope.setdefault("range", range) is not range:
                self.refuse(name, "is made by [v] * n in a function that rebinds 'range'")
            once = _fresh(f"{name}_item", self.taken)
            out.append(self.located(templates.make_assign(once, self.rewritten(item))))
            value = templates.fill("[v for _ in range(n)]", v=once, n=count)
            value.generators[0].target.id = _fresh("_", self.taken)
        elif isinstance(value, gast.Subscript):  # a slice of a list: a new list of its items
            value = templates.fill("[v for v in items]", v=_fresh("item", self.taken),
                                   items=value)
        loop = self.appended_in_loop(name, value)
        return out + self.block([loop])

    def appended_in_loop(self, name, comprehension):
        """The loop of a comprehension `[e for v in it if c ...]`, appending to `name`; its
        variables renamed to names of their own (a comprehension has its own scope)."""
        renames = {}
        generators = comprehension.generators
        for generator in generators:
            if generator.is_async:
                self.refuse(name, "is made by an async comprehension")
            for n in gast.walk(generator.target):
                if isinstance(n, gast.Name):
                    renames.setdefault(n.id, _fresh(n.id, self.taken))
        later = [comprehension.elt] + [g.target for g in generators] + \
            [c for g in generators for c in g.ifs] + [g.iter for g in generators[1:]]
        for node in later:
            for n in gast.walk(node):
                if isinstance(n, gast.Name) and n.id in renames:
                    n.id = renames[n.id]
        append = gast.Call(func=gast.Attribute(value=templates.make_name(name), attr="append",
                                               ctx=gast.Load()),
                           args=[comprehension.elt], keywords=[])
        body = [self.located(gast.Expr(value=append))]
        for generator in reversed(generators):
            for condition in reversed(generator.ifs):
                body = [self.located(gast.If(test=condition, body=body, orelse=[]))]
            body = [self.located(gast.For(target=generator.target, iter=generator.iter,
                                          body=body, orelse=[], type_comment=None))]
        return body[0]

    def appended(self, name, item, written=None):
        """The statements appending `item` (an expression of the user's) to list `name`
        (`written`: how messages name the statement)."""
        if isinstance(item, (gast.Tuple, gast.List, gast.ListComp, gast.Dict, gast.Set)):
            self.refuse(name, f"holds {type(item).__name__.lower()}s (srcad takes lists of "
                        "numbers or of arrays of one shape)")
        out, item = self.atom(name, item)
        count, rt = self.count(name), self.rt
        where = templates.make_const(self.where(written or f"{name}.append(...)"))
        grow = templates.fill_stmt(
            f"if {rt}.list_full(ys, n, v, where):\n    ys = {rt}.list_grown(ys, n, v)",
            n=count, ys=name, v=item, where=where)
        store = templates.fill_stmt("ys[n] = v", n=count, ys=name, v=item)
        step = templates.fill_stmt("n += 1", n=count)
        return out + [self.located(s) for s in (grow, store, step)]

    def atom(self, name, value):
        """(statements, a name or constant) holding the item `value` put in list `name`, which
        the lowered code reads several times."""
        value = self.rewritten(value)
        if isinstance(value, (gast.Name, gast.Constant)):
            return [], value
        item = _fresh(f"{name}_item", self.taken)
        return [self.located(templates.make_assign(item, value))], templates.make_name(item)

    def method(self, call):
        name = call.func.value.id
        if call.func.attr != "append":
            self.refuse(name, f"has its method {call.func.attr}() called (srcad lowers "
                        "append() alone)")
        if len(call.args) != 1 or call.keywords or isinstance(call.args[0], gast.Starred):
            self.refuse(name, "has append() called with other than one argument")
        return self.appended(name, call.args[0])

    def store(self, target, value):
        name, index = target.value.id, target.slice
        if isinstance(index, gast.Slice):
            self.refuse(name, "has a slice assigned (ys[a:b] = ...)")
        out, value = self.atom(name, value)
        where = templates.make_const(self.where(templates.to_source(target)))
        return out + [self.located(templates.fill_stmt(
            f"ys[{self.rt}.list_slot(ys, k, n, v, where)] = v", ys=name, n=self.count(name),
            k=self.rewritten(index), v=value, where=where))]

    def iterable(self, node):
        """A for loop's iterable: a list as its items (an array), in enumerate/zip/reversed
        too."""
        if self.listed(node):
            return self.as_items(node)
        if isinstance(node, gast.Call) and self.builtin(node.func) in _ITERATORS:
            node.args = [self.iterable(a) for a in node.args]
            node.keywords = self.rewritten(node.keywords)
            return node
        return self.rewritten(node)

    def refuse_appending_to(self, iterable, body):
        for node in gast.walk(iterable):
            if isinstance(node, gast.Subscript) and self.is_list(node.value):
                for s in _statements(body):
                    if self.appends_to(s, node.value.id):
                        self.refuse(node.value.id, "is appended to while a for loop goes "
                                    "through it")

    def appends_to(self, s, name):
        return isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
            isinstance(s.value.func, gast.Attribute) and \
            isinstance(s.value.func.value, gast.Name) and s.value.func.value.id == name

    def test(self, node):
        """`if ys:` / `while not ys:` as tests of its count."""
        if self.is_list(node):
            return templates.fill("n > 0", n=self.count(node.id))
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.Not) and \
                self.is_list(node.operand):
            return templates.fill("n == 0", n=self.count(node.operand.id))
        return self.rewritten(node)

    # ---- expressions -------------------------------------------------------------------

    def rewritten(self, value):
        """`value` (a node, a list of them, or a plain field) with every use of a list in it
        lowered, or refused."""
        if isinstance(value, list):
            return [self.rewritten(v) for v in value]
        if not isinstance(value, gast.AST):
            return value
        if isinstance(value, (gast.Lambda, gast.FunctionDef)):
            self.refuse_inside(value, "is read by a lambda")
            return value
        if isinstance(value, gast.Subscript) and self.is_list(value.value) and \
                isinstance(value.ctx, gast.Load):
            name = value.value.id
            if isinstance(value.slice, gast.Slice):
                self.refuse(name, "is sliced where the slice is a list of its own (srcad takes "
                            "a slice read by a loop, len() or NumPy: np.mean(ys[-5:]))")
            written = templates.to_source(value)
            return _as_written(templates.fill(
                f"ys[{self.rt}.list_index(k, n, where)]", ys=name,
                k=self.rewritten(value.slice), n=self.count(name),
                where=templates.make_const(self.where(written))), written)
        if isinstance(value, gast.Subscript) and not self.is_list(value.value):  # x[idx, :]
            value.value = self.rewritten(value.value)
            indices = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
            indices = [self.items(i.id) if self.is_list(i) else self.rewritten(i)
                       for i in indices]
            value.slice = gast.Tuple(elts=indices, ctx=gast.Load()) \
                if isinstance(value.slice, gast.Tuple) else indices[0]
            return value
        if isinstance(value, gast.Call):
            return self.call(value)
        if isinstance(value, gast.comprehension):  # (of a generator: sum(e for y in ys))
            value.target, value.ifs = self.rewritten(value.target), self.rewritten(value.ifs)
            value.iter = self.iterable(value.iter)
            return value
        if self.is_list(value):
            parent = templates.to_source(self.stmt) if self.stmt is not None else ""
            self.refuse(value.id, f"is used where srcad does not lower a list "
                        f"({parent.strip().splitlines()[0]})")
        for field, child in gast.iter_fields(value):
            setattr(value, field, self.rewritten(child))
        return value

    def call(self, node):
        func = self.builtin(node.func)
        lists = [a for a in node.args + [k.value for k in node.keywords] if self.listed(a)]
        if not lists:
            node.func = self.rewritten(node.func)
            node.args, node.keywords = self.rewritten(node.args), self.rewritten(node.keywords)
            return node
        name = self.listed(lists[0])
        if func is len and len(node.args) == 1 and not node.keywords and self.is_list(lists[0]):
            return _as_written(templates.make_name(self.count(name)), f"len({name})")
        axis = node.args[1:] + [k.value for k in node.keywords if k.arg == "axis"]
        if func is np.stack and node.args and self.is_list(node.args[0]) and \
                len(node.args) + len(node.keywords) == 1 + len(axis) <= 2 and \
                all(_int_constant(a) is not None for a in axis):
            where = templates.make_const(self.where(templates.to_source(node)))
            stacked = _as_written(templates.fill(
                f"np.copy(ys[:{self.rt}.list_stacked(n, where)])", np=self.np, ys=name,
                n=self.count(name), where=where), name)
            if not axis or _int_constant(axis[0]) == 0:
                return stacked
            return templates.fill("np.moveaxis(ys, 0, k)", np=self.np, ys=stacked,
                                  k=templates.make_const(_int_constant(axis[0])))
        if func in _JOINS:
            self.refuse(name, f"is passed to {templates.to_source(node.func)}() (srcad takes "
                        f"np.array({name}) and np.stack({name}, axis=<a constant>))")
        if func in (sum, len) or self.is_numpy(func):
            # (np.asarray(ys) is a view of the array: aliasing.py refuses a write either sees)
            node.args = [self.as_items(a) if self.listed(a) else self.rewritten(a)
                         for a in node.args]
            for keyword in node.keywords:
                keyword.value = self.as_items(keyword.value) if self.listed(keyword.value) \
                    else self.rewritten(keyword.value)
            return node
        what = templates.to_source(node.func)
        self.refuse(name, f"is passed to {what}() (pass np.array({name}) to a function of your "
                    "own)")

    # ---- names and checks --------------------------------------------------------------

    def is_list(self, node, inside=False):
        if inside:
            return isinstance(node, gast.Subscript) and self.is_list(node.value, True) or \
                self.is_list(node)
        return isinstance(node, gast.Name) and node.id in self.names

    def list_of(self, node):
        while isinstance(node, gast.Subscript):
            node = node.value
        return node.id

    def items(self, name):
        """The list's items, as an array."""
        return _as_written(templates.fill("ys[:n]", ys=name, n=self.count(name)), name)

    def listed(self, node):
        """The list `node` is, or takes a slice of (`ys[-5:]`, read as its items are: by a
        loop, len() or NumPy; never as a list of its own, `ys[1:] + [v]`), else None."""
        if self.is_list(node):
            return node.id
        if isinstance(node, gast.Subscript) and self.is_list(node.value) and \
                isinstance(node.slice, gast.Slice):
            return node.value.id
        return None

    def as_items(self, node):
        """The items of a list or a slice of it (`listed`), as an array."""
        if self.is_list(node):
            return self.items(node.id)
        written = templates.to_source(node)
        return _as_written(gast.Subscript(value=self.items(node.value.id),
                                          slice=self.rewritten(node.slice), ctx=gast.Load()),
                           written)

    def count(self, name):
        if name not in self.counts:
            self.counts[name] = _fresh(f"{name}_len", self.taken)
        return self.counts[name]

    def builtin(self, func):
        obj = resolve(func, self.scope)
        if obj is None and isinstance(func, gast.Name):
            obj = getattr(builtins, func.id, None)
        return obj

    def is_numpy(self, func):
        if func is None or not is_library(func):
            return False
        module = getattr(func, "__module__", None) or ""
        return isinstance(func, np.ufunc) or module.split(".")[0] in ("numpy", "scipy")

    def located(self, stmt):
        for node in gast.walk(stmt):
            anno.copy_loc(node, self.stmt)
        return stmt

    def where(self, text):
        loc = anno.getanno(self.stmt, "loc")
        place = f" at {os.path.basename(loc.file)}:{loc.line}" if loc is not None else ""
        return f"{text}{place}"

    def refuse_inside(self, node, what):
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and n.id in self.names:
                self.refuse(n.id, what)

    def refuse(self, name, what):
        shown = f"the list {self.shown[name]}" if name in self.shown else f"the list '{name}'"
        raise UnsupportedError(f"{shown} {what}: {_SUPPORTED}", anno.getanno(self.stmt, "loc"))


def _int_constant(node):
    """The int `node` writes (`2`, `-1`), else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        value = _int_constant(node.operand)
        return None if value is None else -value
    return node.value if isinstance(node, gast.Constant) and type(node.value) is int else None


def _as_written(node, text):
    """`node`, which messages write as the user's `text` (templates.SourceText)."""
    return anno.setanno(node, "as_written", text)


def _replace(tree, old, new):
    """Replace the node `old` below `tree` by `new`."""
    for node in gast.walk(tree):
        for field, value in gast.iter_fields(node):
            if value is old:
                setattr(node, field, new)
                return
            if isinstance(value, list):
                for k, v in enumerate(value):
                    if v is old:
                        value[k] = new
                        return
