"""Record what the parity scripts (tests/tape/parity/*.py) print under PyTorch, into
tests/tape/parity/expected.json, which test_torch_parity.py compares srcad's output with.

    pip install torch==2.13.0 torchviz graphviz     # CPU torch; never an unpinned torch
    python tests/tape/record_torch.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tape.parity_scripts import EXPECTED, SCRIPTS, run_with_torch


def main():
    import torch

    recorded = {"torch": torch.__version__, "scripts": {}}
    for script in SCRIPTS:
        recorded["scripts"][script.name] = run_with_torch(script)
        print(f"{script.name}: {len(recorded['scripts'][script.name])} lines")
    EXPECTED.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"wrote {EXPECTED}")


if __name__ == "__main__":
    main()
