"""The pipeline: the stages in order, one line each. Every stage's output is kept in the
`Generated` record; `SRCAD_DUMP=normalize,reverse,cleanup` prints the source after those stages.
The stages live in `compiler/` (shared by every transform) and `transforms/` (the derivative
program itself: `reverse` for grad and vjp, `forward` for jvp).

    frontend   parse the function's source, resolve the names it reads
    outputs    check what it returns; with has_aux, split `return value, aux`
    structured flatten tuple, list and dict arguments into a parameter per leaf
    optional   decide the tests `p is None` of parameters for this call (helpers' in normalize)
    normalize  lower to three-address core form with structured control flow
    typetests  decide isinstance(p, C) and type(p) == C of the parameters
    typeinfer  kinds and ranks of every variable, for the call's argument types
    aliasing   which arrays may share memory; refuse a write another name would not see
    activity   which variables carry derivatives
    reverse    emit the gradient: forward sweep with saves, reverse sweep (what to save,
               recompute or checkpoint is planned in saving.py)
    forward    or emit the Jacobian-vector product: every value beside its tangent
    mixed      (a gradient that saves arrays per trip only for the float numbers it
               differentiates: their derivatives carried forward by jvps instead)
    guards     make the checks Python makes (indices in bounds, integer divisors nonzero)
               explicit in the forward sweep, hoisted out of loops where the range is known
    cleanup    simplify the gradient until nothing changes
    chains     in forward mode, a recurrence's tangent as one sum of partials times tangents,
               and the tangents divided by one denominator multiplied by its reciprocal; in
               reverse mode, a reverse sweep's adjoint once per trip, coefficients times the
               adjoints the trip starts from
    precision  for float32 arguments, float32 constants (Numba would promote to float64)
    fusion     or, in float64, runs of elementwise array statements as one loop nest each
    broadcasts then statements that broadcast arrays of other shapes as loop nests too
    promotion  then an element of a derivative a loop adds into at an unchanging index summed
               in a local
    codegen    render, write the module file, import it (compiler/loading.py: numba.njit
               happens in api; a gradient from the disk cache, reuse.py, needs only that)
"""

import builtins
import copy
import os
import re
import sys
import threading
import types
from dataclasses import dataclass

import gast

from .compiler import (activity, aliasing, anno, bools, broadcasts, buffers, cleanup, codegen,
                       frontend, fusion, guards, lists, normalize, optional, outputs, precision,
                       promotion, structured, templates, typeinfer, typetests)
from . import reuse, rules
from .transforms import batching, chains, forward, mixed, reverse
from .transforms.parallel import finish_chunks, outline_fused_loops, parallel_products, \
    plan as plan_parallel_loops
from .errors import UnsupportedError, UserCodeError


def _dump(stage, render, stages):
    """Keep (and print) the source after `stage` when SRCAD_DUMP names it; `render()` makes
    it (rendering a large function costs as much as a pass: only on demand)."""
    if stage in {s.strip() for s in os.environ.get("SRCAD_DUMP", "").split(",")}:
        stages[stage] = render()
        print(f"--- srcad: after {stage} ---\n{stages[stage]}", file=sys.stderr)


# A long expression is a deep tree, and parsing and walking it recurses as deep: the transform
# runs in a thread of its own with room for that (its Python frames live on the heap; the C
# parser and compiler use this stack).
STACK_BYTES = 256 * 2 ** 20
RECURSION_LIMIT = 50_000


def transform(fn, wrt, arg_types, cache=None, structures=None, has_aux=False,
              single=False, kind="grad", parallel=False, same_shapes=None, numpy_scalars=None,
              assume_shapes=False, block=False):
    """`generate(...)` in a thread with a deep stack. Any failure other than UnsupportedError
    (a bug in srcad) is raised as an UnsupportedError that says so, so that mode="auto" falls
    back to the tape with the reason."""
    result = {}

    def run():
        try:
            result["value"] = generate(fn, wrt, arg_types, cache, structures, has_aux, single,
                                       kind, parallel, same_shapes, numpy_scalars,
                                       assume_shapes, block)
        except (UnsupportedError, UserCodeError) as exc:
            result["error"] = exc
        except Exception as exc:  # noqa: BLE001 (reported, with its type, to the caller)
            name = getattr(fn, "__qualname__", repr(fn))
            error = UnsupportedError(f"srcad's source transform of {name} failed "
                                     f"({type(exc).__name__}: {exc}); this is a bug in srcad, "
                                     "please report it")
            error.__cause__ = exc
            result["error"] = error
    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size()
    try:
        sys.setrecursionlimit(max(old_limit, RECURSION_LIMIT))
        threading.stack_size(STACK_BYTES)
        worker = threading.Thread(target=run, name="srcad-transform")
        worker.start()
    finally:
        threading.stack_size(old_stack)
    worker.join()
    sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result["value"]


