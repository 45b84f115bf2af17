"""The disk cache runs nothing it did not write: directories are private, foreign or
writable-by-others directories are refused, planted files and symlinks are replaced (never
run, never followed), Numba's pickles are loaded only when srcad's signature checks, a FIFO
never blocks, broken files are regenerated, and the cache is bounded."""

import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import numba
import numpy as np
import pytest

import srcad
from srcad import cli, diskcache, numbacache

SRCAD_ROOT = os.path.dirname(os.path.dirname(srcad.__file__))  # (the srcad under test)

MODEL = """
import numpy as np

def loss(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** 3
    return s
"""

SCRIPT = textwrap.dedent("""
    import warnings, numpy as np, srcad, model
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        g = srcad.grad(model.loss, cache=True)
        print(g(np.array([1.0, 2.0])).tolist())
    print(g._last.generated.path)
    print([str(w.message) for w in caught if issubclass(w.category, srcad.CacheWarning)])
""")

posix_only = pytest.mark.skipif(os.name != "posix", reason="ownership and modes are POSIX")


def run(tmp_path, cache, umask=None):
    (tmp_path / "model.py").write_text(MODEL)
    env = dict(os.environ, SRCAD_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]))
    prefix = f"import os; os.umask({umask:#o}); " if umask is not None else ""
    out = subprocess.run([sys.executable, "-c", prefix + SCRIPT], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    grads, path, warned = out.stdout.strip().split("\n")
    assert eval(grads) == [3.0, 12.0]  # the right numbers, whatever happened to the cache
    return (None if path == "None" else path), eval(warned)


@posix_only
def test_the_cache_directory_is_private_whatever_the_umask(tmp_path):
    cache = tmp_path / "c" / "srcad"
    path, warned = run(tmp_path, cache, umask=0)
    assert path is not None and not warned
    for d in (cache, cache / "generated"):
        assert os.stat(d).st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o077 == 0


@posix_only
@pytest.mark.parametrize("problem", ["writable by others", "owned by another user", "symlink"])
def test_an_untrusted_directory_is_refused(tmp_path, problem):
    cache = tmp_path / "cache"
    (cache / "generated").mkdir(parents=True)
    os.chmod(cache / "generated", 0o700)
    if problem == "writable by others":
        os.chmod(cache / "generated", 0o777)
    elif problem == "owned by another user":
        if os.getuid() != 0:
            pytest.skip("needs root to give a directory to another user")
        os.chown(cache / "generated", 12345, 12345)
    else:
        real = tmp_path / "elsewhere"
        real.mkdir(mode=0o700)
        os.rmdir(cache / "generated")
        os.symlink(real, cache / "generated")
    planted = cache / "generated" / "planted.nbi"
    marker = tmp_path / "marker"
    if problem != "symlink":
        planted.write_bytes(pickle.dumps(_Touch(str(marker))))
    path, warned = run(tmp_path, cache)
    assert path is None and warned and "not using the disk cache" in warned[0]
    assert not marker.exists()
    assert not [f for f in os.listdir(cache / "generated") if f.endswith(".py")]


class _Touch:
    """A pickle that creates a file when it is loaded (what a planted cache file could do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@posix_only
def test_planted_modules_and_symlinks_are_replaced_never_run(tmp_path):
    cache = tmp_path / "cache"
    path, _ = run(tmp_path, cache)  # learn the name the module gets
    marker = tmp_path / "ran"
    os.unlink(path)
    with open(path, "w") as fh:  # a module with the expected name, doing something else
        fh.write(f"open({str(marker)!r}, 'w')\ndef loss_grad(x, b_out=1.0):\n"
                 "    return (0.0, x * 0.0)\n")
    assert run(tmp_path, cache)[0] == path and not marker.exists()
    target = tmp_path / "victim.py"
    target.write_text("# not srcad's\n")
    os.unlink(path)
    os.symlink(target, path)  # a link at the expected path: replaced, not written through
    assert run(tmp_path, cache)[0] == path
    assert not os.path.islink(path) and target.read_text() == "# not srcad's\n"


@posix_only
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_broken_cache_files_are_discarded_and_regenerated(tmp_path, damage):
    cache = tmp_path / "cache"
    path, _ = run(tmp_path, cache)
    run(tmp_path, cache)  # numba's index and data files now exist
    folder = os.path.dirname(path)
    broken = [f for f in os.listdir(folder) if f.endswith((".nbi", ".nbc", ".py"))]
    assert any(f.endswith(".nbi") for f in broken)
    for name in broken:
        full = os.path.join(folder, name)
        data = open(full, "rb").read()
        with open(full, "wb") as fh:
            fh.write(data[:len(data) // 3] if damage == "truncate" else os.urandom(200))
    assert run(tmp_path, cache)[0] == path
    assert run(tmp_path, cache)[0] == path  # and again, from what the last run rewrote


def test_no_cache_needs_no_writable_directory(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    g = srcad.grad(lambda x: x * x * 2.0)
    assert g(3.0) == 12.0 and g._last.generated.path is None
    assert "lambda_grad" in srcad.source(g)


def test_the_cache_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    where = diskcache.folder()
    for k in range(5):
        (where / f"old{k}_{'0' * 32}.py").write_bytes(b"x" * 2 ** 19)
        os.utime(where / f"old{k}_{'0' * 32}.py", (k, k))
    diskcache.evict(where, limit_mb=1.2)
    left = sorted(os.listdir(where))
    assert left == [f"old3_{'0' * 32}.py", f"old4_{'0' * 32}.py"]  # the newest, under 1.2 MB
    info = diskcache.info()
    assert info["trusted"] and info["entries"] == 2 and info["bytes"] == 2 ** 20
    assert diskcache.clear()["files"] == 2 and diskcache.info()["entries"] == 0


def test_a_generated_gradient_shows_its_lines_in_tracebacks(monkeypatch, tmp_path):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    g = srcad.grad(lambda x: np.sum(x[np.array([0, 5])]), jit=False)
    with pytest.raises(IndexError) as info:
        g(np.ones(3))
    entry = next(e for e in info.traceback if e.frame.code.name == "lambda_grad")
    assert "rt.check_indices" in str(entry.statement)  # the generated line, from linecache


@posix_only
def test_planted_numba_pickles_are_never_unpickled(tmp_path):
    cache = tmp_path / "cache"
    path, _ = run(tmp_path, cache)
    folder = os.path.dirname(path)
    for name in os.listdir(folder):  # (Numba's files too)
        assert os.stat(os.path.join(folder, name)).st_mode & 0o077 == 0, name
    planted = [f for f in os.listdir(folder) if f.endswith((".nbi", ".nbc"))]
    assert {f.rsplit(".", 1)[1] for f in planted} == {"nbi", "nbc"}
    marker = tmp_path / "ran"
    for name in planted:
        with open(os.path.join(folder, name), "wb") as fh:
            if name.endswith(".nbi"):
                pickle.dump(numba.__version__, fh)  # (Numba's own header)
            fh.write(pickle.dumps(_Touch(str(marker))))
    assert run(tmp_path, cache)[0] == path and not marker.exists()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    return diskcache.folder()


def in_thread(action, seconds=20):
    """`action()`, failing the test if it blocks (a daemon thread: a hang does not stop pytest)."""
    result = {}
    worker = threading.Thread(target=lambda: result.update(value=action()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    return result["value"]


def plant(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
        (path / "inside").write_text("x")
    elif kind == "symlink":
        os.symlink("/etc/passwd", path)
    else:  # a file srcad would have written, but others could have written it since
        data = path.read_bytes()
        path.write_bytes(data)
        os.chmod(path, 0o666 if kind == "writable by others" else 0o600)
        if kind == "another user's":
            if os.getuid() != 0:
                pytest.skip("needs root to give a file to another user")
            os.chown(path, 12345, 12345)


KINDS = ["fifo", "directory", "symlink", "writable by others", "another user's"]


@posix_only
@pytest.mark.parametrize("kind", KINDS)
def test_a_module_name_holding_anything_else_is_replaced_without_blocking(folder, kind):
    text = "def f_grad(x):\n    return x\n"
    path = diskcache.write(text, "m", folder)
    if kind not in ("writable by others", "another user's"):
        os.unlink(path)
    plant(path, kind)
    assert in_thread(lambda: diskcache.write(text, "m", folder)) == path
    st = os.lstat(path)
    assert path.read_text() == text and st.st_mode & 0o777 == 0o600 and st.st_uid == os.getuid()


@posix_only
@pytest.mark.parametrize("kind", KINDS)
def test_a_numba_index_that_is_not_a_private_file_is_removed_unread(folder, kind):
    files = numbacache._SignedFiles(str(folder), f"m_{'0' * 32}.f_grad-k.py311", "stamp")
    files._save_index({"sig": "m.1.nbc"})
    assert files._load_index() == {"sig": "m.1.nbc"}
    index = folder / files._index_name
    if kind not in ("writable by others", "another user's"):
        os.unlink(index)
    plant(index, kind)
    assert in_thread(files._load_index) == {} and not os.path.lexists(index)


def test_signed_files_verify_only_under_their_own_name_and_bytes(folder):
    a, b = folder / f"a_{'0' * 32}.f-k.py311.1.nbc", folder / f"b_{'0' * 32}.f-k.py311.1.nbc"
    assert diskcache.write_signed(a, b"payload") and diskcache.read_signed(a) == b"payload"
    b.write_bytes(a.read_bytes())  # a file of srcad's, under another entry's name
    os.chmod(b, 0o600)
    assert diskcache.read_signed(b) is None and not b.exists()
    data = bytearray(a.read_bytes())
    data[-1] ^= 1
    a.write_bytes(bytes(data))
    assert diskcache.read_signed(a) is None and not a.exists()


@posix_only
def test_the_key_is_private_and_outside_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    assert diskcache.folder() is not None
    key = tmp_path / "data" / "srcad" / "cache-key"
    assert os.stat(key).st_mode & 0o777 == 0o600 and os.stat(key.parent).st_mode & 0o777 == 0o700
    assert len(key.read_bytes()) == 32 and diskcache.secret_key() == key.read_bytes()
    os.chmod(key, 0o644)  # (others could have read it)
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache2"))
    with pytest.warns(srcad.CacheWarning, match="cache-key is not a private key file"):
        assert diskcache.folder() is None
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "cache2"))  # the key inside the cache
    with pytest.warns(srcad.CacheWarning, match="would be inside the cache directory"):
        assert diskcache.folder() is None
    monkeypatch.setenv("XDG_DATA_HOME", "data")  # (relative: ignored, as the XDG spec says)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert diskcache.key_location() == tmp_path / "home" / ".local/share/srcad/cache-key"


def fresh():
    """A new function each time (the process's own cache of gradients is keyed on it)."""
    def square(x):
        return x * x
    return square


@pytest.fixture(autouse=True)
def warn_again(monkeypatch):
    monkeypatch.setattr(diskcache, "_warned", set())  # (a CacheWarning is given once a process)


@posix_only
def test_the_cache_warning_names_the_users_line(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert srcad.grad(fresh(), cache=True, jit=False)(3.0) == 6.0
    warning, = [w for w in caught if issubclass(w.category, srcad.CacheWarning)]
    assert warning.filename == __file__ and "writable by group or others" in str(warning.message)
    assert not (cache / "generated").exists()  # nothing made inside a refused directory


@posix_only
def test_an_existing_cache_readable_by_others_is_used(tmp_path, monkeypatch):
    (tmp_path / "cache" / "generated").mkdir(parents=True)
    for d in (tmp_path / "cache", tmp_path / "cache" / "generated"):
        os.chmod(d, 0o755)
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    g = srcad.grad(fresh(), cache=True, jit=False)
    assert g(3.0) == 6.0 and g._last.generated.path is not None


@pytest.mark.parametrize("size", ["abc", "nan", "inf", "-1"])
def test_a_bad_cache_size_warns_and_uses_the_default(tmp_path, monkeypatch, size):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SRCAD_CACHE_SIZE", size)
    with pytest.warns(srcad.CacheWarning, match=f"SRCAD_CACHE_SIZE={size!r} is not a size"):
        g = srcad.grad(fresh(), cache=True, jit=False, mode="source")
        assert g(3.0) == 6.0 and g._last.generated.path is not None
    assert diskcache.info()["limit_bytes"] == diskcache.DEFAULT_SIZE_MB * 2 ** 20
    monkeypatch.setenv("SRCAD_CACHE_SIZE", "")  # (empty: the default, as for SRCAD_CACHE_DIR)
    assert diskcache.limit_bytes() == diskcache.DEFAULT_SIZE_MB * 2 ** 20


@posix_only
def test_the_command_refuses_what_the_runtime_refuses(tmp_path, monkeypatch, capsys):
    victim = tmp_path / "victim" / "generated"
    victim.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "victim", 0o700)
    (victim / f"a_{'0' * 32}.py").write_text("not srcad's\n")
    os.symlink(tmp_path / "victim", tmp_path / "link")
    (tmp_path / "file").write_text("")
    for where in ("link", "file"):
        monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / where))
        with pytest.warns(srcad.CacheWarning, match="symbolic link or not a directory"):
            assert srcad.grad(fresh(), cache=True, jit=False)(3.0) == 6.0
        assert cli.main(["cache", "info"]) == 0
        assert "NOT used" in capsys.readouterr().out
        assert cli.main(["cache", "clear"]) == 1
        assert "not clearing" in capsys.readouterr().err
    assert os.listdir(victim) == [f"a_{'0' * 32}.py"]


