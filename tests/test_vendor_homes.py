"""Every vendor has a home: shared code never names a vendor, or a table a vendor declares.

Outside each vendor's own folders (receiver/vendors/<vendor>/, reconciler/sources/<vendor>/) and the
registry's list of vendors (receiver/vendors/__init__.py), the code of receiver/ and reconciler/, its
templates included, names no vendor and none of the tables and views a vendor's registry entry
grants. Comments and docstrings may use vendors as examples; code, SQL strings and page text may not.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from receiver.vendors import VENDORS

ROOT = Path(__file__).resolve().parent.parent
HOMES = [ROOT / "receiver" / "vendors" / v.name for v in VENDORS] + [
    ROOT / "reconciler" / "sources" / v.name for v in VENDORS
]
REGISTRY_LIST = ROOT / "receiver" / "vendors" / "__init__.py"


def vendor_words() -> re.Pattern:
    """Each vendor's name and each of its tables' and views' names, as words in any letter case."""
    words = {v.name for v in VENDORS} | set(VENDORS.grants)
    return re.compile(r"(?i)(?<![a-z0-9_])(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + ")")


def docstring_lines(source: str) -> set[int]:
    """Line numbers of the module's, classes' and functions' docstrings."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def python_code(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every token that is code: comments and docstrings left out."""
    source = path.read_text(encoding="utf-8")
    skip = docstring_lines(source)
    return [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type != tokenize.COMMENT and not (tok.type == tokenize.STRING and tok.start[0] in skip)
    ]


def template_code(path: Path) -> list[tuple[int, str]]:
    """(line, text) of a Jinja template without its {# comments #}."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"), flags=re.S)
    return list(enumerate(text.splitlines(), start=1))


def shared_files() -> list[Path]:
    found = []
    for folder in ("receiver", "reconciler"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".html") or path == REGISTRY_LIST:
                continue
            if any(home in path.parents for home in HOMES):
                continue
            found.append(path)
    return found


def test_shared_code_names_no_vendor():
    pattern = vendor_words()
    named = []
    for path in shared_files():
        code = python_code(path) if path.suffix == ".py" else template_code(path)
        named += [
            f"{path.relative_to(ROOT)}:{line}: {pattern.search(text)[0]}" for line, text in code if pattern.search(text)
        ]
    assert named == [], "shared code names a vendor:\n" + "\n".join(named)


def test_the_check_sees_vendor_names_in_code_and_not_in_comments(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Ozonetel in a docstring."""\n# huawei in a comment\nTABLE = "lsq_request"\n', encoding="utf-8"
    )
    found = [text for _, text in python_code(sample) if vendor_words().search(text)]
    assert found == ['"lsq_request"']
