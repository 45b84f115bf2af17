"""docs/api.md is rendered from the public docstrings by `python -m tools.apidoc`, and
docs/numpy.md from the rule table by `python -m tools.numpydoc`."""

from tools import apidoc, numpydoc


def test_api_reference_is_up_to_date():
    current = apidoc.OUTPUT.read_text() if apidoc.OUTPUT.exists() else ""
    assert current == apidoc.render(), \
        "docs/api.md is out of date with the docstrings: run `python -m tools.apidoc`"


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


def test_numpy_reference_is_up_to_date():
    current = numpydoc.OUTPUT.read_text() if numpydoc.OUTPUT.exists() else ""
    assert current == numpydoc.render(), \
        "docs/numpy.md is out of date with srcad/rules.py: run `python -m tools.numpydoc`"


def test_every_rule_is_listed():
    from srcad import rules

    text = numpydoc.render()
    for key, rule in rules.REGISTRY.items():
        name = numpydoc.spell(key)
        assert name is None or name in text, key