def generate(fn, wrt, arg_types, cache=None, structures=None, has_aux=False, single=False,
             kind="grad", parallel=False, same_shapes=None, numpy_scalars=None,
             assume_shapes=False, block=False):
    """Generate the gradient of `fn` w.r.t. parameter names `wrt` for `arg_types` (with
    kind="jvp", its Jacobian-vector product).

    Args:
        fn: the user's function.
        wrt: tuple of parameter names to differentiate.
        arg_types: tuple of typeinfer.Ty, one per parameter, a structured parameter's
            replaced by one per leaf (in pytrees.flatten order).
        cache: the disk cache's folder (`diskcache.folder()`) to write the generated module
            to, or None.
        structures: {parameter name: pytrees.Treedef} of the structured arguments.
        has_aux: fn returns (value, aux); the gradient returns aux after the value.
        single: the float arguments are float32: compute in float32 (precision.py).
        kind: "grad" (reverse mode: `(value, [aux,] grads...)` of the arguments and a seed),
            "jvp" (forward mode: `(value, tangent)` of the arguments and their tangents), or
            "tangent" (the jvp's tangent alone, as plain Python that srcad transforms again:
            no index checks, no compiled forms; `jittable` is that function).
        parallel: run the top-level loops whose trips are independent on every core
            (transforms/parallel.py decides which; the gradient's loops only).
        same_shapes: {parameter: an earlier parameter}: array arguments the caller
            guarantees have another's shape (api.same_shapes).
        numpy_scalars: (position in `arg_types`, NumPy type name) of the scalars that are
            NumPy's (which decides what `+` and `~` of bools compared from them mean:
            compiler/bools.py, and isinstance tests: compiler/typetests.py);
            None: not known (such bool arithmetic is refused).
        assume_shapes: for a gradient or a jvp, take arrays combined elementwise to have one
            shape and check it as the derivative runs, raising ShapeAssumptionFailed where they
            do not (the caller then generates it again without; not for a function writing
            into memory it did not make, an argument or a global, which a second run would
            find changed).
        block: the derivative for a block of inputs, each with a leading axis
            (transforms/batching.py; UnsupportedError where it cannot be): True for the
            derivative's own inputs (a jvp's tangents, a gradient's seed), or the names of
            parameters of fn.
    Returns:
        Generated.
    Raises:
        UnsupportedError: the function cannot be transformed; the message names the construct
            and its file:line.
        UserCodeError: fn returns a tuple (without has_aux), or not a pair (with it).
    """
    rules.check_unreplaced()
    same_shapes = same_shapes or {}
    # (the entry this gradient is kept under: api looked it up before importing the pipeline)
    name = reuse.entry_name(fn, wrt, arg_types, structures, has_aux, single, kind, parallel,
                            same_shapes, numpy_scalars, assume_shapes) \
        if cache is not None else None
    emitted = _emit(fn, wrt, arg_types, structures, has_aux, single, kind, parallel,
                    same_shapes, numpy_scalars, assume_shapes, block)
    if kind == "grad" and not (has_aux or single or parallel or block):
        emitted = mixed.numbers_forward(emitted, lambda wrt, kind: _emit(
            fn, wrt, arg_types, structures, False, False, kind, False, same_shapes,
            numpy_scalars, assume_shapes, False)) or emitted
    generated, text, stem = _package(emitted, fn, wrt, arg_types, cache)
    if name is not None:
        reuse.store(cache, name, fn, generated, text, stem, emitted.scope, emitted.core.refs)
    return generated


