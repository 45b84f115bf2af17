"""Cleanup: make the generated gradient read like a careful hand-written adjoint.

Input and output: a gradient FunctionDef. Passes run to a fixed point, each saying whether it
changed anything:
- `drop_empty_ifs`: an `if` with nothing in either branch goes; an empty `if` body is
  replaced by negating the test.
"""

import gast


def drop_empty_ifs(fn_def):
    changed = False

    def visit(stmts):
        nonlocal changed
        out = []
        for s in stmts:
            for field in ("body", "orelse"):
                if isinstance(getattr(s, field, None), list):
                    setattr(s, field, visit(getattr(s, field)))
            if isinstance(s, gast.If):
                body = [b for b in s.body if not isinstance(b, gast.Pass)]
                if not body and not s.orelse:
                    changed = True
                    continue
                if not body:
                    s.test = _negate(s.test)
                    s.body, s.orelse = s.orelse, []
                    changed = True
            out.append(s)
        return out

    fn_def.body = visit(fn_def.body)
    return changed


def _negate(test):
    if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
        return test.operand
    return gast.UnaryOp(op=gast.Not(), operand=test)


PASSES = [drop_empty_ifs]


def cleanup(fn_def):
    """Run every pass until none changes anything; returns the same (mutated) FunctionDef."""
    for _ in range(50):
        changed = False
        for p in PASSES:
            changed |= p(fn_def)
        if not changed:
            break
    return fn_def
