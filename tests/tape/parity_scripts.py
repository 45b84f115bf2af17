"""Runs the PyTorch-tutorial-style scripts in tests/tape/parity/ with torch or with srcad and
returns what they print, normalised so the two can be compared line by line.

A script is written for torch (`import torch`, `from torchviz import make_dot`); for srcad the
same imports give srcad (and srcad.make_dot) instead. torch runs with float64 as its default
dtype, which is srcad's default float (the one difference README's tape section lists).
Object addresses are dropped and "torch." is read as "srcad.".
"""

import contextlib
import io
import re
import sys
import types
from pathlib import Path

import numpy as np

SCRIPTS = sorted((Path(__file__).parent / "parity").glob("*.py"))
EXPECTED = Path(__file__).parent / "parity" / "expected.json"
NUMBER = r"-?\d+\.?\d*(?:e[-+]?\d+)?"


def normalise(text):
    text = re.sub(r" object at 0x[0-9a-f]+", "", text)
    return text.replace("torch.", "srcad.").splitlines()


def run_with_torch(script):
    import torch  # only where torch is installed

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    try:
        return _run(script, {})
    finally:
        torch.set_default_dtype(previous)


def run_with_srcad(script):
    import srcad

    srcad.manual_seed(0)
    return _run(script, {"torch": srcad, "torch.autograd": srcad.autograd,
                         "torch.optim": srcad.optim,
                         "torch.optim.lr_scheduler": srcad.optim.lr_scheduler,
                         "torchviz": types.SimpleNamespace(make_dot=srcad.make_dot)})


def _run(script, modules):
    """Execute script with `modules` standing in for the ones it imports; its printed lines."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
            code = compile(script.read_text(), str(script), "exec")
            exec(code, {"__name__": "__main__", "__file__": str(script)})  # noqa: S102 (our own)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return normalise(out.getvalue())


def differences(got, expected):
    """Lines that differ in text, or in a number by more than printing's 4 decimals allow."""
    problems = []
    for i in range(max(len(got), len(expected))):
        mine = got[i] if i < len(got) else "<missing>"
        theirs = expected[i] if i < len(expected) else "<missing>"
        if re.sub(NUMBER, "#", mine) != re.sub(NUMBER, "#", theirs) or not np.allclose(
            [float(n) for n in re.findall(NUMBER, mine)],
            [float(n) for n in re.findall(NUMBER, theirs)],
            rtol=2e-4,
            atol=1e-4,
        ):
            problems.append(f"line {i + 1}:\n  srcad: {mine}\n  torch: {theirs}")
    return problems
