"""Aliasing: which array variables may share memory, and refusing writes the by-name
transform would get wrong.

Input: a core-form tree and its types. Output: `Aliases`, and an AliasingError for real
aliasing. srcad differentiates variables by name; a write into an array changes every other
name sharing its memory (a view `row = A[0]`, a second name `z = y`), which the transform
would not see. Such a write is refused only when one of those other names is read after it
(`row = A[0]; A[0, 1] = 5.0; use(row)`): double buffers swapped every trip (`u, v = v, u`),
a buffer allocated anew each trip, or a write before `u = v` share nothing that is read
later, and are compiled.

The analysis follows program order: the state at each point is the set of pairs of array
names that may share memory there. An assignment of a new array (arithmetic, a copy, a
NumPy function) drops every pair of its target; a second name or a view pairs its target
with the base and with everything the base is paired with; at the join of an `if`, and
around a loop until nothing changes, pairs from either path are kept. (Pairs, rather than
which allocation each name holds, keep names that trade arrays around a loop apart.)

For the save planner, `Aliases.shares` lists every name each name may ever share memory
with: an element store into an array must save what reads of those names need.
"""

from dataclasses import dataclass

import gast
import numpy as np

from . import anno
from .lists import appends
from .. import rules, runtime
from ..kernels import arrays as array_kernels
from ..errors import AliasingError
from .templates import SourceText, make_name, names_read, walk
from .typeinfer import UNKNOWN

# NumPy functions whose result may be a view of (the same memory as) their first argument;
# a library function with no derivative rule is assumed to be one too (`may_be_view`)
VIEWS = {np.transpose, np.reshape, np.ravel, np.asarray, np.ascontiguousarray,
         np.asfortranarray, np.asanyarray, np.require, np.atleast_1d, np.atleast_2d,
         np.atleast_3d, np.squeeze, np.expand_dims, np.swapaxes, np.moveaxis, np.rollaxis,
         np.flip, np.flipud, np.fliplr, np.rot90, np.real, np.imag, np.diagonal,
         np.broadcast_to, np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit,
         np.trim_zeros, np.real_if_close, np.asarray_chkfinite, array_kernels.flat}

# functions of an array that make new integer arrays of indices into it
INDEX_MAKERS = (np.nonzero, np.flatnonzero, np.argwhere, np.triu_indices_from,
                np.tril_indices_from, np.diag_indices_from)


@dataclass
class Aliases:
    shares: dict  # name -> the names it may share memory with, anywhere in the function
    views: dict  # name -> base, for names assigned a view of (or a second name for) an array

    def memory_written(self, stored):
        """The names whose memory a store into one of the arrays `stored` may change."""
        return set(stored).union(*(self.shares.get(s, set()) for s in stored))


def analyze(tree, types, origins=None):
    """The aliasing of `tree`'s arrays (`origins`: the user's expression each temporary holds,
    for the messages).

    Raises:
        AliasingError: a write into an array while another name for its memory is read later.
    """
    live_after = {}
    _liveness(tree.body, set(), live_after)
    walker = _Pairs(types, live_after, origins, lists=appends(tree))
    walker.block(tree.body, frozenset())
    shares = {}
    for a, b in walker.ever:
        shares.setdefault(a, set()).add(b)
        shares.setdefault(b, set()).add(a)
    return Aliases(shares, views(tree, types))


def zero_d_writes(tree, types, origins=None):
    """The AliasingError message of the first in-place update of a float name (`x += 1.0`)
    while another name for its value is read later (`y = x`), or None. Such a name holds a
    number, never shared, unless the caller passes a 0-d array, which NumPy updates in place
    (the call checks for one: srcad gives the code a 0-d array as the number it holds)."""
    live_after = {}
    _liveness(tree.body, set(), live_after)
    try:
        _Pairs(types, live_after, origins, zero_d=_may_hold_0d_arrays(tree, types)).block(
            tree.body, frozenset())
    except AliasingError as exc:
        return str(exc)
    return None


def _may_hold_0d_arrays(tree, types):
    """The float names that may hold a 0-d array argument: the parameters, and second names,
    views and copies of what may (arithmetic on a 0-d array gives a NumPy scalar)."""
    found = {a.id for a in tree.args.args if types.get(a.id, UNKNOWN).kind == "f"}
    while True:
        more = {node.targets[0].id for node in walk(tree)
                if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and
                node.targets[0].id not in found and
                types.get(node.targets[0].id, UNKNOWN).kind == "f" and
                _array_of(node.value, types) in found}
        if not more:
            return found
        found |= more


def _array_of(value, types):
    """The name whose 0-d array `value` may be (or a copy of), else None."""
    if isinstance(value, gast.Call) and value.args and isinstance(value.args[0], gast.Name) and \
            anno.getanno(value.func, "func") in ALLOCATIONS + (np.array,):
        return value.args[0].id
    return view_base(value, types)