@dataclass
class Emitted:
    """A derivative function, before its module is rendered and loaded, and what the module
    and the Generated record around it need."""
    fn_def: gast.FunctionDef  # its parameters: the function's, the data it reads, its own
    chunks: list  # the module's other functions, which it calls
    core: object  # normalize.Core of the function
    output_type: object
    aux: bool
    hidden: tuple  # the data it reads from globals, passed as arguments after the function's
    checks: dict  # Ref -> object: what must still be there for it to be valid
    scope: dict  # the module's names from the function's scope
    loops: tuple  # what srcad.explain says about its loops
    stages: dict
    written: tuple  # the indices of the array arguments the function writes into
    writes_data: tuple  # the indices of the data it reads from globals that it writes into
    zero_d_writes: object
    composing: bool  # kind "tangent": plain Python for srcad to transform again
    np_name: str  # the name NumPy has in it
    writes_outside: bool  # it writes into arrays it did not make (arguments, globals)
    effects: str  # what it does besides computing (`_effects`), "" for nothing
    # (parameter, its number of leaves, is it a float number) of each parameter differentiated
    wrt_layout: tuple


MAX_REWRITES = 50  # rounds of retyping after bool and store rewrites (two or three in practice)


def _emit(fn, wrt, arg_types, structures, has_aux, single, kind, parallel, same_shapes,
          numpy_scalars, assume_shapes, block):
    """The derivative function of `fn` (generate's arguments) and what its module needs."""
    stages = {}
    parsed, aux = outputs.split_aux(frontend.parse(fn), has_aux, kind)
    parsed, leaves = structured.flatten(parsed, structures or {})
    params = wrt
    wrt = tuple(leaf for name in wrt for leaf in leaves.get(name, [name]))
    parsed, none, rebound = optional.decide(parsed, arg_types)
    kept = optional.parameters_kept(parsed.tree)  # (a helper's tests of them are decided)
    core = normalize.normalize(parsed, none & kept, kept - none)
    core.same_shapes = {core.renamed.get(a, a): core.renamed.get(b, b)
                        for a, b in same_shapes.items()}
    _dump("normalize", lambda: templates.to_source(core.tree), stages)
    names = [a.id for a in core.tree.args.args]
    typed_args = {n: t for n, t in zip(names, arg_types, strict=True) if n not in rebound}
    numpy_args = None if numpy_scalars is None else \
        {names[k]: getattr(normalize.np, kind) for k, kind in numpy_scalars}
    typetests.fold(core.tree, core.scope, typetests.classes(typed_args, numpy_args))
    types = typeinfer.infer(core.tree, typed_args, core.scope)
    # (a split may type others; `i = 0` ... `i = x[1] * 2.0` keeps the int index as it was)
    while normalize.split_rebound(core.tree, {**types.conflicts, **types.widened}, core.namer,
                                  core.origins, {core.renamed.get(aux, aux)}):
        types = typeinfer.infer(core.tree, typed_args, core.scope)
    retype = lists.settle(core.tree, types, core.scope) | \
        normalize.type_scatter_adds(core.tree, types) | \
        normalize.updated_parameters(core.tree, types) | \
        normalize.name_index_arrays(core.tree, types, core.namer, core.origins) | \
        normalize.split_tuples(core.tree, types, core.namer, {core.renamed.get(aux, aux)}) | \
        normalize.pair_stores_as_loops(core.tree, types, core.namer, core.origins)
    # (then again while bools change: a sum of NumPy bools, now an `or`, is a bool to the next;
    # and while stores through pairs of index arrays typed only now are lowered)
    for _ in range(MAX_REWRITES):
        if not (retype or bools.follow_python_and_numpy(core.tree, types, core.scope,
                                                        core.namer, numpy_args)):
            break
        types = typeinfer.infer(core.tree, typed_args, core.scope)
        retype = normalize.pair_stores_as_loops(core.tree, types, core.namer, core.origins)
    else:  # (a rewrite that does not settle: an error, never a hang)
        raise RuntimeError("the rewriting of bools and stores did not settle")
    if bools.scalar_views(core.tree, types, core.scope, numpy_args):
        types = typeinfer.infer(core.tree, typed_args, core.scope)
    np_name = next(k for k, v in core.scope.items() if v is normalize.np)
    normalize.square_roots(core.tree, types, np_name)
    _dump("typeinfer", lambda: "\n".join(f"{k}: {v}" for k, v in sorted(types.items())),
          stages)
    ret = core.tree.body[-1].value
    output_type = types.get(ret.id) if hasattr(ret, "id") else typeinfer.of_value(ret.value)
    _check_output(core.tree.body[-1], output_type, parsed.tree.name, kind)
    _check_integers(core.tree, types, core.origins)
    _check_augmented(core.tree, types)
    _check_number_stores(core.tree, types)
    _check_narrow_floats(core.tree, core.scope, single)
    _check_integer_powers(core.tree, types,
                          bools.numpy_scalars(core.tree, types, core.scope, numpy_args))
    aliases = aliasing.analyze(core.tree, types, core.origins)
    names_written = aliases.memory_written(templates.stored_arrays(core.tree))
    written_outside = names_written & (set(names) | set(core.refs))  # (arguments, globals)
    # (a second run, after a failed assumption, must not find anything the first changed)
    core.assume_shapes = assume_shapes and kind in ("grad", "jvp") and \
        not written_outside
    wrt_names = tuple(core.renamed.get(w, w) for w in wrt)
    active = activity.analyze(core.tree, types, wrt_names, core.origins)
    _dump("activity", lambda: ", ".join(sorted(active)), stages)
    composing = kind == "tangent"
    plans = {}
    if kind in ("jvp", "tangent"):
        grad_def = forward.jvp(core, types, active, wrt_names, aliases, np_name)
        if composing:
            grad_def.body[-1].value = grad_def.body[-1].value.elts[1]
    else:
        plans = _parallel_plans(core, types, aliases, single, written_outside) \
            if parallel else {}
        grad_def = reverse.differentiate(core, types, active, wrt_names, aliases, np_name,
                                         core.renamed.get(aux, aux),
                                         {p: q for p, q in plans.items() if q.reason is None})
    _dump("reverse" if kind == "grad" else "forward",
          lambda: codegen.render(copy.deepcopy(grad_def)), stages)
    chunks = anno.getanno(grad_def, "chunks") or []  # (parallel loops' chunk functions)
    if not composing:  # (the transform of the composed function checks its own indices)
        for fn_def in [grad_def] + chunks:
            guards.guard(fn_def, types, core.origins, core.namer.tangent_names().values())
    adjoints = core.namer.adjoint_names()
    array_adjoints = {adj: name for name, adj in adjoints.items()
                      if types.get(name, typeinfer.UNKNOWN).is_array}
    scalars = {name for name, ty in types.items() if ty.kind in ("f", "i", "b") and not ty.ndim}
    for fn_def in [grad_def] + chunks:
        cleanup.cleanup(fn_def, adjoints.values(), array_adjoints, core.namer.buffers, scalars,
                        doubles=not single)
    typed = dict(types, **{adj: types[name] for name, adj in
                           [*adjoints.items(), *core.namer.tangent_names().items()]
                           if name in types})
    if kind == "grad":
        typed[grad_def.args.args[-1].id] = output_type  # (the seed)
    if block:
        try:
            batched = [a.id for a in grad_def.args.args[len(names):]] if block is True else \
                [core.renamed.get(n, n) for n in block]
            batching.batch(grad_def, batched, typed, np_name)
        except batching.NotBatchable as exc:
            raise UnsupportedError(f"a block of tangents: {exc}") from None
    elif single:
        precision.single(grad_def, np_name, typed, _numpy_widths(core.scope, typed_args,
                                                                  numpy_args))
    elif not composing:
        derivatives = {*adjoints.values(), *core.namer.tangent_names().values()}
        if kind == "jvp":
            chains.fold(grad_def, typed, core.namer.tangent_names().values())
            chains.share_reciprocals(grad_def, typed, core.namer.tangent_names().values(),
                                     core.namer)
        else:
            chains.fold_adjoints(grad_def, typed, adjoints.values(), core.namer)
        for fn_def in [grad_def] + chunks:
            fusion.fuse(fn_def, typed, np_name, core.namer, core.same_shapes,
                        anno.getanno(grad_def, "assumed"))
            broadcasts.lower(fn_def, typed, np_name, core.namer)
            promotion.promote(fn_def, typed, core.namer, derivatives)
    if not composing:
        # (a custom rule may hand back its primal arguments as derivatives)
        customs = any(frontend.is_custom_vjp(core.scope.get(n)) for n in _names(grad_def))
        shared = grad_def.args.args[0 if customs else len(names):]
        outputs.returned_apart(grad_def, 1 + (aux is not None and kind == "grad"), typed,
                               [a.id for a in shared
                                if typed.get(a.id, typeinfer.UNKNOWN).is_array],
                               core.namer.custom_adjoints)
        for fn_def in [grad_def] + chunks:
            buffers.reuse_allocations(fn_def, typed, np_name, core.namer)
            buffers.save_in_rows(fn_def, typed)
            codegen.numba_compatible(fn_def, typed, single)
    products = []
    if parallel and not single and kind == "grad" and parallel_products(grad_def, np_name):
        products = [("matrix products outside the loops run a large matrix-vector product by "
                     "blocks of rows, one per thread")]
    if parallel and not single and kind == "grad":
        elementwise = outline_fused_loops(grad_def, core.namer, np_name, set(core.scope))
        chunks += elementwise
        if elementwise:
            products.append("elementwise loops over large arrays (fused array statements) run "
                            "one chunk of their trips per thread")
    used = set().union(*map(_names, [grad_def] + chunks)) & set(core.scope)
    while grad_def.name in used:  # (a function it calls has its name: `softplus_jvp`)
        grad_def.name += "_"
    # data the function reads from globals, closures and user modules becomes arguments, read
    # at every call (Numba would freeze it); every other captured object is checked instead
    hidden = sorted(n for n in used if n in core.refs and frontend.is_data(core.scope[n]))
    grad_def.args.args[len(names):len(names)] = [templates.make_name(n, gast.Param())
                                                 for n in hidden]
    finish_chunks(grad_def, chunks, hidden)
    checks = dict(core.checks)
    checks.update({core.refs[n]: core.scope[n] for n in used - set(hidden) if n in core.refs})
    for n in used - set(hidden):  # (the values a custom_vjp's code reads: Numba compiles them in)
        if frontend.is_custom_vjp(core.scope.get(n)):
            checks.update(core.scope[n].captured())
            checks[frontend.Ref(core.scope[n], "fn", "attr")] = core.scope[n].fn
    # (every builtin the source reads, also those normalize wrote otherwise: abs is np.abs)
    checks.update(_builtins_unshadowed(fn, set(core.scope) - set(core.refs), core.scope,
                                       checks))
    updated = aliases.memory_written(_updated_in_place(core.tree))
    # (and `x *= 2.0`, which NumPy does in the caller's array: another argument sharing it
    # must be refused, not differentiated as separate)
    written = tuple(k for k, name in enumerate(names) if arg_types[k].is_array and
                    name in names_written | updated)
    return Emitted(
        grad_def, chunks, core, output_type, aux is not None, tuple(hidden), checks,
        {k: core.scope[k] for k in used - set(hidden)},  # (the module's statics)
        tuple(q.describe() for q in plans.values()) +
        tuple(anno.getanno(grad_def, "fused", ())) + tuple(products),
        stages, written, tuple(k for k, name in enumerate(hidden)
                               if name in names_written | updated),
        aliasing.zero_d_writes(core.tree, types, core.origins), composing, np_name,
        bool(written_outside), _effects(core.tree, core.origins),
        tuple((p, len(leaves.get(p, [p])), p not in leaves and
               typed_args.get(core.renamed.get(p, p)) == typeinfer.FLOAT) for p in params))


