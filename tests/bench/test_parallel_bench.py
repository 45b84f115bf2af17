"""bench/parallel.py runs, and checks each parallel gradient against the serial one before it
times it. Never a timing."""

import numba
import pytest

from bench import parallel
from bench.workloads import newton


def test_a_row_is_measured_after_the_check():
    row = parallel.measure(newton, 40, 0.01, numba.config.NUMBA_NUM_THREADS)
    assert row[:2] == ("newton", 40) and all(t > 0 for t in row[2:])
    assert "| newton | 40 |" in parallel.table([row], 2)


def test_a_differing_gradient_is_an_error():
    with pytest.raises(AssertionError, match="differs from the serial one"):
        parallel._check((1.0, (newton.make_inputs(3)[0],)), (1.0, (newton.make_inputs(3)[0] + 1,)),
                        "newton 3")
