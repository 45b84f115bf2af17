"""Render docs/numpy.md, the functions srcad differentiates, from the rule table (srcad.rules).

    python -m tools.numpydoc            # rewrite docs/numpy.md
    python -m tools.numpydoc --check    # exit 1 if docs/numpy.md is out of date
"""

import builtins
import math
import operator
import sys
import textwrap
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.special

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "numpy.md"
HEADER = """# Functions srcad differentiates

Generated from srcad's rule table (`srcad/rules.py`) by `python -m tools.numpydoc`; do not edit
by hand (a test fails when this file is out of date).

Every function below is differentiated in both of srcad's engines: the source transform
(compiled with Numba) and the runtime tape. Each rule is checked against central finite
differences in both (`tests/test_rules.py`, `tests/tape/test_rules_parity.py`), compiled and
as generated Python. *Arguments* lists what a call may pass; differentiable ones in bold (a
derivative with respect to another argument is an error, never a zero). *Compiled as* names
the kernel of `srcad.kernels` that compiled code calls where Numba has no form of its own
(always, or only for a call with more than its first argument). *Forward mode* says where
`srcad.jvp` takes the tangent from (`t` is the argument's tangent): from linearity (the
function of the tangents), from the reverse partial with `g` replaced by `t` (summed over the
reduced slice for a reduction), or from a formula of its own; `tests/test_forward_rules.py`
checks each against finite differences. Functions not listed here are an error in the source
transform (naming the call and its line) and, in `mode="auto"`, run on the tape if it knows
them. A list or tuple written where a function below reads an array (`np.sum([a, b])`,
`np.exp((x, y))`, `np.cumsum([a, b])`) is the array NumPy makes of it; an argument of `None`
where the parameter's default is `None` (`np.max(x, 1, None, True)`, `out=None`) is as if left
out; `np.concatenate((a, b), axis=None)` concatenates the arrays raveled; `np.r_[a, b, ...]` of
arrays, numbers and lists (no slices or strings) is `np.concatenate` of each `np.atleast_1d`.
"""

_OPERATORS = {operator.add: "`+`", operator.sub: "`-`", operator.mul: "`*`",
              operator.truediv: "`/`", operator.pow: "`**`", operator.neg: "unary `-`",
              operator.pos: "unary `+`", operator.mod: "`%`", operator.matmul: "`@`",
              operator.lt: "`<`", operator.le: "`<=`", operator.gt: "`>`", operator.ge: "`>=`",
              operator.eq: "`==`", operator.ne: "`!=`", operator.not_: "`not`",
              operator.floordiv: "`//`", operator.and_: "`&`", operator.or_: "`|`",
              operator.xor: "`^`", operator.invert: "`~`"}
_NAMESPACES = ((np, "np"), (np.linalg, "np.linalg"), (math, "math"),
               (scipy.special, "scipy.special"), (scipy.linalg, "scipy.linalg"), (builtins, ""))


def spell(key):
    """'np.sum', 'scipy.special.gammaln', '`+`' for a rule's key; None for srcad's own."""
    if key in _OPERATORS:
        return _OPERATORS[key]
    for module, prefix in _NAMESPACES:
        name = getattr(key, "__name__", None)
        if name and getattr(module, name, None) is key:
            return f"`{prefix}.{name}`" if prefix else f"`{name}`"
    return None