def _package(emitted, fn, wrt, arg_types, cache):
    """(the Generated, the module's text, its file's stem) of `emitted`: its module rendered,
    loaded, and the user's line of each statement found."""
    grad_def, chunks, core = emitted.fn_def, emitted.chunks, emitted.core
    sources = [codegen.render(f) for f in [grad_def] + chunks]
    source = "\n\n".join(sources)
    _dump("cleanup", lambda: source, emitted.stages)
    parsed = core.parsed
    origin = f"{frontend.printable(parsed.file)}:{parsed.first_line} ({parsed.tree.name})"
    text = codegen.module_text(sources, origin, emitted.scope)
    stem = re.sub(r"\W", "_", f"{getattr(parsed.fn, '__module__', None) or 'm'}_{grad_def.name}")
    path, gradient, jittable = reuse.load_module(text, stem, grad_def.name, emitted.scope, cache)
    # the user's line of each statement of the generated functions, for the messages of errors
    # they raise and of the transform of this code (a second derivative's)
    locations = {}
    for fn_def, fn_source in zip([grad_def] + chunks, sources, strict=True):
        first = jittable.__globals__[fn_def.name].__code__.co_firstlineno
        locations.update(codegen.statement_locations(fn_def, fn_source, first))
    if emitted.composing:
        frontend.locate_generated(jittable.__code__.co_filename, locations)
    hidden = emitted.hidden
    generated = reuse.Generated(fn, tuple(wrt), tuple(arg_types), source, path, gradient,
                                jittable, emitted.output_type, emitted.aux, hidden,
                                tuple(core.refs[n] for n in hidden),
                                tuple(typeinfer.of_value(core.scope[n]) for n in hidden),
                                tuple(emitted.checks.items()), emitted.written,
                                emitted.writes_data, emitted.loops, text, emitted.scope,
                                emitted.stages, emitted.zero_d_writes, locations,
                                emitted.effects)
    return generated, text, stem


