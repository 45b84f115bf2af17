"""The disk cache runs nothing it did not write: directories are private, foreign or
writable-by-others directories are refused, planted files and symlinks are replaced (never
run, never followed), broken files are regenerated, and the cache is bounded."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import srcad
from srcad import diskcache

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
    assert diskcache.clear() == 2 and diskcache.info()["entries"] == 0


def test_a_generated_gradient_shows_its_lines_in_tracebacks(monkeypatch, tmp_path):
    monkeypatch.setenv("SRCAD_CACHE_DIR", str(tmp_path / "cache"))
    g = srcad.grad(lambda x: np.sum(x[np.array([0, 5])]), jit=False)
    with pytest.raises(IndexError) as info:
        g(np.ones(3))
    entry = next(e for e in info.traceback if e.frame.code.name == "lambda_grad")
    assert "rt.check_indices" in str(entry.statement)  # the generated line, from linecache