@posix_only
@pytest.mark.parametrize("which", ["cache", "key"])
def test_nothing_is_made_where_another_user_could_replace_it(tmp_path, monkeypatch, capsys,
                                                              which):
    # (found by an attack: the missing directories were made, then refused)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # (world-writable, no sticky bit)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("SRCAD_CACHE_DIR", str((shared if which == "cache" else private) / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str((shared if which == "key" else private) / "k"))
    assert cli.main(["cache", "info"]) == 0
    assert "NOT used" in capsys.readouterr().out
    with pytest.warns(srcad.CacheWarning, match=f"below {shared}, which another user could"):
        assert srcad.grad(fresh(), cache=True, jit=False)(3.0) == 6.0
    assert os.listdir(shared) == []


@posix_only
def test_the_command_counts_and_clears_what_is_in_the_folder(folder, capsys):
    diskcache.write("x = 1\n", "m", folder)
    os.mkfifo(folder / "fifo")
    (folder / f"m_{'1' * 32}.py").mkdir()
    (folder / "notes.txt").write_text("")
    os.symlink(folder / "notes.txt", folder / f"m_{'2' * 32}.entry")
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    # (found by an attack: info said clear leaves a link at one of srcad's names; clear
    # removed it, as it removes whatever is at those names: info says so now)
    assert "1 generated module," in out and "2 other entries srcad did not write" in out
    assert "2 links or folders at names srcad writes files at (`srcad cache clear` removes " \
        "them, never what a link points to)" in out
    assert in_thread(lambda: cli.main(["cache", "clear"])) == 0
    out = capsys.readouterr().out
    assert "removed 3 files " in out and "left 2 other entries" in out and "fifo" in out
    assert sorted(os.listdir(folder)) == ["fifo", "notes.txt"]  # (a name srcad never writes)


