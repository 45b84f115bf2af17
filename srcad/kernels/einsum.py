"""np.einsum with constant subscripts ("ij,kj->ik", or "ij,kj" for NumPy's implicit output),
and its adjoints, for plain Python and Numba nopython code.

Under Numba the subscripts must be a constant: a loop nest is written for them when the call is
compiled (one loop per index letter, the products accumulated into the result). The adjoint
for operand m is the same kind of contraction: g (with the output's subscripts) times the
other operands, summed into operand m's subscripts; an index only operand m has is broadcast
(it takes its size from operand m). Operands are float arrays; repeated indices within one
operand (diagonals, `ii->i`) are refused.
"""

import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable

from .arrays import diagonal
from .rows import constant


def explicit(subscripts):
    """Implicit subscripts ("ij,jk", no '->') made explicit as NumPy reads them: the output
    has the labels that appear once, in alphabetical order."""
    if "->" in subscripts or "." in subscripts:
        return subscripts
    labels = subscripts.replace(" ", "").replace(",", "")
    return subscripts + "->" + "".join(sorted(c for c in set(labels) if labels.count(c) == 1))


def diagonal_terms(subscripts):
    """(explicit subscripts, positions of the operands to replace by their diagonal): a term of
    one label twice ('ii', a matrix's diagonal; np.einsum('ii', a) is its trace) is written as
    that label, read from np.diagonal of its operand."""
    subscripts = explicit(subscripts)
    if "." in subscripts or subscripts.count("->") != 1:
        return subscripts, []  # (parse says what is wrong)
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    diagonals = [k for k, term in enumerate(terms) if len(term) == 2 and term[0] == term[1]]
    for k in diagonals:
        terms[k] = terms[k][0]
    return ",".join(terms) + "->" + output, diagonals


@register_jitable
def collapsed_diagonal(x):
    """np.diagonal(x) for an einsum term of one index twice ('ii'), which NumPy refuses for a
    matrix that is not square (np.diagonal would take the shorter side)."""
    if x.shape[0] != x.shape[1]:
        raise ValueError("einsum: dimensions in single operand for collapsing index don't match")
    return diagonal(x, 0)


def parse(subscripts, count):
    """(input terms, output term) of the subscripts for `count` operands."""
    if "." in subscripts:
        raise ValueError(f"srcad: einsum subscripts with '...' are not supported, "
                         f"got {subscripts!r}")
    subscripts = explicit(subscripts)
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    if len(terms) != count:
        raise ValueError(f"srcad: einsum subscripts {subscripts!r} are for {len(terms)} "
                         f"operands, given {count}")
    for term in terms + [output]:
        if len(set(term)) != len(term) or not term.isalpha() and term:
            raise ValueError(f"srcad: einsum term {term!r} repeats an index or is not letters "
                             "(diagonals are not supported)")
    if set(output) - set("".join(terms)):
        raise ValueError(f"srcad: einsum output {output!r} has an index no operand has")
    return terms, output


def adjoint_subscripts(subscripts, m, count):
    """The subscripts of the adjoint of operand m: `out,others->term_m`."""
    terms, output = parse(subscripts, count)
    others = [t for k, t in enumerate(terms) if k != m]
    return ",".join([output] + others) + "->" + terms[m]


def einsum(operands, subscripts):
    """np.einsum(subscripts, *operands)."""
    parse(subscripts, len(operands))
    return np.einsum(subscripts, *operands)


def einsum_adjoint(operands, subscripts, m, g):
    """The adjoint of operand m of np.einsum(subscripts, *operands), given the result's g."""
    terms, _ = parse(subscripts, len(operands))
    adjoint = adjoint_subscripts(subscripts, m, len(operands))
    others = [op for k, op in enumerate(operands) if k != m]
    sizes = {}  # (an index's length: NumPy broadcasts an operand's length 1 to the others')
    for term, operand in zip(terms, operands, strict=True):
        for c, n in zip(term, np.shape(operand), strict=True):
            sizes[c] = max(sizes.get(c, 1), n)
    full = tuple(sizes[c] for c in terms[m])
    only_m = set(terms[m]) - set(adjoint.split("->")[0])
    if not only_m:
        out = np.einsum(adjoint, g, *others)
    else:  # an index only operand m has: contract without it, then broadcast along it
        kept = "".join(c for c in terms[m] if c not in only_m)
        partial = np.einsum(adjoint.split("->")[0] + "->" + kept, g, *others)
        out = np.broadcast_to(partial.reshape([1 if c in only_m else -1 for c in terms[m]]) *
                              np.ones([sizes[c] if c in only_m else 1 for c in terms[m]]),
                              full).copy()
    if np.shape(out) != full:  # (another operand's length 1 along an index of m's)
        out = np.broadcast_to(out, full).copy()
    broadcast = tuple(k for k, n in enumerate(np.shape(operands[m])) if n == 1 and full[k] > 1)
    return np.sum(out, axis=broadcast, keepdims=True) if broadcast else out


