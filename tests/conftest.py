import numpy as np
import pytest


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
