"""tests/bench: the benchmark workloads and the `srcad bench` harness.

The repository root goes on sys.path so `bench.workloads` imports as a package, whatever
directory pytest was started from.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