def views(tree, types):
    """{view: base} for the array variables some assignment makes a view of (or a second name
    for) another; a view is free to recompute (save planning)."""
    out = {}
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            target = node.targets[0].id
            base = view_base(node.value, types)
            if base is not None and base != target and types.get(target, UNKNOWN).is_array:
                out.setdefault(target, base)
    return out


def view_base(value, types):
    """The variable whose memory `value` (a core expression) may share, or None."""
    if isinstance(value, gast.Name):
        return value.id
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
        index = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        basic = not any(isinstance(i, gast.Name) and types.get(i.id, UNKNOWN).is_array
                        for i in index)
        return value.value.id if basic else None
    if isinstance(value, gast.Call) and value.args and isinstance(value.args[0], gast.Name) and \
            may_be_view(anno.getanno(value.func, "func"), value, types):
        return value.args[0].id
    if isinstance(value, gast.Call) and anno.getanno(value.func, "func") is rules.EINSUM:
        operands = value.args[0].elts
        if len(operands) == 1 and isinstance(operands[0], gast.Name):
            return operands[0].id  # (np.einsum('ij->ji', a) is a view of a)
    return None


# functions returning an array in new memory, whatever their arguments
ALLOCATIONS = (np.empty, np.zeros, np.ones, np.full, np.empty_like, np.zeros_like,
               np.ones_like, np.full_like, np.copy)


def may_be_view(func, call, types):
    """May `call` of `func` return (a part of) its first argument's memory?"""
    if isinstance(func, np.ufunc) or any(func is f for f in ALLOCATIONS + INDEX_MAKERS):
        return False  # (a custom_vjp function may return its argument: `return x`)
    if func is np.diag:  # (the diagonal of a matrix, a matrix made of a vector)
        return types.get(call.args[0].id, UNKNOWN).ndim != 1
    if func is np.array:  # np.array(x, copy=False) is x where it can be
        return any(k.arg == "copy" and not (isinstance(k.value, gast.Constant) and
                                            k.value.value is True) for k in call.keywords)
    try:
        return func in VIEWS or rules.lookup(func) is None
    except TypeError:  # unhashable
        return True


class _Pairs:
    """Forward dataflow of the may-share-memory pairs (frozensets of sorted name pairs)."""

    def __init__(self, types, live_after, origins=None, zero_d=None, lists=()):
        self.types, self.live_after, self.origins = types, live_after, origins
        self.zero_d = zero_d  # the names that may hold a 0-d array (zero_d_writes), or None
        self.ever = set()
        # a list's array ({array: count}) shares memory with every item put in it (the list
        # holds the items themselves), also once grown; an append writes a slot nothing else
        # holds, replacing an item (at a slot rt.list_slot gives) one views of it may hold
        self.lists, self.replaced = lists, set()
        # (an item put in a list is copied into its array: replacing the item writes memory
        # views of the list's array share, not the memory of what was put in)
        self.viewed = set()

    def tracked(self, name):
        ty = self.types.get(name, UNKNOWN)
        if self.zero_d is not None:
            return ty.kind == "f" and ty.ndim == 0 and name in self.zero_d
        return ty.is_array or ty.kind in ("tuple", "unknown")  # (unknown: may be one)

    def block(self, stmts, pairs):
        for stmt in stmts:
            pairs = self.stmt(stmt, pairs)
        return pairs

    def stmt(self, s, pairs):
        if isinstance(s, gast.If):
            return self.block(s.body, pairs) | self.block(s.orelse, pairs)
        if isinstance(s, (gast.For, gast.While)):
            entry = pairs
            while True:
                after = self.block(s.body, entry)
                if after <= entry:
                    return entry
                entry = entry | after
        if not isinstance(s, (gast.Assign, gast.AugAssign)):  # return, break
            return pairs
        target = s.targets[0] if isinstance(s, gast.Assign) else s.target
        if isinstance(target, gast.Name) and isinstance(s.value, gast.Call) and \
                anno.getanno(s.value.func, "func") is runtime.list_slot:
            self.replaced.add(target.id)
        if isinstance(target, gast.Subscript) and target.value.id in self.lists and \
                isinstance(target.slice, gast.Name) and \
                target.slice.id in (self.replaced | {self.lists[target.value.id]}):
            return self.item_stored(target, s, pairs)
        if isinstance(target, gast.Subscript) or anno.getanno(s, "inplace"):
            name = target.value.id if isinstance(target, gast.Subscript) else target.id
            self.check_write(name, pairs, s)
            if isinstance(target, gast.Subscript):
                return pairs
        name = target.id
        if not self.tracked(name):
            return pairs
        base = view_base(s.value, self.types) if isinstance(s, gast.Assign) and \
            not anno.getanno(s, "inplace") else None
        if isinstance(s.value, gast.Tuple):  # a tuple of arrays: its elements' memory
            bases = {e.id for e in s.value.elts if isinstance(e, gast.Name)}
        else:
            bases = {base} if base is not None else set()
        if self.zero_d is not None:  # (an element of an array is a number of its own)
            bases = {b for b in bases if self.tracked(b)}
        partners = set()
        for b in bases - {name}:
            partners |= {b} | _partners(pairs, b)
        if name in bases:  # x = x[1:]: still shares what x shared
            partners |= _partners(pairs, name)
        if name not in self.lists:
            pairs = frozenset(p for p in pairs if name not in p)
        new = {_pair(name, p) for p in partners - {name}}
        self.ever |= new
        self.viewed |= new
        return pairs | new

    def item_stored(self, target, s, pairs):
        """`ys[slot] = v` into a list's array: an append writes a new slot; replacing an item
        writes memory that views of the old item share."""
        name = target.value.id
        if target.slice.id in self.replaced:
            only_put = {p for p in _partners(pairs, name) if _pair(name, p) not in self.viewed}
            self.check_write(name, pairs - {_pair(name, p) for p in only_put}, s)
        item = s.value.id if isinstance(s.value, gast.Name) and self.tracked(s.value.id) else None
        if item is None:
            return pairs
        new = {_pair(name, p) for p in ({item} | _partners(pairs, item)) - {name}}
        self.ever |= new
        return pairs | new

    def check_write(self, name, pairs, s):
        for other in sorted(_partners(pairs, name)):
            if other in self.live_after.get(id(s), ()):
                written, shared = (SourceText(make_name(n), self.origins) for n in (name, other))
                if self.zero_d is not None:
                    raise AliasingError(
                        f"an update in place of '{written}' changes '{shared}' when they hold "
                        f"a 0-d array argument (NumPy updates a 0-d array in place, every name "
                        f"for it sees the change; srcad gives the code a 0-d array as the "
                        f"number it holds): pass a number (float(x)), or write "
                        f"{written} = {written} + ... instead", anno.getanno(s, "loc"))
                raise AliasingError(
                    f"a write into '{written}' changes '{shared}', which shares its memory and "
                    f"is read later: srcad follows values by name and would not see that change "
                    f"(take a .copy() where one of them is made, or index the array itself: "
                    f"x[i, :] = v rather than x[i][:] = v)", anno.getanno(s, "loc"))


