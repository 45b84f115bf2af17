import importlib
import sys
import textwrap

import pytest


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """make_module(name, source) -> the imported module written to a file of its own."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name, source):
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        module.__path_for_test__ = path
        return module
    yield make
