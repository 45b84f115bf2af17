"""Reuse: a gradient an earlier process generated, taken from the disk cache (`cache=True`)
instead of running the pipeline again.

An entry is keyed by what the transform reads from the call: srcad's own code, the versions of
Python and NumPy, the function's source and code, the argument types and the options. It
records every object the generated code depends on (what `Generated.checks` holds, the data
it reads at every call, the names its module takes from the function's scope), each by where
it lives — a module's global, a cell of the function's closure, an attribute of a module, a
builtin that must stay unshadowed in the modules read — and by a fingerprint of what it was: a function's code (its helpers' too), a
module's name, a library function's qualified name, a number's value, data's type. The entry
is used only if every dependency is found where it was and has its fingerprint; otherwise
the pipeline runs and replaces it. A gradient depending on anything else (a partial's
arguments, a custom_vjp's rule, an attribute of an object) is not kept.

Entries are pickles signed like Numba's files (`diskcache.write_signed`): only what srcad
wrote with the user's key is unpickled.
"""

import builtins
import hashlib
import importlib
import inspect
import pickle
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import diskcache
from .compiler import frontend, loading, valuetypes


@dataclass
class Generated:
    """What the pipeline made for one call signature: the generated module and what the
    gradient depends on."""
    fn: object
    wrt: tuple  # the parameters differentiated: a structured argument's are its leaves'
    arg_types: tuple
    source: str
    path: object  # the module file in the disk cache, or None (generated in memory only)
    gradient: object  # the generated Python function (NumPy's floating-point semantics)
    jittable: object  # the same, to compile with numba
    output_type: object
    aux: bool = False  # the gradient returns (value, aux, grads...)
    hidden: tuple = ()  # free names passed as arguments after the function's own: data
    hidden_refs: tuple = ()  # where to read each at every call
    hidden_types: tuple = ()  # the types the gradient was generated for
    checks: tuple = ()  # (Ref, object): what must still be there for the gradient to be valid
    written: tuple = ()  # the indices of the array arguments the function writes into
    writes_data: tuple = ()  # the indices in `hidden` of the data it writes into (a global
    # array's)
    loops: tuple = ()  # with parallel=True, what runs in parallel and what not, and why
    text: str = ""  # the generated module (srcad.dask ships it to its workers)
    scope: dict = field(default_factory=dict)  # the module's names from the function's scope
    stages: dict = field(default_factory=dict)  # stage -> source after it (SRCAD_DUMP)
    # the AliasingError of a call with a 0-d array argument (aliasing.zero_d_writes), or None
    zero_d_writes: str = None
    # {line of the generated module: the user's statement it computes (errors.DerivedLoc)}
    locations: dict = field(default_factory=dict)
    # what the function does besides computing its result ("draws random numbers (np.random.rand
    # at f.py:3)", "calls print at f.py:5"): a vjp's pullback or a Hessian's column would do it
    # again
    effects: str = ""


# how Generated.effects begins for a function drawing random numbers
DRAWS = "draws random numbers"

# the fields of a Generated an entry keeps as they are (the others are found again)
_FIELDS = ("wrt", "arg_types", "output_type", "aux", "hidden", "hidden_types", "written",
           "writes_data", "loops", "zero_d_writes", "locations", "effects")