def _pair(a, b):
    return (a, b) if a < b else (b, a)


def _partners(pairs, name):
    return {b if a == name else a for a, b in pairs if name in (a, b)}


# ---- forward liveness: which names a later statement may read ------------------------------

def _liveness(stmts, live, out):
    """Names live before `stmts` given those live after; records, for every statement, the
    names live after it in `out` (by id)."""
    for s in reversed(stmts):
        out[id(s)] = out.get(id(s), frozenset()) | frozenset(live)
        live = _live_before(s, live, out)
    return live


def _live_before(s, live, out):
    if isinstance(s, gast.If):
        return _liveness(s.body, live, out) | _liveness(s.orelse, live, out) | \
            names_read(s.test)
    if isinstance(s, (gast.For, gast.While)):
        head = names_read(s.iter if isinstance(s, gast.For) else s.test)
        index = {s.target.id} if isinstance(s, gast.For) else set()
        at_head = set(live) | head
        while True:  # (a later trip reads what the body reads first)
            inside = _liveness(s.body, at_head, out) - index
            if inside <= at_head:
                return at_head
            at_head |= inside
    if isinstance(s, gast.Return):
        return names_read(s)
    if not isinstance(s, (gast.Assign, gast.AugAssign)):  # break (liveness over-estimated)
        return set(live)
    target = s.targets[0] if isinstance(s, gast.Assign) else s.target
    read = names_read(s.value) | (names_read(target.slice) if isinstance(target, gast.Subscript)
                                  else set())
    if isinstance(target, gast.Name) and not isinstance(s, gast.AugAssign):
        return (set(live) - {target.id}) | read
    return set(live) | read | ({target.id} if isinstance(s, gast.AugAssign) and
                               isinstance(target, gast.Name) else set())


# helpers whose result never shares memory with an argument (so it may become an adjoint
# that is later updated in place)
FRESH_HELPERS = {"unbroadcast_copy", "unbroadcast_product", "broadcast_tangent", "reshape_like",
                 "matmul_adjoint_a", "matmul_adjoint_b", "full", "zeros_like", "empty", "zeros",
                 "ones", "empty_like", "ones_like", "full_like", "copy", "outer", "dot", "matmul",
                 "sum", "linspace_weighted", "sum_adjoint", "mean_adjoint", "prod_adjoint",
                 "extremum_adjoint", "var_adjoint", "std_adjoint", "cumsum_adjoint",
                 "cumprod_adjoint"}


def is_fresh(expr):
    """Does `expr` certainly evaluate to a new array (never an alias of a variable)?"""
    if isinstance(expr, (gast.BinOp, gast.UnaryOp)):
        return True
    if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Attribute):
        if expr.func.attr == "unbroadcast":  # its argument itself when the shapes agree
            return is_fresh(expr.args[0])
        return expr.func.attr in FRESH_HELPERS
    return False