def _effects(tree, origins):
    """What the function does besides computing its result, said for a message, random draws
    first ("draws random numbers (np.random.rand at f.py:3)", "calls print at f.py:5": it
    prints, changes an object), or ""."""
    calls = [node for node in gast.walk(tree) if isinstance(node, gast.Call) and
             typeinfer.changes_state(anno.getanno(node.func, "func"))]
    if not calls:
        return ""
    call = next((c for c in calls if typeinfer.draws_random(anno.getanno(c.func, "func"))),
                calls[0])
    where = [anno.getanno(n, "loc") for n in gast.walk(tree) if isinstance(n, gast.stmt) and
             anno.hasanno(n, "loc") and call in gast.walk(n)]
    what = f"{templates.SourceText(call.func, origins)}" + \
        (f" at {where[-1]}" if where else "")  # (the innermost statement's line)
    return f"{reuse.DRAWS} ({what})" if typeinfer.draws_random(
        anno.getanno(call.func, "func")) else f"calls {what}"


def _updated_in_place(tree):
    """The arrays an augmented assignment of the whole name updates (`x *= 2.0`)."""
    return {s.targets[0].id for s in templates.walk(tree)
            if isinstance(s, gast.Assign) and anno.getanno(s, "inplace")}


def _builtins_unshadowed(fn, names, scope, checks):
    """Checks that the builtins the generated code calls (abs, max, range) stay undefined in
    the globals of the function and of the helpers inlined into it: a global of that name
    defined later is what Python would call."""
    functions = [fn] + [getattr(obj, "py_func", obj) for obj in checks.values()]
    namespaces = {id(f.__globals__): f.__globals__ for f in functions
                  if isinstance(f, types.FunctionType)}
    return {frontend.Ref(namespace, n, "absent"): frontend.ABSENT
            for n in names if getattr(builtins, n, None) is scope[n]
            for namespace in namespaces.values()}