def entry_name(fn, wrt, arg_types, structures, has_aux, single, kind, parallel, same_shapes,
               numpy_scalars, assume_shapes):
    """The entry's name for this transform (pipeline.generate's arguments), or None when `fn`
    cannot be fingerprinted."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    transform = kind + ("+parallel" if parallel else "") + \
        (f"+same_shapes{sorted(same_shapes.items())}" if same_shapes else "") + \
        (f"+numpy_scalars{numpy_scalars}" if numpy_scalars else "") + \
        ("+assume_shapes" if assume_shapes else "")
    parts = (diskcache.srcad_digest(), sys.version, np.__version__, fn.__module__,
             fn.__qualname__, source, diskcache.code_digest(fn.__code__), wrt,
             tuple(map(str, arg_types)),
             repr(sorted((structures or {}).items())), has_aux, single, transform)
    return "reuse_" + hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def store(folder, name, fn, generated, text, stem, statics, refs):
    """Keep `generated` (its module `text`, named after `stem`) under `name` if every object
    it depends on can be found again. `statics`: {name: object} the module takes from the
    function's scope; `refs`: {name: frontend.Ref} for those read through one."""
    try:
        deps = {
            "checks": [(_where(ref, fn), _fingerprint(obj)) for ref, obj in generated.checks
                       if not _of_the_code(ref)],
            "hidden": [_where(ref, fn) for ref in generated.hidden_refs],
            "statics": {n: (_where(refs[n], fn) if n in refs else _unbound(n, obj),
                            _fingerprint(obj)) for n, obj in statics.items()},
        }
    except _Unportable:
        return
    entry = {"deps": deps, "text": text, "source": generated.source, "stem": stem,
             "name": generated.gradient.__name__,
             "fields": {f: getattr(generated, f) for f in _FIELDS}}
    diskcache.write_signed(Path(folder) / f"{name}.entry", pickle.dumps(entry))


def generated(folder, name, fn):
    """The Generated of the entry `name` if it is there and every dependency still holds (its
    module written again if evicted), else None."""
    found = _load(folder, name, fn)
    if found is None:
        return None
    fields, entry, scope = found
    path, gradient, jittable = load_module(entry["text"], entry["stem"], entry["name"], scope,
                                           folder)
    return Generated(fn, source=entry["source"], path=path, gradient=gradient,
                     jittable=jittable, text=entry["text"], scope=scope, **fields)


def load_module(text, stem, name, scope, cache):
    """(its path in the disk cache or None, the gradient with NumPy's semantics, the same to
    compile) of the generated module `text`, whose free names `scope` gives."""
    path = diskcache.write(text, stem, cache) if cache is not None else None
    filename = str(path) if path is not None else \
        f"<srcad {stem} {hashlib.sha256(text.encode()).hexdigest()[:16]}>"
    statics = {k: getattr(v, "fn", v) if frontend.is_custom_vjp(v) else v
               for k, v in scope.items()}
    gradient = getattr(loading.load(text, filename, loading.numpy_semantics(statics)), name)
    jittable = getattr(loading.load(text, filename, statics), name)
    return path, gradient, jittable


def transformable(generated):
    """The generated function as a transform of it reads it (an hvp's reverse mode over its
    jvp): calling the custom_vjp functions themselves, whose rules that transform must use,
    where the compiled function calls their primal code."""
    fn = generated.jittable
    if not any(frontend.is_custom_vjp(v) for v in generated.scope.values()):
        return fn
    module = sys.modules.get(fn.__module__)
    try:
        return getattr(loading.load(generated.text, fn.__code__.co_filename, generated.scope),
                       fn.__name__)
    finally:  # (the compiled function's module stays the one its name finds)
        sys.modules[fn.__module__] = module


def _load(folder, name, fn):
    """(the Generated's fields, the entry itself (the module's text, source and names), the
    {name: object} its module takes from the function's scope) of the entry `name` if it is
    there and every dependency still holds; else None."""
    payload = diskcache.read_signed(Path(folder) / f"{name}.entry")
    if payload is None:
        return None
    entry = pickle.loads(payload)  # (signed by srcad: see diskcache.read_signed)
    deps = entry["deps"]
    try:
        checks = []
        for where, fingerprint in deps["checks"]:
            ref = _ref(where, fn)
            obj = ref.read()
            if _fingerprint(obj) != fingerprint:
                return None
            checks.append((ref, obj))
        hidden_refs = tuple(_ref(where, fn) for where in deps["hidden"])
        hidden_types = tuple(valuetypes.of_value(r.read()) for r in hidden_refs)
        statics = {}
        for n, (where, fingerprint) in deps["statics"].items():
            obj = getattr(builtins, n) if where[0] == "builtin" else \
                importlib.import_module(where[1]) if where[0] == "module" else \
                _ref(where, fn).read()
            if _fingerprint(obj) != fingerprint:
                return None
            statics[n] = obj
    except (_Unportable, ImportError, KeyError, AttributeError, ValueError, IndexError):
        return None
    fields = dict(entry["fields"], checks=tuple(checks), hidden_refs=hidden_refs)
    if hidden_types != fields["hidden_types"]:
        return None
    return fields, entry, statics


