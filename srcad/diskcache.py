"""The disk cache: generated modules and Numba's machine code kept between processes.

Used only with `cache=True`. Everything lives in one directory, `$SRCAD_CACHE_DIR` or the
user's cache directory (`$XDG_CACHE_HOME/srcad`, `~/.cache/srcad`), which srcad trusts only
when it is a real directory (not a symlink) owned by the user, not writable by group or
others, below directories nobody else can replace (writable by others only with the sticky
bit). Otherwise srcad warns once and keeps nothing on disk: Numba's cache files are pickles,
and loading a planted one would run its code.

- `write(text, stem)` writes a generated module as `<stem>_<sha256>.py` (atomically, mode 0600,
  never through a symlink); an existing file is reused only when its bytes hash to its name,
  else it is replaced. srcad never imports these files: it runs the text it generated and
  the file is there for Numba's cache and for tracebacks.
- `enable_numba_cache(dispatcher)` keeps a dispatcher's machine code next to its module, in
  this directory only (whatever NUMBA_CACHE_DIR says); a cache file that cannot be read is
  removed and the function compiled again.
- The directory is bounded: past `$SRCAD_CACHE_SIZE` megabytes (default 512), the entries
  used longest ago are removed. `info()` and `clear()` back `srcad cache`.
"""

import hashlib
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

from .errors import CacheWarning

DEFAULT_SIZE_MB = 512
_warned = set()


def location():
    """`$SRCAD_CACHE_DIR`, else the user's cache directory."""
    env = os.environ.get("SRCAD_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "srcad"


def folder():
    """The trusted folder generated modules and Numba's files go to (created 0700), or None
    (with a warning, once) when the cache directory cannot be trusted."""
    path = location() / "generated"
    try:
        _make_private(path)
    except OSError as exc:
        problem = f"it cannot be created ({exc.strerror or exc})"
    else:
        problem = untrusted(path)
    if problem is None:
        return path
    if str(path) not in _warned:
        _warned.add(str(path))
        warnings.warn(f"srcad: not using the disk cache {path}: {problem}; generated code "
                      "is kept in memory only (set SRCAD_CACHE_DIR to a private directory)",
                      CacheWarning, stacklevel=4)
    return None


def _make_private(path):
    """Create `path` and its missing parents with mode 0700 (whatever the umask)."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue
        os.chmod(p, 0o700)


def untrusted(path):
    """Why `path` (a directory) cannot be trusted, or None."""
    if os.name != "posix":
        return None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return "it is a symbolic link or not a directory"
    if st.st_uid != os.getuid():
        return f"it is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "it is writable by group or others"
    for parent in Path(os.path.abspath(path)).parents:
        pst = os.stat(parent)
        if pst.st_uid not in (0, os.getuid()) or \
                pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
            return f"{parent} could be replaced by another user"
    return None


def write(text, stem):
    """The path of the generated module `text` in the cache, written if needed; None when
    there is no trusted cache."""
    where = folder()
    if where is None:
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    path = where / f"{stem}_{digest}.py"
    data = text.encode()
    if _read_own(path) == data:
        os.utime(path)  # (most recently used)
        return path
    fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")  # (0600, O_EXCL)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # (replaces a symlink itself, never writes through it)
    except OSError:
        _remove(Path(tmp))
        return None
    evict(where)
    return path


def _read_own(path):
    """The bytes of `path` if it is a regular file of ours (not followed if a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or os.name == "posix" and st.st_uid != os.getuid():
            return None
        return fh.read()


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# ---- Numba's cache ------------------------------------------------------------------------

def enable_numba_cache(dispatcher):
    """Keep `dispatcher`'s machine code in the trusted cache, next to its module."""
    from numba.core import caching

    class Locator(caching._CacheLocator):
        def __init__(self, py_file):
            self._path = Path(py_file).parent
            self._stamp = Path(py_file).stem.rsplit("_", 1)[-1]  # the content hash

        def ensure_cache_path(self):
            if untrusted(self._path) is not None:
                raise OSError(f"untrusted cache directory {self._path}")

        def get_cache_path(self):
            return str(self._path)

        def get_source_stamp(self):
            return self._stamp

        def get_disambiguator(self):
            return "srcad"

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_file)

    class Impl(caching.CompileResultCacheImpl):
        def __init__(self, py_func):  # (only srcad's locator, whatever NUMBA_* settings say)
            self._lineno = py_func.__code__.co_firstlineno
            self._locator = Locator(py_func.__code__.co_filename)
            name = f"{Path(py_func.__code__.co_filename).stem}.{py_func.__qualname__}"
            self._filename_base = self.get_filename_base(name, getattr(sys, "abiflags", ""))

    class Cache(caching.FunctionCache):
        _impl_class = Impl

        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception:  # a truncated, garbage or foreign cache file: compile again
                _remove(Path(self._cache_file._index_path))
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
            except Exception:  # (a full disk, a directory gone): the cache is optional
                pass

    dispatcher._cache = Cache(dispatcher.py_func)
    return dispatcher


# ---- size bound and the `srcad cache` command ----------------------------------------------

def _entries(where):
    """{module stem: [its files]}: a generated module and Numba's files for it."""
    groups = {}
    try:
        names = os.listdir(where)
    except OSError:
        return groups
    for name in names:
        stem = name.split(".", 1)[0]
        groups.setdefault(stem, []).append(where / name)
    return groups


def _sizes(files):
    total, last_used = 0, 0.0
    for f in files:
        try:
            st = os.lstat(f)
        except OSError:
            continue
        total += st.st_size
        last_used = max(last_used, st.st_mtime)
    return total, last_used


def evict(where, limit_mb=None):
    """Remove the entries used longest ago until the folder holds less than the limit."""
    limit = (limit_mb if limit_mb is not None else
             float(os.environ.get("SRCAD_CACHE_SIZE", DEFAULT_SIZE_MB))) * 2 ** 20
    entries = [(files, *_sizes(files)) for files in _entries(where).values()]
    total = sum(size for _, size, _ in entries)
    for files, size, _ in sorted(entries, key=lambda e: e[2]):
        if total <= limit:
            break
        for f in files:
            _remove(f)
        total -= size


def info():
    """A description of the cache: where it is, whether it is used, what it holds."""
    path = location() / "generated"
    problem = untrusted(path) if os.path.isdir(path) else None
    groups = _entries(path) if problem is None else {}
    size = sum(_sizes(files)[0] for files in groups.values())
    return {"path": str(path), "trusted": problem is None, "problem": problem,
            "entries": len(groups), "bytes": size,
            "limit_bytes": int(float(os.environ.get("SRCAD_CACHE_SIZE", DEFAULT_SIZE_MB)) *
                               2 ** 20)}


def clear():
    """Remove every file of the cache folder (only regular files srcad could have written;
    nothing is followed through a symlink). Returns how many files were removed."""
    path = location() / "generated"
    if not os.path.isdir(path) or untrusted(path) is not None:
        return 0
    removed = 0
    for files in _entries(path).values():
        for f in files:
            if stat.S_ISREG(os.lstat(f).st_mode) or stat.S_ISLNK(os.lstat(f).st_mode):
                _remove(f)
                removed += 1
    return removed
