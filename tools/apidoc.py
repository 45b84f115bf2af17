"""Render docs/api.md from the docstrings of srcad's public names (`srcad.__all__`).

    python -m tools.apidoc            # rewrite docs/api.md
    python -m tools.apidoc --check    # exit 1 if docs/api.md is out of date

Docstrings are Google style: a summary, paragraphs, and sections such as `Args:` whose
entries (`name: text`, continued on deeper-indented lines) become bullet lists. Classes list
their public methods and properties that have docstrings; modules their public classes.
"""

import argparse
import inspect
import re
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "api.md"
SECTIONS = ("Args:", "Arguments:", "Returns:", "Yields:", "Raises:", "Raises (when called):",
            "Example:", "Examples:", "Note:", "Notes:")
ENTRY = re.compile(r"^[\w.*]+( \([^)]*\))?: ")  # "name: text" or "name (type): text"
HEADER = """# srcad API reference

Generated from the docstrings by `python -m tools.apidoc`; do not edit by hand (a test fails
when this file is out of date). The command line is described in README.md.
"""


def render():
    import srcad

    parts = [HEADER]
    for name in srcad.__all__:
        parts.append(_render_object(f"srcad.{name}", getattr(srcad, name), level=2))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).rstrip() + "\n"


def _render_object(qualname, obj, level):
    heading = "#" * level
    if inspect.ismodule(obj):
        out = [f"{heading} `{qualname}`\n", _markdown(inspect.getdoc(obj))]
        for name, member in sorted(vars(obj).items()):
            if inspect.isclass(member) and not name.startswith("_") and \
                    member.__module__ == obj.__name__:
                out.append(_render_object(f"{qualname}.{name}", member, level + 1))
        return "\n".join(out)
    out = [f"{heading} `{qualname}{_signature(obj)}`\n", _markdown(inspect.getdoc(obj))]
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        out.extend(_members(obj))
    return "\n".join(out)


def _members(cls):
    out = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_") and name != "__call__":
            continue
        func = member.fget if isinstance(member, property) else member
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        # the member's own docstring, not one inherited from object (`__call__`)
        doc = inspect.cleandoc(func.__doc__) if callable(func) and func.__doc__ else None
        if not doc:
            continue
        sig = "" if isinstance(member, property) else _signature(func, drop_self=True)
        out.append(f"- **`{name}{sig}`** — {_markdown(doc).strip()}")
    return ["", *out, ""] if out else []


def _signature(obj, drop_self=False):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        sig = sig.replace(parameters=params[1:])
    return str(sig.replace(return_annotation=inspect.Signature.empty))


def _markdown(doc):
    """Google-style docstring -> Markdown (sections become bold labels with bullet lists)."""
    if not doc:
        return "*No docstring yet.*\n"
    out = []
    in_section, entry_indent = False, None
    for line in doc.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped in SECTIONS:
            out.append(f"\n**{stripped[:-1]}**\n")
            in_section, entry_indent = True, None
        elif in_section and stripped and indent > 0:
            if entry_indent is None or (indent <= entry_indent and ENTRY.match(stripped)):
                entry_indent = indent
                out.append(f"- {_entry(stripped)}")
            else:  # a continuation line of the current entry
                out[-1] += " " + stripped
        else:
            in_section = in_section and not stripped
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _entry(text):
    match = ENTRY.match(text)
    if not match:
        return text
    name, _, kind = text[:match.end() - 2].partition(" ")
    return f"`{name}`{' ' + kind if kind else ''}: {text[match.end():]}"


def main(argv=None):
    return write_or_check("tools.apidoc", __doc__, OUTPUT, render, argv)


def write_or_check(module, doc, output, render, argv=None):
    """The command line of a generated document: rewrite `output`, or with --check exit 1
    when it differs from `render()`."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc)
    parser.add_argument("--check", action="store_true",
                        help=f"do not write; exit 1 if {output.name} is out of date")
    opts = parser.parse_args(argv)
    text = render()
    if opts.check:
        if (output.read_text() if output.exists() else "") != text:
            print(f"{output} is out of date: run `python -m {module}`", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(exist_ok=True)
    output.write_text(text)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
