"""The disk cache: generated modules and Numba's machine code kept between processes.

Used with `cache=True`, or for every gradient when `$SRCAD_CACHE` is 1 (`wanted`): off by
default, since a cache is a directory srcad must trust and writes into unasked. Everything
lives in `<root>/generated`, where the root is `$SRCAD_CACHE_DIR` or the user's cache
directory (`$XDG_CACHE_HOME/srcad`, `~/.cache/srcad`).

Threat model: someone other than the user can write into the cache directory (a cache shared,
synced, restored by CI or mounted from elsewhere; a mistaken chmod). The cache must never run
code srcad did not write. So:

- The root and `generated/` are used only when they are real directories (not symlinks) owned
  by the user, not writable by group or others, below directories nobody else can replace
  (writable by others only with the sticky bit). Otherwise srcad warns once and keeps nothing on
  disk. Missing directories are created 0700, never inside a refused one.
- Only regular files of the user's, not writable by group or others, are read, never through a
  link and never blocking (a FIFO); anything else at a name srcad uses is removed.
- Generated modules are named by the hash of their text; one whose bytes do not hash to its
  name is replaced. srcad never imports them (it runs the text it generated).
- Numba's files and srcad's `.entry` files (reuse.py) are pickles (loading one runs whatever
  code it names): srcad writes them signed with an HMAC-SHA256 keyed by a per-user secret, and
  unpickles nothing whose signature is wrong (such a file is removed and the function compiled
  again). The key lives outside the cache
  directory (`key_location()`), in a private directory of the user's, so writing into the cache
  does not give it; a key inside the cache directory is refused.

The folder is bounded: past `$SRCAD_CACHE_SIZE` megabytes (default 512), the entries used
longest ago are removed. `info()` and `clear()` back `srcad cache`.
"""

import functools
import hashlib
import hmac
import math
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import types
import warnings
from pathlib import Path

from .errors import CacheWarning

DEFAULT_SIZE_MB = 512
LARGEST_FILE = 64 * 2 ** 20  # no file srcad writes comes near it; a larger one is not read
KEY_BYTES = 32
_SIGNED = b"srcad-signed-1\n"  # then the HMAC of the file's name and payload, then the payload
_OWN_FILE = re.compile(r"(\w+_[0-9a-f]{32})\.(py|entry|.+\.nb[ic]|.+\.tmp)$")  # srcad's
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_warned = set()
_keys = {}


class CacheRefused(Exception):
    """The disk cache cannot be trusted; the text says why."""


def location():
    """`$SRCAD_CACHE_DIR` (`~` expanded, as a shell does not in `VAR="~/x"`), else the user's
    cache directory."""
    env = os.environ.get("SRCAD_CACHE_DIR")
    if env:
        return Path(env).expanduser().absolute()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = _xdg("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "srcad"


def key_location():
    """The key file that signs Numba's cache files: in the user's data directory, which a
    cache is never copied with."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = _xdg("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "srcad" / "cache-key"


def _xdg(variable):
    """An XDG base directory's variable, if set to an absolute path (the specification says to
    ignore a relative one)."""
    value = os.environ.get(variable, "")
    return value if os.path.isabs(value) else None


def folder():
    """The trusted folder generated modules and Numba's files go to, or None (with a
    CacheWarning, once) when the cache cannot be trusted. Call it in the user's thread: the
    warning names the user's line."""
    root = location()
    problem = _problem(root, create=True)
    hint = "set SRCAD_CACHE_DIR to a private directory"
    if problem is None:
        problem = _key_problem(key_location(), create=True)
        hint = "`srcad cache info` says where the key must be"
    if problem is not None:
        _warn(f"srcad: not using the disk cache: {problem}; generated code is kept in memory "
              f"only ({hint})")
        return None
    limit_bytes()  # (warns now, in the user's thread, about a bad SRCAD_CACHE_SIZE)
    return root / "generated"


