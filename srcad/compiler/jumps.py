"""Jump lowering: `break`, `continue` and early `return` become flags and structured control
flow, so that every later stage sees loops that run to their end and one return at the end
of the function."""

import os

import gast

from . import anno, templates
from ..errors import UnsupportedError

_name, _const = templates.make_name, templates.make_const


def lower(body, namer):
    """`body` (a function's statements, with at least one return) without jumps; it ends in
    its only return."""
    return _JumpLowering(namer).function(body)


def _assign(target, value, loc_from):
    return anno.copy_loc(templates.make_assign(target, value), loc_from)


def _if(test, body, orelse, loc_from):
    return anno.copy_loc(gast.If(test=test, body=body, orelse=orelse), loc_from)


def always_jumps(stmts):
    """True when control never falls off the end of `stmts`."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, (gast.Return, gast.Break, gast.Continue)):
        return True
    return isinstance(last, gast.If) and always_jumps(last.body) and always_jumps(last.orelse)


def fold_tails(stmts):
    """Move the statements after an `if` one of whose branches always jumps into the other
    branch, so every jump ends the block it is in. Unreachable statements are dropped."""
    out = []
    for k, stmt in enumerate(stmts):
        if isinstance(stmt, (gast.Return, gast.Break, gast.Continue)):
            out.append(stmt)
            return out
        if isinstance(stmt, gast.If):
            rest = stmts[k + 1:]
            body_jumps, else_jumps = always_jumps(stmt.body), always_jumps(stmt.orelse)
            if rest and (body_jumps or else_jumps):
                if not body_jumps:
                    stmt.body = stmt.body + rest
                if not else_jumps:
                    stmt.orelse = stmt.orelse + rest
                rest = []
            stmt.body, stmt.orelse = fold_tails(stmt.body), fold_tails(stmt.orelse)
            out.append(stmt)
            if not rest:
                return out
            continue
        out.append(stmt)
    return out


def _completes(stmts):
    """Can control reach the end of `stmts` (a function's: it returns None there)?"""
    if not stmts:
        return True
    last = stmts[-1]
    if isinstance(last, (gast.Return, gast.Raise)):
        return False
    if isinstance(last, gast.If):
        return _completes(last.body) or _completes(last.orelse)
    if isinstance(last, gast.While) and isinstance(last.test, gast.Constant) and \
            last.test.value is True:
        return _breaks(last.body)
    return True


def _breaks(stmts):
    """Does a `break` in `stmts` leave their loop (not a loop inside them)?"""
    for stmt in stmts:
        if isinstance(stmt, gast.Break):
            return True
        if isinstance(stmt, gast.If) and (_breaks(stmt.body) or _breaks(stmt.orelse)):
            return True
    return False


def _no_return(last):
    """The end of a function that may return None: srcad cannot differentiate None."""
    loc = anno.getanno(last, "loc")
    where = f" after the statement at {os.path.basename(loc.file)}:{loc.line}" if loc else ""
    message = f"the function reached its end{where} without a return: it returns None " \
        "there, which has no derivative"
    return anno.copy_loc(gast.Raise(exc=gast.Call(func=_name("TypeError"), args=[
        _const(message)], keywords=[]), cause=None), last)


def _contains_return(stmts):
    return any(isinstance(n, gast.Return) for s in stmts for n in gast.walk(s))


def _may_jump(stmts):
    """Whether a jump of this block (not of a loop inside it) may end `stmts`."""
    return any(isinstance(s, (gast.Return, gast.Break, gast.Continue)) or
               isinstance(s, gast.If) and (_may_jump(s.body) or _may_jump(s.orelse))
               for s in stmts)


class _Loop:
    def __init__(self, namer):
        self.namer = namer
        self.flag = None  # set when something breaks out of the loop
        self.skip = None  # set when a trip jumps from inside an `if` with statements after it

    def break_flag(self):
        if self.flag is None:
            self.flag = self.namer.temp("_brk")
        return self.flag

    def skip_flag(self):
        if self.skip is None:
            self.skip = self.namer.temp("_skip")
        return self.skip


class _JumpLowering:
    """Replace break / continue / early return by flags and structured control flow."""

    def __init__(self, namer):
        self.namer = namer
        self.ret = None
        self.done = None

    def function(self, body):
        returns = [n for s in body for n in gast.walk(s) if isinstance(n, gast.Return)]
        if returns and _completes(body):
            body = body + [_no_return(body[-1])]
        if not returns and body and isinstance(body[-1], gast.Raise):
            # (every path raises: a return is needed for the form, and never reached)
            body = body + [anno.copy_loc(gast.Return(value=_const(0.0)), body[-1])]
            returns = [body[-1]]
        if not returns:
            raise UnsupportedError("the function has no return statement")
        if len(returns) == 1 and body[-1] is returns[0]:
            return self.block(body, loop=None, keep_return=True)
        self.ret = self.namer.fresh("_ret")
        self.namer.results.add(self.ret)
        body = self.block(self.mark_loop_returns(body), loop=None)
        pre = [_assign(self.done, _const(False), body[0])] if self.done else []
        final = anno.copy_loc(gast.Return(value=_name(self.ret)), returns[-1])
        return pre + body + [final]

    def mark_loop_returns(self, stmts):
        """After a loop containing a return, add `if _done: return` so the rest is skipped."""
        out = []
        for stmt in stmts:
            if isinstance(stmt, (gast.For, gast.While)):
                stmt.body = self.mark_loop_returns(stmt.body)
                out.append(stmt)
                if _contains_return(stmt.body):
                    if self.done is None:
                        self.done = self.namer.fresh("_done")
                    jump = anno.copy_loc(gast.Return(value=None), stmt)
                    anno.setanno(jump, "propagate", True)
                    out.append(_if(_name(self.done), [jump], [], stmt))
            elif isinstance(stmt, gast.If):
                stmt.body = self.mark_loop_returns(stmt.body)
                stmt.orelse = self.mark_loop_returns(stmt.orelse)
                out.append(stmt)
            else:
                out.append(stmt)
        return out

    def block(self, stmts, loop, keep_return=False):
        """`stmts` without jumps. A jump ends the block it is in (fold_tails); where it lies in
        an `if` that may fall through, the statements after that `if` run under `if not
        <flag>:`, the flag set by the jump (`_done` for a return outside loops, the loop's
        `_skip`, cleared at each trip, inside one)."""
        out = []
        stmts = fold_tails(stmts)
        for k, stmt in enumerate(stmts):
            if isinstance(stmt, gast.Return):
                if keep_return:
                    out.append(stmt)
                    continue
                if not anno.getanno(stmt, "propagate"):
                    out.append(_assign(self.ret, stmt.value, stmt))
                if self.done is not None:
                    out.append(_assign(self.done, _const(True), stmt))
                if loop is not None:
                    out.append(_assign(loop.break_flag(), _const(True), stmt))
                out.extend(self.skipping(loop, stmt))
            elif isinstance(stmt, gast.Break):
                out.append(_assign(loop.break_flag(), _const(True), stmt))
                out.extend(self.skipping(loop, stmt))
            elif isinstance(stmt, gast.Continue):
                out.extend(self.skipping(loop, stmt))
            elif isinstance(stmt, gast.If):
                rest = stmts[k + 1:]
                flag = self.jump_flag(loop) if rest and _may_jump(stmt.body + stmt.orelse) \
                    else None
                stmt.body = self.block(stmt.body, loop, keep_return)
                stmt.orelse = self.block(stmt.orelse, loop, keep_return)
                out.append(stmt)
                if flag is not None:
                    not_jumped = gast.UnaryOp(op=gast.Not(), operand=_name(flag))
                    out.append(_if(not_jumped, self.block(rest, loop, keep_return), [], rest[0]))
                    return out
            elif isinstance(stmt, (gast.For, gast.While)):
                out.extend(self.loop(stmt, keep_return))
            else:
                out.append(stmt)
        return out

    def jump_flag(self, loop):
        """The flag a jump sets in `loop` (None: outside loops) for the statements after it."""
        if loop is not None:
            return loop.skip_flag()
        if self.done is None:
            self.done = self.namer.fresh("_done")
        return self.done

    @staticmethod
    def skipping(loop, stmt):
        """`_skip = True` for a jump in `loop`, if statements after an `if` holding it test it."""
        return [_assign(loop.skip, _const(True), stmt)] if loop is not None and loop.skip else []

    def loop(self, stmt, keep_return):
        inner = _Loop(self.namer)
        stmt.body = self.block(stmt.body, inner, keep_return)
        if inner.skip is not None:
            stmt.body = [_assign(inner.skip, _const(False), stmt)] + stmt.body
        cond = anno.getanno(stmt, "cond")
        if isinstance(stmt, gast.While):
            # (once: a helper's loops, lowered when it is inlined, are lowered again with the
            # function's; appending the test again would undo the break's `flag = False`)
            anno.setanno(stmt, "cond", [])
            flag = stmt.test.id
            if inner.flag is None:
                stmt.body = stmt.body + cond
            else:
                stop = _assign(flag, _const(False), stmt)
                stmt.body = stmt.body + [_if(_name(inner.flag), [stop], cond, stmt)]
        elif inner.flag is not None:
            stmt.body = stmt.body + [_if(_name(inner.flag), [gast.Break()], [], stmt)]
        pre = [_assign(flag, _const(False), stmt) for flag in (inner.flag, inner.skip) if flag]
        return pre + [stmt]