def _check_output(ret, output_type, name, kind):
    if output_type is not None and output_type.kind in ("tuple", "none", "str"):
        loc = anno.getanno(ret, "loc")
        what = f"a tuple ({output_type})" if output_type.kind == "tuple" else \
            "None" if output_type.kind == "none" else "a str"
        raise UserCodeError(f"{loc}: {name} returns {what}; {outputs.RETURNS[kind]}")


ARITHMETIC = (gast.BinOp, gast.UnaryOp, gast.Name, gast.Constant, gast.operator, gast.unaryop,
              gast.expr_context)


def _check_integers(tree, types, origins):
    """`range` and slices take integers, and so do indices: a float bound is Python's
    TypeError, a float index NumPy's IndexError (compiled, Numba would truncate it, and the
    reverse sweep would run a different number of trips)."""
    def is_float(node):
        ty = types.get(node.id) if isinstance(node, gast.Name) else \
            typeinfer.of_value(node.value) if isinstance(node, gast.Constant) else None
        if ty is not None and ty.kind == "f" and isinstance(node, gast.Name) and \
                node.id in types.widened:  # (Python's may be the int: the tape's is)
            what = templates.SourceText(node, origins)
            raise UnsupportedError(f"'{what}' is an int where it is assigned one and a float "
                                   "where it is assigned another, read as an integer here "
                                   "(srcad gives a variable one type in a loop or a branch)",
                                   anno.getanno(node, "loc"))
        return ty is not None and ty.kind == "f"

    for stmt in gast.walk(tree):
        if isinstance(stmt, gast.stmt):
            for child in gast.iter_child_nodes(stmt):
                if isinstance(child, gast.expr):
                    _check_indices(child, is_float, anno.getanno(stmt, "loc"), origins)
        if isinstance(stmt, gast.For) and isinstance(stmt.iter, gast.Call) and \
                anno.getanno(stmt.iter.func, "func") is range:
            for arg in stmt.iter.args:
                if is_float(arg):
                    what = templates.SourceText(arg, origins)
                    loc = anno.getanno(arg, "loc") or anno.getanno(stmt, "loc")
                    raise UserCodeError(f"{loc}: range() takes integers; "
                                        f"'{what}' is a float (Python raises TypeError)")