def _loop_nest(name, factors, output, places, lender=None):
    """Source of `name(arrays)`: out[output] = sum over the other indices of the product of
    factors (term, array position); places: index -> [(array position, axis)] of every array
    holding it. An axis of length 1 broadcasts, as NumPy's: its index is multiplied by 0.
    With `lender` (an array's position), out has that array's shape and sums along its axes
    of length 1 (an adjoint of a broadcast operand)."""
    letters = list(dict.fromkeys(output + "".join(t for t, _ in factors)))
    lines = [f"def {name}(arrays):"]
    for c in letters:
        lines.append(f"    n_{c} = 1")
        lengths = [f"arrays[{p}].shape[{axis}]" for p, axis in places[c]]
        for length in lengths:
            lines.append(f"    if {length} != 1:\n        n_{c} = {length}")
        for (p, axis), length in zip(places[c], lengths, strict=True):
            if len(lengths) > 1:  # (NumPy's check: a loop bound too long reads past an array)
                lines.append(f"    if {length} != 1 and {length} != n_{c}:")
                lines.append(f"        raise ValueError(\"einsum: operands could not be broadcast "
                             f"together (index '{c}' has two lengths)\")")
                lines.append(f"    u_{p}_{axis} = 1 if {length} == n_{c} else 0")

    def index(term, p):
        return ", ".join(c if len(places[c]) == 1 else f"{c} * u_{p}_{axis}"
                         for axis, c in enumerate(term))

    if lender is None:
        shape, target = "".join(f"n_{c}, " for c in output), f"out[{', '.join(output)}]"
    else:
        shape = "".join(f"arrays[{lender}].shape[{axis}], " for axis in range(len(output)))
        target = f"out[{index(output, lender)}]"
    lines.append(f"    out = np.zeros(({shape}))")
    indent = "    "
    for c in letters:
        lines.append(f"{indent}for {c} in range(n_{c}):")
        indent += "    "
    product = " * ".join(f"arrays[{p}][{index(t, p)}]" if t else f"arrays[{p}]"
                         for t, p in factors) or "1.0"  # (a factor without indices: a scalar)
    if not output:
        target = "total"
        lines.insert(len(lines) - len(letters), "    total = 0.0")
    lines.append(f"{indent}{target} += {product}")
    lines.append("    return out" if output else "    return total")
    namespace = {"np": np}
    exec("\n".join(lines), namespace)  # noqa: S102 (a loop nest written here, from letters)
    return namespace[name]


def _places(terms):
    places = {}
    for position, term in enumerate(terms):
        for axis, c in enumerate(term):
            places.setdefault(c, []).append((position, axis))
    return places


def _literal_subscripts(operands, subscripts):
    text = constant(subscripts)
    if not isinstance(text, str):
        raise TypingError("srcad: compiled einsum needs its subscripts as a constant string")
    if not isinstance(operands, types.BaseTuple) or \
            not all(isinstance(t, types.Array) for t in operands):
        raise TypingError("srcad: einsum takes arrays")
    return text


@overload(einsum, prefer_literal=True)
def _einsum(operands, subscripts):
    text = _literal_subscripts(operands, subscripts)
    terms, output = parse(text, len(operands))
    nest = _loop_nest("contract", [(t, k) for k, t in enumerate(terms)], output, _places(terms))
    from numba import njit
    compiled = njit(nest)
    return lambda operands, subscripts: compiled(operands)


@overload(einsum_adjoint, prefer_literal=True)
def _einsum_adjoint(operands, subscripts, m, g):
    text = _literal_subscripts(operands, subscripts)
    k = constant(m)
    if not isinstance(k, int):
        raise TypingError("srcad: einsum_adjoint needs a constant operand number")
    terms, output = parse(text, len(operands))
    # arrays: (g, *operands); operand m only lends its sizes
    factors = [(output, 0)] + [(t, j + 1) for j, t in enumerate(terms) if j != k]
    nest = _loop_nest("adjoint", factors, terms[k], _places([output] + terms), lender=k + 1)
    from numba import njit
    compiled = njit(nest)
    return lambda operands, subscripts, m, g: compiled((g,) + operands)