def render():
    from srcad import rules
    from srcad.kernels import arrays

    several = {part: f"`{spell(fn).strip('`')}(...)[{k}]`"
               for fn, parts in rules.SEVERAL_RESULTS.items() for k, part in enumerate(parts)}
    several[rules.EINSUM] = ("`np.einsum(subscripts, *operands)` (constant subscripts, with "
                             "`->` or implicit; no `...`; an index twice in one term only as a "
                             "square operand's whole term, `ii`)")
    several[arrays.outer_operand] = ("`np.<ufunc>.outer(a, b)` (`np.<ufunc>` of **a**, given "
                                     "an axis of length 1 per axis of b by this rule, and **b**)")
    several[arrays.flat] = ("`np.append(arr, values, axis=None)` (`np.concatenate` of **arr** "
                            "and **values**, each flattened by this rule when axis is None)")
    sections = {}
    seen = set()
    for rule in rules.REGISTRY.values():
        if id(rule) in seen:  # (one row per rule, in table order)
            continue
        seen.add(id(rule))
        label = ", ".join(filter(None, (spell(k) or several.get(k) for k in rule.keys)))
        if label:  # (not srcad's own helpers the generated code calls)
            sections.setdefault(rule.section, []).append((label, rule))
    parts = [HEADER]
    for title, rows in sections.items():
        parts.append(f"\n## {title}\n")
        if rows[0][1].nondiff:
            parts.append(", ".join(name for name, _ in rows) + "\n")
            continue
        parts.append("| Function | Arguments | Compiled as | Forward mode |\n|---|---|---|---|")
        for name, rule in rows:
            parts.append(f"| {name} | {_arguments(rule)} | {_compiled(rule)} | "
                         f"{_forward(rule)} |")
    parts.append(_compositions())
    return "\n".join(parts).rstrip() + "\n"


def _compositions():
    """The functions srcad writes with those above (srcad/compiler/compositions.py)."""
    from srcad.compiler import compositions

    about = textwrap.fill(
        "The source transform writes these with the functions above (as their documentation "
        "defines them; `srcad/compiler/compositions.py`), so their derivatives are those "
        "functions' rules. An argument not shown is refused by name. The tape takes every one "
        "(SciPy's and math's names of NumPy's functions as NumPy's, the others written the "
        "same way in `srcad/tape/numpy_api.py`), with the arguments NumPy's take.", 96)
    rows = ["\n## Written with the functions above\n", about + "\n",
            "| Function | Written as |\n|---|---|"]
    for function, lowering in compositions.COMPOSITIONS.items():
        written = " ".join((lowering.__doc__ or "").split()).replace("|", "\\|")
        rows.append(f"| {spell(function)} | {written} |")
    return "\n".join(rows)


def _arguments(rule):
    differentiable = set(rule.partials) | ({rule.params[0]} if rule.piece else set())
    out = []
    for k, p in enumerate(rule.params):
        if rule.positional is not None and k == rule.positional:
            out.append("*")
        text = f"**{p}**" if p in differentiable else p
        out.append(f"{text}={rule.defaults[p]!r}" if p in rule.defaults else text)
    ranks = f" (arrays up to {rule.max_ndim}-D)" if rule.max_ndim else \
        " (arrays, not numbers)" if rule.arrays_only else ""
    return (", ".join(out) + ranks).replace("|", "\\|")


def _forward(rule):
    """How forward mode takes the rule's tangent (transforms/forward.py)."""
    parts = []
    if rule.linear_pieces:
        parts.append("linear in each operand")
    if len(rule.linear) == 1:
        parts.append(f"linear in {', '.join(rule.linear[0])}")
    elif rule.linear:
        parts.append(f"linear in each of {', '.join(g[0] for g in rule.linear)}")
    linear = {p for group in rule.linear for p in group}
    for param in rule.params:
        if param in rule.tangents:
            parts.append(f"{param}: `{rule.tangents[param]}`".replace("|", "\\|"))
        elif param in rule.partials and param not in linear:
            parts.append(f"{param}: its partial" + (" per slice" if rule.slicewise else ""))
    return "; ".join(parts)


def _compiled(rule):
    if (getattr(rule.keys[0], "__module__", None) or "").startswith("srcad.kernels"):
        return f"`kn.{rule.keys[0].__name__}`"  # (a call normalize lowers to a kernel)
    if rule.forward is None:
        names = [spell(k) or "" for k in rule.keys]
        if not any(n.startswith("`scipy") for n in names):
            return "Numba's own"
        scipy_form = "SciPy's C code, through `srcad.special`"
        return ("Numba's own (`math`); " + scipy_form) if any(n.startswith("`math")
                                                               for n in names) else scipy_form
    kernel = rule.forward.partition("(")[0]
    return f"`{kernel}`" + (" with options" if rule.forward_options else "")


def main(argv=None):
    from tools.apidoc import write_or_check

    return write_or_check("tools.numpydoc", __doc__, OUTPUT, render, argv)


if __name__ == "__main__":
    sys.exit(main())