def _problem(root, create=False):
    """Why the cache under `root` cannot be used, or None. With `create`, missing directories
    are made (0700), where they would be trusted; without, a missing one is no problem if it
    could be made."""
    for path in (root, root / "generated"):
        try:
            problem = _private_directory(path, create)
        except OSError as exc:
            problem = f"cannot be created ({exc.strerror or exc})"
        if problem is not None:
            return f"{path} {problem}"
    return None


def _private_directory(path, create):
    """Why the directory `path` cannot be trusted, or None; with `create`, made (0700) with its
    missing parents when where they would go is trusted (nothing is made in a directory
    another user could replace, or through their link)."""
    if os.path.lexists(path):
        return untrusted(path)
    missing = [path]
    while not os.path.lexists(missing[-1].parent):
        missing.append(missing[-1].parent)
    problem = _ancestors_problem(missing[-1])
    if problem is not None or not create:
        return problem or _cannot_create_in(missing[-1].parent)
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue
        os.chmod(p, 0o700)
    return untrusted(path)


def _cannot_create_in(parent):
    """Why no directory can be made in `parent`, or None (tried: one is made, then removed)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".srcad-probe-"))
    except OSError as exc:
        return f"cannot be created ({exc.strerror or exc})"
    return None


def untrusted(path):
    """Why `path` (a directory) cannot be trusted, or None."""
    if os.name != "posix":
        return None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return "is a symbolic link or not a directory"
    if st.st_uid != os.getuid():
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "is writable by group or others"
    return _ancestors_problem(path)


def _ancestors_problem(path):
    """Why what holds `path` (its parent directories, which exist) cannot be trusted, or
    None."""
    if os.name != "posix":
        return None
    for parent in Path(os.path.abspath(path)).parents:  # (a link's owner can retarget it)
        lst = os.lstat(parent)
        if stat.S_ISLNK(lst.st_mode) and lst.st_uid not in (0, os.getuid()):
            return f"is reached through {parent}, a link another user owns"
    parents = set(Path(os.path.abspath(path)).parents) | set(Path(os.path.realpath(path)).parents)
    for parent in sorted(parents):
        pst = os.stat(parent)
        if pst.st_uid not in (0, os.getuid()) or \
                pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
            return f"is below {parent}, which another user could replace"
    return None


def _warn(message):
    """A CacheWarning (once per message), attributed to the first caller outside srcad."""
    if message in _warned:
        return
    _warned.add(message)
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CacheWarning, stacklevel=level)


# ---- files ---------------------------------------------------------------------------------

def read_private(path):
    """The bytes of `path` if it is a regular file of the user's that only the user can write,
    of at most LARGEST_FILE bytes; None otherwise, and whatever else is at that name (a FIFO, a
    directory, a link, a file others could have written, a huge one) is removed. Never follows
    a link, never blocks."""
    try:
        st = os.lstat(path)
        if not _private(st) or st.st_size > LARGEST_FILE:  # (opening a device can act)
            discard(path)
            return None
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not _private(os.fstat(fh.fileno())):  # (replaced since the lstat)
            return None
        data = fh.read(LARGEST_FILE + 1)  # (it may have grown since)
    return data if len(data) <= LARGEST_FILE else None


def _private(st):
    return stat.S_ISREG(st.st_mode) and \
        (os.name != "posix" or st.st_uid == os.getuid() and not st.st_mode & 0o022)


def write_private(path, data):
    """Write `data` to `path` atomically, mode 0600; whatever was at that name is replaced (a
    link itself, never what it points to). False if it could not be written."""
    prefix = path.name.split(".", 1)[0] + "."  # (the temporary file belongs to its entry)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")  # 0600
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if os.path.isdir(path) and not os.path.islink(path):
            discard(path)
        os.replace(tmp, path)
        return True
    except OSError:
        _remove(tmp)
        return False


def discard(path):
    """Remove whatever is at `path` (a directory with its contents; a link, not its target)."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def write(text, stem, where):
    """The path of the generated module `text` in the folder `where` (from `folder()`),
    written if needed; None if it cannot be written."""
    data = text.encode()
    path = where / f"{stem}_{hashlib.sha256(data).hexdigest()[:32]}.py"
    if read_private(path) == data:
        try:
            os.utime(path)  # (most recently used)
        except OSError:  # (a read-only cache is used as it is)
            pass
        return path
    if not write_private(path, data):
        return None
    evict(where)
    return path