@posix_only
def test_clearing_leaves_a_users_own_folder_named_by_mistake(tmp_path, monkeypatch, capsys):
    """Found by a helper's attack: with SRCAD_CACHE_DIR=. in a project, `srcad cache clear`
    deleted the project's own generated/ folder (its files and subfolders)."""
    project = tmp_path / "project"
    (project / "generated" / "protos").mkdir(parents=True)
    os.chmod(project, 0o700)
    os.chmod(project / "generated", 0o700)
    (project / "generated" / "protos" / "x.proto").write_text("message X {}\n")
    (project / "generated" / "api_pb2.py").write_text("code = 1\n")
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(project))
    diskcache.write("x = 1\n", "m", project / "generated")
    assert in_thread(lambda: cli.main(["cache", "clear"])) == 0
    assert "left 2 other entries srcad did not write" in capsys.readouterr().out
    assert sorted(os.listdir(project / "generated")) == ["api_pb2.py", "protos"]
    assert (project / "generated" / "protos" / "x.proto").read_text() == "message X {}\n"


@posix_only
def test_the_command_names_a_file_whose_name_is_not_text(folder):
    """Found by a helper's attack: `srcad cache clear` removed the files, then failed printing
    a name that is not UTF-8 where the output's encoding is ASCII."""
    os.close(os.open(os.path.join(os.fsencode(folder), b"odd-\xff"), os.O_CREAT | os.O_WRONLY))
    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONPATH=SRCAD_ROOT)
    out = subprocess.run([sys.executable, "-m", "srcad", "cache", "clear"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "odd-" in out.stdout and os.listdir(os.fsencode(folder)) == [b"odd-\xff"]


@posix_only
@pytest.mark.parametrize("suffix", [".entry", ".py"])
def test_a_huge_cache_file_is_removed_unread(tmp_path, suffix):
    """Found by a helper's attack: an .entry or generated module grown to gigabytes (a sparse
    file, taking no disk) was read whole, a MemoryError from the gradient's call."""
    cache = tmp_path / "cache"
    path, _ = run(tmp_path, cache)
    run(tmp_path, cache)  # (the entry exists after the first process)
    (huge,) = [p for p in (cache / "generated").iterdir() if p.suffix == suffix]
    os.truncate(huge, 6 * 2 ** 30)
    assert run(tmp_path, cache)[0] == path  # (written again, the right gradient: run checks)
    assert os.path.getsize(huge) < diskcache.LARGEST_FILE


@posix_only
def test_a_directory_reached_through_another_users_link_is_refused(tmp_path, monkeypatch):
    """Found by a helper's attack: in a sticky directory (like /tmp) the owner of a link can
    point it elsewhere at any time, so a cache below another user's link is not private."""
    if os.getuid() != 0:
        pytest.skip("needs root to give a link to another user")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    (tmp_path / "real").mkdir(mode=0o700)
    os.symlink(tmp_path / "real", shared / "link")
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(shared / "link" / "cache"))
    assert diskcache.folder() is not None  # (the user's own link)
    os.lchown(shared / "link", 12345, 12345)
    with pytest.warns(srcad.CacheWarning, match="a link another user owns"):
        assert diskcache.folder() is None


def test_a_zero_size_keeps_nothing(tmp_path, monkeypatch):
    """SRCAD_CACHE_SIZE=0 kept the signed files written after the module (found by a helper)."""
    monkeypatch.setenv("SRCAD_CACHE_SIZE", "0")
    path, _ = run(tmp_path, tmp_path / "cache")
    assert os.listdir(os.path.dirname(path)) == []


def test_a_cache_that_can_be_read_but_not_written_is_used(folder, monkeypatch):
    """(found by an attack: on a read-only filesystem, marking a module most recently used
    raised OSError from the gradient call)"""
    text = "def f_grad(x):\n    return x\n"
    path = diskcache.write(text, "m", folder)

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "utime", read_only)
    assert diskcache.write(text, "m", folder) == path and path.read_text() == text


@posix_only
def test_numba_saves_nothing_once_the_caches_root_is_a_link(folder, tmp_path):
    """(found by an attack: a kernel compiled before the cache's root was replaced by the
    user's own link kept saving new overloads through it, where srcad no longer looks)"""
    locator = numbacache._Locator(str(folder / "m.py"), "key")
    locator.ensure_cache_path()
    root = folder.parent
    elsewhere = tmp_path / "elsewhere"
    os.rename(root, elsewhere)
    os.symlink(elsewhere, root)
    with pytest.raises(OSError, match="untrusted cache directory"):
        locator.ensure_cache_path()


def test_a_cache_folder_given_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    # (found by an attack: SRCAD_CACHE_DIR="~/x", which a shell leaves as it is in quotes, made
    # a folder named ~ in the current directory)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SRCAD_CACHE_DIR", "~/x")
    assert diskcache.location() == tmp_path / "x"
