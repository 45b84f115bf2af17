"""Numba's machine code for a generated module, kept in srcad's disk cache (diskcache.py).

Numba keeps a function's machine code in an index file (`.nbi`) and data files (`.nbc`), both
pickles. srcad reads and writes them itself, signed (`diskcache.read_signed`): a file srcad did
not write is removed, never unpickled, and the function compiled again. They are written next to
the generated module whatever NUMBA_CACHE_DIR says.

The files are named after the module (whose name is the hash of its text) and a key over what
else is compiled into the machine code: every njit option (`fastmath`, ...), Numba's optimisation
level and bounds checking from the environment (NUMBA_OPT, NUMBA_BOUNDSCHECK), the code of each
function the generated code calls by name rather than inlining (a custom_vjp's function and
vjp), with the values of the globals it reads (Numba freezes them: the attributes it reads of a
user's module too), followed through every function they call, and srcad's own source (its
runtime and kernels are compiled in too). Changing any of these compiles again. Each data file
holds the key of the overload it was compiled for, so that an index restored from earlier
(signed by srcad, but naming a data file since written for another signature) compiles again.
"""

import functools
import hashlib
import io
import pickle
import sys
import types
from pathlib import Path

import numba
import numpy as np
from numba.core import caching

from . import diskcache
from .compiler import frontend


def enable(dispatcher):
    """Keep `dispatcher`'s machine code in the trusted cache, next to its module."""
    dispatcher._cache = _Cache(dispatcher.py_func, compile_key(dispatcher))
    return dispatcher


class _Locator(caching._CacheLocator):
    def __init__(self, py_file, key):
        self._path, self._key = Path(py_file).parent, key

    def ensure_cache_path(self):  # (checked at every save: the cache's root may be replaced)
        for path in (self._path.parent, self._path):
            if diskcache.untrusted(path) is not None:
                raise OSError(f"untrusted cache directory {path}")

    def get_cache_path(self):
        return str(self._path)

    def get_source_stamp(self):
        return self._key

    def get_disambiguator(self):
        return self._key

    @classmethod
    def from_function(cls, py_func, py_file):
        raise NotImplementedError  # (only made by _Impl)


class _Impl(caching.CompileResultCacheImpl):
    def __init__(self, py_func, key):  # (only srcad's locator, whatever NUMBA_* settings say)
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = _Locator(py_func.__code__.co_filename, key)
        name = f"{Path(py_func.__code__.co_filename).stem}.{py_func.__qualname__}"
        self._filename_base = self.get_filename_base(name, getattr(sys, "abiflags", ""))


class _SignedFiles(caching.IndexDataCacheFile):
    """Numba's index and data files, in Numba's format, signed."""

    def _load_index(self):
        data = diskcache.read_signed(self._index_path)
        if data is None:
            return {}
        stream = io.BytesIO(data)
        if pickle.load(stream) != self._version:
            return {}
        stamp, overloads = pickle.loads(stream.read())
        return overloads if stamp == self._source_stamp else {}

    def _save_index(self, overloads):
        data = pickle.dumps(self._version, protocol=-1) + \
            self._dump((self._source_stamp, overloads))
        if not diskcache.write_signed(Path(self._index_path), data):
            raise OSError(f"cannot write {self._index_path}")

    def _load_data(self, name):
        data = diskcache.read_signed(Path(self._data_path(name)))
        if data is None:
            raise OSError(f"no valid {name}")  # (to Numba: no cached code)
        return pickle.loads(data)

    def _save_data(self, name, data):
        if not diskcache.write_signed(Path(self._data_path(name)), self._dump(data)):
            raise OSError(f"cannot write {name}")

    def save(self, key, data):
        super().save(key, (key, data))

    def load(self, key):
        found = super().load(key)
        if found is None:
            return None
        compiled_for, data = found
        return data if compiled_for == key else None  # (an index replayed from earlier)


