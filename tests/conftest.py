import numpy as np
import pytest


@pytest.fixture(params=[True, False], ids=["jit", "python"])
def jit(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
