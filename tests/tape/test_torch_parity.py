"""PyTorch-tutorial-style scripts (tests/tape/parity/*.py) print the same under srcad as under
PyTorch 2.13: against the output recorded from torch (parity/expected.json, written by
record_torch.py), and, where torch is installed, against torch run live."""

import json

import pytest

from .parity_scripts import EXPECTED, SCRIPTS, differences, run_with_srcad, run_with_torch

RECORDED = json.loads(EXPECTED.read_text())


def test_every_script_has_a_recording():
    assert sorted(RECORDED["scripts"]) == sorted(script.name for script in SCRIPTS)
    assert RECORDED["torch"].startswith("2.13") and len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_prints_what_torch_printed(script):
    problems = differences(run_with_srcad(script), RECORDED["scripts"][script.name])
    assert not problems, "\n".join(problems)


@pytest.mark.filterwarnings("ignore")  # torch's and torchviz's own deprecation warnings
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_prints_what_torch_prints_now(script):
    pytest.importorskip("torch")
    pytest.importorskip("torchviz")
    problems = differences(run_with_srcad(script), run_with_torch(script))
    assert not problems, "\n".join(problems)


def test_differences_are_found():
    assert differences(["tensor([1.0000, 2.0000])"], ["tensor([1.0000, 2.0010])"])
    assert differences(["MulBackward0"], ["MulBackward1"])
    assert differences(["a", "b"], ["a"])
    assert not differences(["tensor([1.00001])", "x"], ["tensor([1.00002])", "x"])
