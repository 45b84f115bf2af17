"""docs/api.md is rendered from the public docstrings by `python -m tools.apidoc`, and
docs/numpy.md from the rule table by `python -m tools.numpydoc`."""

import pytest

from tools import apidoc, numpydoc


@pytest.mark.parametrize("tool, source", [(apidoc, "the docstrings"),
                                          (numpydoc, "srcad/rules.py")],
                         ids=["api", "numpy"])
def test_reference_is_up_to_date(tool, source):
    current = tool.OUTPUT.read_text() if tool.OUTPUT.exists() else ""
    assert current == tool.render(), f"docs/{tool.OUTPUT.name} is out of date with {source}: " \
        f"run `python -m {tool.__name__}`"


def test_every_public_name_is_documented():
    import srcad

    text = apidoc.render()
    for name in srcad.__all__:
        assert f"## `srcad.{name}" in text


def test_google_sections_become_lists():
    doc = ("Summary.\n\nArgs:\n    x: the input,\n        continued.\n    y (int): more.\n"
           "Returns:\n    a number,\n    on two lines.\n\nA closing paragraph.")
    md = apidoc._markdown(doc)
    assert "**Args**" in md and "- `x`: the input, continued." in md
    assert "- `y` (int): more." in md
    assert "- a number, on two lines." in md
    assert md.rstrip().endswith("A closing paragraph.")


def test_every_rule_is_listed():
    from srcad import rules

    text = numpydoc.render()
    for key, rule in rules.REGISTRY.items():
        name = numpydoc.spell(key)
        assert name is None or name in text, key