# ---- signed files (Numba's pickles) ---------------------------------------------------------

def write_signed(path, payload):
    """`write_private`, with a signature `read_signed` checks."""
    written = write_private(path, _SIGNED + _tag(path, payload) + payload)
    if written:
        evict(path.parent)
    return written


def read_signed(path):
    """The payload of `path` if srcad signed it with the user's key for this file name; else
    None, and the file is removed (never handed to pickle)."""
    data = read_private(path)
    if data is None:
        return None
    tag, payload = data[len(_SIGNED):len(_SIGNED) + 32], data[len(_SIGNED) + 32:]
    if data.startswith(_SIGNED) and hmac.compare_digest(tag, _tag(path, payload)):
        return payload
    discard(path)
    return None


def _tag(path, payload):
    # the name is signed too: a file of srcad's copied to another name does not verify
    message = Path(path).name.encode() + b"\0" + payload
    return hmac.new(secret_key(), message, hashlib.sha256).digest()


def secret_key():
    """The user's key (made when missing) that signs Numba's cache files; CacheRefused when
    it cannot be trusted."""
    path = key_location()
    if path not in _keys:
        problem = _key_problem(path, create=True)
        if problem is not None:
            raise CacheRefused(problem)
        _keys[path] = _read_key(path)
    return _keys[path]


def _key_problem(path, create=False):
    """Why the key file `path` cannot be used, or None. With `create`, a missing key is made
    (32 random bytes, 0600, in a 0700 directory)."""
    root = os.path.realpath(location())
    if os.path.realpath(path).startswith(root + os.sep):
        return (f"the key file {path} would be inside the cache directory (set "
                "SRCAD_CACHE_DIR or XDG_DATA_HOME elsewhere)")
    try:
        problem = _private_directory(path.parent, create)
        if problem is not None:
            return f"{path.parent} {problem}"
        if not os.path.lexists(path.parent):
            return None
        if create and not os.path.lexists(path):
            _create_key(path)
    except OSError as exc:
        return f"the key file {path} cannot be created ({exc.strerror or exc})"
    if os.path.lexists(path) and _read_key(path) is None:
        return (f"{path} is not a private key file of {KEY_BYTES} bytes (delete it and srcad "
                "makes a new one)")
    return None


def _create_key(path):
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # (0600, O_EXCL)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
        os.link(tmp, path)  # (atomic, and never replaces a key another process made)
    except FileExistsError:
        pass
    finally:
        _remove(tmp)


def _read_key(path):
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or \
                os.name == "posix" and (st.st_uid != os.getuid() or st.st_mode & 0o077):
            return None
        with os.fdopen(os.open(path, os.O_RDONLY | _NO_FOLLOW), "rb") as fh:
            key = fh.read()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


# ---- size bound and the `srcad cache` command ----------------------------------------------

def wanted(cache):
    """Whether a gradient made with `cache` (True, False, or None: not given) uses the disk
    cache: None follows `$SRCAD_CACHE` (1/true/yes/on; unset, empty, 0/false/no/off: no)."""
    if cache is not None:
        return bool(cache)
    text = os.environ.get("SRCAD_CACHE", "").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text not in ("", "0", "false", "no", "off"):
        _warn(f"srcad: SRCAD_CACHE={text!r} is not 1 (true, yes, on) or 0 (false, no, off); "
              "the disk cache stays off")
    return False


