import textwrap

from srcad import cli


def test_show_and_explain(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""
        import numpy as np

        def loss(w, x):
            return np.sum((x @ w) ** 2)
    """))
    assert cli.main(["show", f"{path}:loss", "--args", "np.ones(3), np.ones((4, 3))"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def loss_grad(w, x, b_out=1.0):")
    assert cli.main(["explain", f"{path}:loss", "--wrt", "w", "--args", "np.ones(3), np.ones((4, 3))"]) == 0
    assert "source+numba" in capsys.readouterr().out