class _Cache(caching.FunctionCache):
    def __init__(self, py_func, key):
        self._impl_class = functools.partial(_Impl, key=key)
        super().__init__(py_func)
        self._cache_file = _SignedFiles(self._cache_path, self._impl.filename_base, key)

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # (a signed file this Numba cannot read): compile again
            diskcache.discard(self._cache_file._index_path)
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception:  # (a full disk, a directory gone): the cache is optional
            pass


# ---- the key -------------------------------------------------------------------------------

def compile_key(dispatcher):
    """16 hex digits over what the machine code depends on beyond the module's text."""
    h = hashlib.sha256()
    options = sorted((k, diskcache.canonical(v))
                     for k, v in dispatcher.targetoptions.items())
    h.update(repr(options).encode())
    config = numba.config  # (settings from the environment that Numba's own index ignores)
    h.update(repr((int(config.OPT), config.BOUNDSCHECK, config.DEBUGINFO_DEFAULT)).encode())
    fn, seen = dispatcher.py_func, set()
    names = frontend.names_read(fn.__code__)
    for name in sorted(names & fn.__globals__.keys()):
        h.update(name.encode() + b"=" + fingerprint(fn.__globals__[name], seen, names))
    h.update(diskcache.srcad_digest())
    return h.hexdigest()[:16]


def fingerprint(obj, seen=None, attributes=()):
    """Bytes that change when what Numba compiles from `obj` (a global the generated code or a
    function it calls reads) changes: a function's code and what its globals and closure hold,
    through every function it calls (`seen`: the functions already followed); for a user's
    module, the `attributes` of it the code may read."""
    from .custom import custom_vjp
    seen = set() if seen is None else seen
    if isinstance(obj, types.ModuleType):  # (first: probing kn for an attribute imports SciPy)
        if frontend.is_library(obj):
            return obj.__name__.encode()
        return obj.__name__.encode() + b"".join(  # (cfg.K: Numba freezes the attribute)
            b"." + a.encode() + b"=" + fingerprint(getattr(obj, a), seen)
            for a in sorted(set(attributes) & vars(obj).keys()))
    options = getattr(obj, "targetoptions", None)  # (a Numba dispatcher: fastmath=..., ...)
    if options is not None and hasattr(obj, "py_func"):
        return repr(sorted((k, diskcache.canonical(v)) for k, v in options.items())).encode() \
            + fingerprint(obj.py_func, seen)
    if isinstance(obj, custom_vjp):
        return b"".join(fingerprint(f, seen) for f in (obj.fn, obj.vjp, obj.jvp))
    if isinstance(obj, types.FunctionType):
        if id(obj) in seen:  # (recursion, or a helper called twice: followed once)
            return f"{obj.__module__}.{obj.__qualname__}".encode()
        seen.add(id(obj))
        code = obj.__code__
        h = hashlib.sha256(diskcache.code_digest(code).encode())
        # (the defaults: a call leaving one out compiles its value in)
        for default in (*(obj.__defaults__ or ()), *sorted((obj.__kwdefaults__ or {}).items())):
            h.update(b"default=" + fingerprint(default, seen))
        names = frontend.names_read(code)
        for name in sorted(names & obj.__globals__.keys()):
            h.update(name.encode() + b"=" + fingerprint(obj.__globals__[name], seen, names))
        for cell in obj.__closure__ or ():
            try:
                h.update(fingerprint(cell.cell_contents, seen, names))
            except ValueError:  # (an empty cell)
                pass
        return h.digest()
    if isinstance(obj, np.ndarray):
        return f"{obj.dtype.str}{obj.shape}".encode() + \
            hashlib.sha256(np.ascontiguousarray(obj).tobytes()).digest()
    if isinstance(obj, np.generic):
        return f"{obj.dtype.str}:{obj!r}".encode()
    if isinstance(obj, (bool, int, float, complex, str, bytes, type(None), tuple, frozenset)):
        return repr(diskcache.canonical(obj)).encode()
    return f"{type(obj).__module__}.{type(obj).__qualname__}:{getattr(obj, '__name__', '')}" \
        .encode()