class _Unportable(Exception):
    """A dependency another process cannot find again (or fingerprint)."""


def _of_the_code(ref):
    """Is `ref` a function's code or defaults? (Checked within a process, where they can be
    replaced; a later process imports the function again, whose code its fingerprint holds.)"""
    return ref.how == "attr" and ref.key in ("__code__", "__defaults__", "__kwdefaults__") and \
        isinstance(ref.container, (types.FunctionType, types.MethodType))


def _where(ref, fn):
    """Where `ref` reads, in terms another process can follow from `fn`."""
    container = ref.container
    if ref.how == "cell":
        cells = fn.__closure__ or ()
        index = next((k for k, c in enumerate(cells) if c is container), None)
        if index is None:
            raise _Unportable
        return ("cell", index)
    if ref.how == "attr" and isinstance(container, types.ModuleType):
        return ("attr", container.__name__, ref.key)
    module = sys.modules.get(container.get("__name__")) if isinstance(container, dict) else None
    if ref.how in ("item", "absent") and module is not None and vars(module) is container:
        return (ref.how, module.__name__, ref.key)
    raise _Unportable


def _ref(where, fn):
    kind = where[0]
    if kind == "cell":
        return frontend.Ref(fn.__closure__[where[1]], None, "cell")
    module = sys.modules.get(where[1])
    if module is None:
        raise _Unportable
    if kind == "attr":
        return frontend.Ref(module, where[2], "attr")
    return frontend.Ref(vars(module), where[2], kind)


def _unbound(name, obj):
    """Where a name the pipeline added to the scope (no Ref: a builtin, NumPy) is found."""
    if getattr(builtins, name, None) is obj:
        return ("builtin",)
    if obj is frontend.ABSENT:
        return ("absent",)
    if isinstance(obj, types.ModuleType):
        return ("module", obj.__name__)
    raise _Unportable


def _fingerprint(obj):
    """What `obj` was, comparable across processes."""
    if obj is frontend.ABSENT:
        return ("absent",)
    if isinstance(obj, types.ModuleType):
        return ("module", obj.__name__)
    if isinstance(obj, tuple):
        return ("tuple", tuple(_fingerprint(item) for item in obj))
    if isinstance(obj, np.ndarray):  # (what is read at every call is checked by type instead)
        return ("array", obj.dtype.str, obj.shape, hashlib.sha256(obj.tobytes()).hexdigest())
    if frontend.is_data(obj):  # (a number the generated code may hold as a constant)
        return ("number", type(obj).__name__, repr(obj))
    if obj is None or isinstance(obj, str):
        return ("value", obj)
    if isinstance(obj, types.FunctionType) and not frontend.is_library(obj):
        return ("function", obj.__module__, obj.__qualname__,
                diskcache.code_digest(obj.__code__))
    python = getattr(obj, "py_func", None)  # a numba dispatcher of user code
    if isinstance(python, types.FunctionType) and not frontend.is_library(python):
        return ("jitted", _fingerprint(python))
    if frontend.is_library(obj) or isinstance(obj, type):
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        module = getattr(obj, "__module__", None) or type(obj).__module__
        if name is None:
            raise _Unportable
        return ("library", module, name)
    raise _Unportable