def _check_indices(expr, is_float, loc, origins):
    for node in gast.walk(expr):
        if isinstance(node, gast.Subscript):
            index = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
            for item in index:
                bounds = [b for b in (item.lower, item.upper, item.step) if b is not None] \
                    if isinstance(item, gast.Slice) else [item]
                for bound in bounds:  # (arithmetic on names: a float operand makes a float)
                    parts = list(gast.walk(bound))
                    if any(is_float(n) for n in parts) and all(isinstance(n, ARITHMETIC)
                                                               for n in parts):
                        what = templates.SourceText(bound, origins)
                        raise UserCodeError(
                            f"{loc}: slice indices must be integers; '{what}' is a float "
                            "(Python raises TypeError)" if isinstance(item, gast.Slice) else
                            f"{loc}: '{what}' is a float, not an index (only integers, slices, "
                            "None, ... and integer or boolean arrays are; NumPy raises "
                            "IndexError)")


def _check_integer_powers(tree, types, numpy_scalars):
    """NumPy's integers (an integer array, an element of one, np.int64) to a negative integer
    power are NumPy's ValueError (the compiled code would give floats)."""
    for node in gast.walk(tree):
        if not isinstance(node, gast.Assign):
            continue
        value = node.value
        if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Pow):
            base, exponent = value.left, value.right
        elif isinstance(value, gast.Call) and len(value.args) == 2 and \
                anno.getanno(value.func, "func") is normalize.np.power:
            base, exponent = value.args
        else:
            continue
        ty = types.get(base.id) if isinstance(base, gast.Name) else None
        if ty is not None and ty.kind in "ib" and (ty.is_array or base.id in numpy_scalars) \
                and isinstance(exponent, gast.Constant) and type(exponent.value) is int and \
                exponent.value < 0:
            raise UserCodeError(f"{anno.getanno(node, 'loc')}: NumPy's integers to a negative "
                                "integer power (NumPy raises ValueError: Integers to negative "
                                "integer powers are not allowed)")


def _numpy_widths(scope, typed_args, numpy_args):
    """{name: "python" or "float64"}: the arguments NumPy takes as Python numbers (a Python int:
    float32 beside float32 values) and the globals holding them or float64 values, for
    precision.single."""
    widths = {name: "python" for name, ty in typed_args.items()
              if numpy_args is not None and ty.kind == "i" and not ty.ndim and
              name not in numpy_args}
    for name, value in scope.items():
        if name in typed_args:
            continue
        if type(value) in (int, float):
            widths[name] = "python"
        elif isinstance(value, (normalize.np.ndarray, normalize.np.generic)) and \
                value.dtype == normalize.np.float64:
            widths[name] = "float64"
    return widths


NARROW_FLOATS = (normalize.np.float32, normalize.np.float16)


