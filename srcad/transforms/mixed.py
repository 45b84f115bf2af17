"""Mixed mode: the derivatives of a gradient's float numbers carried forward.

A gradient whose reverse sweep saves arrays on every trip of a loop only because of a float
number it differentiates (a stencil's diffusivity: its adjoint sums the adjoint of each step
times that step's grid) takes that number's derivative in forward mode instead: the gradient
w.r.t. the other parameters, which then saves no array per trip, and a jvp along each number,
called by one function with the gradient's signature. A jvp costs 1.5-2x a run of the
function; the saves it replaces grow with the trip count (the heat workload's 500 steps of a
256 x 256 grid: 260 MB, and twice the time of the reverse sweep without them)."""

import dataclasses

import gast

from ..compiler import anno, frontend
from ..errors import UnsupportedError

# Each number costs a jvp, 1.5-2x a run of the function: for a nonlinear recurrence, two jvps
# took as long as the reverse sweep that saves every step (4.4 against 4.7 s), four twice as
# long. (One jvp carrying a block of tangents would share the primal: not done.)
MAX_NUMBERS = 2


def numbers_forward(full, emit):
    """`full` (pipeline.Emitted, a gradient) as a reverse gradient w.r.t. its arrays and a jvp
    along each float number it differentiates, where `full` saves arrays per trip and that
    reverse gradient does not; else None. `emit(wrt, kind)` is pipeline._emit of the same
    function and options for parameters `wrt` and transform `kind`."""
    numbers = [p for p, _, is_number in full.wrt_layout if is_number]
    others = [p for p, _, is_number in full.wrt_layout if not is_number]
    if not 0 < len(numbers) <= MAX_NUMBERS or full.output_type.kind != "f" or \
            full.written or full.writes_data or full.writes_outside or \
            full.effects or _has_forward_rules(full.core) or \
            not saves_arrays_per_trip(full):
        return None
    try:
        reverse = emit(tuple(others), "grad") if others else None
        if reverse is not None and saves_arrays_per_trip(reverse):
            return None
        tangents = emit(tuple(numbers), "jvp")
    except UnsupportedError:
        return None
    parts = [e for e in (reverse, tangents) if e is not None]
    scope = dict(full.scope)
    for part in parts:
        scope.update(part.scope)
    taken = set(scope)
    name = _free(full.fn_def.name, taken)
    for part in parts:
        part.fn_def.name = _free(part.fn_def.name + ("_reverse" if part is reverse else ""),
                                 taken)
    hidden = tuple(sorted({n for part in parts for n in part.hidden}))
    checks = {k: v for part in parts for k, v in part.checks.items()}
    why = (f"{', '.join(numbers)}: derivative{'s' if len(numbers) > 1 else ''} carried forward "
           f"(a jvp along {'each' if len(numbers) > 1 else 'it'}) instead of saving the arrays "
           "the reverse sweep would read on every trip")
    return dataclasses.replace(
        full, fn_def=_caller(full, name, reverse, tangents, numbers, hidden),
        chunks=[part.fn_def for part in parts], hidden=hidden, checks=checks, scope=scope,
        loops=full.loops + (why,))


def saves_arrays_per_trip(emitted):
    """Does the generated function save an array on a loop's trips (into a buffer's row or a
    list)?"""
    buffers = emitted.core.namer.buffers
    for fn_def in [emitted.fn_def] + emitted.chunks:
        for node in gast.walk(fn_def):
            if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) and \
                    isinstance(node.func.value, gast.Name) and (
                        (node.func.value.id, node.func.attr) == ("rt", "save_array") or
                        node.func.attr == "append" and node.func.value.id in buffers):
                return True
    return False


def _has_forward_rules(core):
    """Does the function call a custom_vjp function given a jvp of its own? A gradient uses its
    vjp, which need not be that jvp's transpose (a clipped cotangent, a straight-through
    estimator)."""
    called = (anno.getanno(node.func, "func") for node in gast.walk(core.tree)
              if isinstance(node, gast.Call))
    return any(frontend.is_custom_vjp(func) and func.jvp is not None for func in called)


def _caller(full, name, reverse, tangents, numbers, hidden):
    """The function `name` of `full`'s signature (its data arguments `hidden`) returning the
    value and the gradient: the arrays' from `reverse` (or None: no array is differentiated), the
    numbers' from one call of `tangents` per number, each along that number alone."""
    params = [a.id for a in full.fn_def.args.args]
    own = params[:len(params) - len(full.hidden) - 1]
    seed = params[-1]
    taken = set(params)
    value = _free("_value", taken)
    lines = []
    if reverse is not None:
        grads = [_free(f"_g{k}", taken) for k in range(
            sum(n for _, n, is_number in full.wrt_layout if not is_number))]
        lines.append(f"{', '.join([value] + grads)} = {_call(reverse, own, seed)}")
    results = iter(grads if reverse is not None else [])
    outputs = []
    for p, n, is_number in full.wrt_layout:
        if not is_number:
            outputs += [next(results) for _ in range(n)]
            continue
        k = numbers.index(p)
        direction = ", ".join("1.0" if j == k else "0.0" for j in range(len(numbers)))
        tangent = _free(f"_t{k}", taken)
        first = reverse is None and k == 0
        lines.append(f"{value if first else '_'}, {tangent} = "
                     f"{_call(tangents, own, direction)}")
        outputs.append(f"{full.np_name}.sum({seed} * {tangent})" if full.output_type.ndim
                       else f"{seed} * {tangent}")
    lines.append(f"return ({', '.join([value] + outputs)})")
    caller = gast.parse("def f():\n" + "".join(f"    {line}\n" for line in lines)).body[0]
    caller.name = name
    caller.args = full.fn_def.args
    caller.args.args = [a for a in caller.args.args if a.id in own] + [
        gast.Name(id=n, ctx=gast.Param(), annotation=None, type_comment=None)
        for n in hidden] + [caller.args.args[-1]]
    return caller


def _call(part, own, last):
    """The call of the generated function `part` with the function's arguments `own`, the data
    it reads, and `last` (its seed or tangents)."""
    return f"{part.fn_def.name}({', '.join(own + list(part.hidden) + [last])})"


def _free(name, taken):
    """`name`, with underscores added until it is not in `taken`; taken then holds it."""
    while name in taken:
        name += "_"
    taken.add(name)
    return name
