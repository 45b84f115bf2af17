"""The examples run and print what README says they print."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_prints_gradient_and_source():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "df/dx1 = 0.232834" in out and "df/dx2 = 1.616549" in out
    assert "def f_grad(x1, x2, b_out=1.0):" in out
    assert "def horner_grad(coeffs, t, b_out=1.0):" in out
    assert "dp/dt = 3.110000" in out


def test_readme_in_brief_runs_and_its_listing_is_what_srcad_generates(tmp_path, capsys):
    import re

    import srcad

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    brief, listing = blocks[0], blocks[1]
    path = tmp_path / "readme_brief.py"
    path.write_text(brief)
    namespace = {"__name__": "readme_brief"}
    exec(compile(brief, str(path), "exec"), namespace)
    assert srcad.source(namespace["g"]) == listing


GALLERY = {
    "ode_fit.py": r"fitted k = 4\.00\d, c = 0\.(29|30)\d",
    "gaussian_process.py": r"lengthscale \d+\.\d\d, signal variance",
    "classifier.py": r"training accuracy 0\.9\d",
    "bayesian_counts.py": r"posterior mode: mean \d\.\d\d",
    "poisson_newton.py": r"converged: True in \d+ Newton steps",
    "dask_logistic.py": r"converged True in \d+ iterations, largest error in w 0\.0\d",
}


@pytest.mark.parametrize("script", sorted(GALLERY))
def test_gallery_example_checks_its_gradient_and_prints_its_result(script, tmp_path):
    import re

    out = subprocess.run([sys.executable, str(ROOT / "examples" / "gallery" / script)],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert "gradient check: ok" in out
    assert re.search(GALLERY[script], out), out