def _check_narrow_floats(tree, scope, single):
    """float32 (or float16) values in a call whose float arguments are float64: Numba computes
    their arithmetic with float64 numbers in float64 where NumPy computes it in float32
    (`y32 * 1e-8 + 1.0` is 1.0 in NumPy), so the compiled value would not be the function's."""
    if single:
        return
    for stmt in templates.walk(tree.body):
        if not isinstance(stmt, gast.stmt) or not anno.hasanno(stmt, "loc"):
            continue
        parts = [stmt.iter] if isinstance(stmt, gast.For) else \
            [stmt.test] if isinstance(stmt, (gast.While, gast.If)) else [stmt]
        for node in templates.walk(parts):
            value = scope.get(node.id) if isinstance(node, gast.Name) else \
                getattr(scope.get(node.value.id), node.attr, None) if isinstance(
                    node, gast.Attribute) and isinstance(node.value, gast.Name) and \
                scope.get(node.value.id) is normalize.np else None
            if any(value is t for t in NARROW_FLOATS):  # (a global array has no ==)
                name = value.__name__
                raise UnsupportedError(
                    f"np.{name} values in a call with float64 arguments (compiled, their "
                    f"arithmetic with float64 numbers would be float64, NumPy's is {name}; "
                    "with float32 arguments srcad computes in float32)",
                    anno.getanno(stmt, "loc"))


def _check_number_stores(tree, types):
    """`x[...] = e` where x holds a number: a 0-d array argument, which the code takes as the
    number it holds."""
    for node in gast.walk(tree):
        if isinstance(node, (gast.Assign, gast.AugAssign)):
            target = node.targets[0] if isinstance(node, gast.Assign) else node.target
            if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) and \
                    types.get(target.value.id, typeinfer.UNKNOWN).kind == "f" and \
                    types[target.value.id].ndim == 0:
                raise UnsupportedError(
                    f"a store into '{target.value.id}', which holds a number (srcad takes a "
                    "0-d array as the number it holds): write "
                    f"{target.value.id} = ... instead", anno.getanno(node, "loc"))


def _check_augmented(tree, types):
    """`a += e` (or `a[i:j] *= e`, ...) of an integer or boolean array with a float (or, into
    a boolean one, an integer) is NumPy's UFuncTypeError: the result cannot be cast back."""
    infer = typeinfer._Infer(types)
    defined = {}  # name -> the type of what its plain assignments give it
    for node in gast.walk(tree):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and \
                not anno.getanno(node, "augmented"):
            name = node.targets[0].id
            defined[name] = typeinfer.join(defined.get(name), infer.expr(node.value))
    for node in gast.walk(tree):
        if not anno.getanno(node, "augmented"):
            continue
        target = node.targets[0] if isinstance(node, gast.Assign) else node.target
        value_ty = infer.expr(node.value)
        target_ty = infer.subscript(target) if isinstance(target, gast.Subscript) else \
            defined.get(target.id) or typeinfer.UNKNOWN  # (x = x + e: x's type joins both)
        order = "bif"
        if target_ty.is_array and target_ty.kind in order and value_ty.kind in order and \
                order.index(value_ty.kind) > order.index(target_ty.kind):
            name = {"b": "a boolean", "i": "an integer", "f": "a float"}
            raise UserCodeError(
                f"{anno.getanno(node, 'loc')}: an augmented assignment of {name[value_ty.kind]} "
                f"value into {name[target_ty.kind]} array (NumPy raises UFuncTypeError: the "
                f"result cannot be cast back with casting rule 'same_kind')")


def _names(tree):
    return {n.id for n in templates.walk(tree) if isinstance(n, gast.Name)}



def _parallel_plans(core, types, aliases, single, outside):
    """parallel.plan's verdict on each top-level loop (float32 gradients run serially; nor does
    a loop with effects, or a function writing into `outside`, arrays it did not make: a chunk's
    forward trips run again in its reverse sweep)."""
    plans = plan_parallel_loops(core.tree, types, aliases, core.origins)
    for path, q in plans.items():
        effects = _effects(core.tree.body[path[0]], core.origins)
        if effects:  # (np.random.rand: the chunk's reverse sweep would draw other numbers)
            q.reason = q.reason or f"it {effects}, which a chunk's reverse sweep would do again"
        if single:
            q.reason = q.reason or "float32 gradients run their loops serially"
        if outside:
            q.reason = q.reason or \
                f"the function writes into {', '.join(sorted(outside))}, which it did not make"
    return plans
