"""The pipeline: the stages in order, one line each. Every stage's output is kept in the
`Generated` record; `SRCAD_DUMP=normalize,reverse,cleanup` prints the source after those stages.

    frontend   parse the function's source, resolve the names it reads
    normalize  lower to three-address core form with structured control flow
    typeinfer  kinds and ranks of every variable, for the call's argument types
    activity   which variables carry derivatives
    reverse    emit the gradient: forward sweep with saves, reverse sweep (what to save,
               recompute or checkpoint is planned in saving.py)
    cleanup    simplify the gradient until nothing changes
    codegen    render, write the module file, import it (numba.njit happens in api)
"""

import copy
import os
import sys
from dataclasses import dataclass, field

import gast

from . import activity, cleanup, codegen, frontend, normalize, reverse, typeinfer


@dataclass
class Generated:
    fn: object
    wrt: tuple
    arg_types: tuple
    source: str
    path: object
    gradient: object  # the generated Python function
    output_type: object
    stages: dict = field(default_factory=dict)  # stage name -> source after it
    files: dict = field(default_factory=dict)  # source file read -> its mtime then

    def is_current(self):
        """False once a source file it was generated from (the function's own or an inlined
        helper's) has changed."""
        return all(_mtime(f) == t for f, t in self.files.items())


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _dump(stage, text, stages):
    stages[stage] = text
    wanted = os.environ.get("SRCAD_DUMP", "")
    if stage in {s.strip() for s in wanted.split(",")}:
        print(f"--- srcad: after {stage} ---\n{text}", file=sys.stderr)


def transform(fn, wrt, arg_types):
    """Generate the gradient of `fn` w.r.t. parameter names `wrt` for `arg_types`.

    Args:
        fn: the user's function.
        wrt: tuple of parameter names to differentiate.
        arg_types: tuple of typeinfer.Ty, one per parameter.
    Returns:
        Generated.
    Raises:
        UnsupportedError: the function cannot be transformed; the message names the construct
            and its file:line.
    """
    stages = {}
    core = normalize.normalize(frontend.parse(fn))
    _dump("normalize", codegen.templates.to_source(core.tree), stages)
    names = [a.id for a in core.tree.args.args]
    types = typeinfer.infer(core.tree, dict(zip(names, arg_types, strict=True)),
                            core.scope)
    stages["typeinfer"] = "\n".join(f"{k}: {v}" for k, v in sorted(types.items()))
    ret = core.tree.body[-1].value
    output_type = types.get(ret.id) if hasattr(ret, "id") else typeinfer.of_value(ret.value)
    active = activity.analyze(core.tree, types, wrt)
    stages["activity"] = ", ".join(sorted(active))
    np_name = next(k for k, v in core.scope.items() if v is normalize.np)
    grad_def = reverse.differentiate(core, types, active, wrt, np_name)
    _dump("reverse", codegen.render(copy.deepcopy(grad_def)), stages)
    codegen.numba_compatible(grad_def)
    adjoints = core.namer.adjoint_names()
    array_adjoints = {adj for name, adj in adjoints.items()
                      if types.get(name, typeinfer.UNKNOWN).is_array}
    grad_def = cleanup.cleanup(grad_def, adjoints.values(), array_adjoints)
    source = codegen.render(grad_def)
    _dump("cleanup", source, stages)
    parsed = core.parsed
    origin = f"{parsed.file}:{parsed.first_line} ({parsed.tree.name})"
    used = _names(grad_def) & set(core.scope)
    text = codegen.module_text([source], origin, used)
    path = codegen.write_module(text, f"{getattr(parsed.fn, '__module__', 'm')}_"
                                      f"{parsed.tree.name}")
    module = codegen.load_module(path, {k: getattr(core.scope[k], "fn", core.scope[k])
                                        if hasattr(core.scope[k], "__srcad_vjp__")
                                        else core.scope[k] for k in used})
    gradient = getattr(module, grad_def.name)
    return Generated(fn, tuple(wrt), tuple(arg_types), source, path, gradient, output_type,
                     stages, {f: _mtime(f) for f in core.files})


def _names(tree):
    return {n.id for n in gast.walk(tree) if isinstance(n, gast.Name)}