def limit_bytes():
    """`$SRCAD_CACHE_SIZE` (megabytes) in bytes; the default, with a warning, when it is not a
    size (empty means the default, as for SRCAD_CACHE_DIR)."""
    text = os.environ.get("SRCAD_CACHE_SIZE", "")
    try:
        mb = float(text) if text.strip() else DEFAULT_SIZE_MB
    except ValueError:
        mb = math.nan
    if not 0 <= mb < math.inf:
        _warn(f"srcad: SRCAD_CACHE_SIZE={text!r} is not a size in megabytes; using the "
              f"default, {DEFAULT_SIZE_MB}")
        mb = DEFAULT_SIZE_MB
    return int(mb * 2 ** 20)


def _scan(where):
    """({entry: [its files]}, [other paths]): srcad's files (a generated module and Numba's
    files for it) grouped by entry, and everything else in the folder."""
    entries, others = {}, []
    try:
        names = os.listdir(where)
    except OSError:
        return entries, others
    for name in names:
        m = _OWN_FILE.match(name)
        try:
            regular = stat.S_ISREG(os.lstat(where / name).st_mode)
        except OSError:
            continue
        if m and regular:
            entries.setdefault(m.group(1), []).append(where / name)
        else:
            others.append(where / name)
    return entries, others


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
    limit = limit_mb * 2 ** 20 if limit_mb is not None else limit_bytes()
    entries = [(files, *_sizes(files)) for files in _scan(where)[0].values()]
    total = sum(size for _, size, _ in entries)
    for files, size, _ in sorted(entries, key=lambda e: e[2]):
        if total <= limit:
            break
        for f in files:
            _remove(f)
        total -= size


def info():
    """A description of the cache: where it is, whether it is used (as the runtime decides,
    creating nothing), what it holds."""
    root = location()
    path = root / "generated"
    problem = _problem(root) or _key_problem(key_location())
    entries, others = _scan(path) if problem is None else ({}, [])
    return {"path": str(path), "trusted": problem is None, "problem": problem,
            "entries": sum(any(f.suffix == ".py" for f in files) for files in entries.values()),
            "others": [str(p) for p in others if not _OWN_FILE.match(p.name)],
            "planted": [str(p) for p in others if _OWN_FILE.match(p.name)],
            "bytes": sum(_sizes(files)[0] for files in entries.values()),
            "limit_bytes": limit_bytes(), "key": str(key_location())}


def clear():
    """Remove srcad's files from the cache folder, and whatever else carries a name srcad
    writes (a planted link or directory: removed, never followed). Entries with other names
    are left: the folder may be a user's own, named by mistake in SRCAD_CACHE_DIR. Returns
    {"files": srcad's files removed, "others": the entries left, "kept": what could not be
    removed}, or raises CacheRefused (touching nothing) when the cache is not one srcad uses."""
    root = location()
    problem = _problem(root)
    if problem is not None:
        raise CacheRefused(problem)
    entries, others = _scan(root / "generated")
    result = {"files": 0, "others": [], "kept": []}
    for f in [f for group in entries.values() for f in group] + others:
        if f in others and not _OWN_FILE.match(f.name):
            result["others"].append(str(f))
            continue
        discard(f)
        if os.path.lexists(f):
            result["kept"].append(str(f))
        else:
            result["files"] += 1
    return result


@functools.cache
def srcad_digest():
    """A digest of srcad's own source: what is generated and compiled depends on it."""
    h = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.digest()


def code_digest(code):
    """A digest of a code object, the same in every process: what it does, its names and its
    lines (nested code too)."""
    consts = tuple(code_digest(c) if isinstance(c, types.CodeType) else repr(canonical(c))
                   for c in code.co_consts)
    parts = (code.co_code, code.co_names, code.co_varnames, code.co_freevars,
             code.co_cellvars, code.co_filename, code.co_firstlineno, code.co_qualname,
             code.co_linetable, consts)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def canonical(value):
    """`value` with sets sorted (their order changes between processes)."""
    if isinstance(value, (set, frozenset)):
        return ("set", sorted(map(repr, value)))
    if isinstance(value, tuple):
        return tuple(map(canonical, value))
    return value
