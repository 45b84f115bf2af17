import os
import tempfile

import numpy as np
import pytest

# The tests check numbers, not speed: LLVM without optimisation (-O0) compiles the suite's
# thousands of generated gradients in about three quarters of the time of -O1, and that in 60%
# of Numba's default -O3 (NUMBA_OPT=3 runs them as users do). Set before anything imports
# Numba, which reads it once.
os.environ.setdefault("NUMBA_OPT", "0")
# Numba's cache (cache=True, as bench/workloads/ compiles its primals and hand adjoints) does not
# key its files on the optimisation level: written at -O0 into the checkout, `srcad bench` would
# later time the hand adjoints 10-20x slower than they are. The tests keep theirs elsewhere.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="srcad-tests-numba-"))


@pytest.fixture(autouse=True, scope="session")
def private_cache_key(tmp_path_factory):
    """The key that signs the disk cache's files (cache=True) in a directory of the tests' own,
    for this process and the subprocesses tests start, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(params=[True, False], ids=["jit", "python"])
def jit(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
