"""The Slicer API names a module file uses, read from its AST: every ``slicer.*``, ``qt.*``, ``ctk.*`` and
``SampleData.*`` reference, including through ``from slicer.X import Y`` and plain aliases
(``logic = SampleData.SampleDataLogic``). Used by test_slicer_api_versions.py."""

from __future__ import annotations

import ast

ROOTS = ("slicer", "qt", "ctk", "SampleData")


def _chain(node: ast.AST) -> str | None:
    """``a.b().c`` for an attribute/call chain that starts at a name; None otherwise."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Name):
            return node.id + "".join(reversed(parts))
        else:
            return None


def _head(text: str) -> str:
    return text.split(".")[0].split("(")[0]


def _trim(text: str) -> str:
    """Up to one attribute after the first call (the method of a logic or a manager; deeper links are methods of
    returned VTK/Qt objects), without trailing calls or ``__init__``."""
    if "()" in text:
        before, _, after = text.partition("()")
        attribute = after.split("(")[0].lstrip(".").split(".")[0]
        text = f"{before}().{attribute}" if attribute else before
    while text.endswith("()"):
        text = text[:-2]
    return text.removesuffix(".__init__")


def api_names(source: str) -> set[str]:
    """Args:
        source: a Python file's text.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ROOTS:
                    root = alias.name.split(".")[0]
                    aliases[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module.split(".")[0] in ROOTS:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):  # plain aliases of an API object (no call: a call's result is not the API)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            text = _chain(node.value)
            if text and "(" not in text and _head(text) in aliases:
                aliases[node.targets[0].id] = aliases[_head(text)] + text[len(_head(text)):]
    found = set()
    for node in ast.walk(tree):
        text = _chain(node) if isinstance(node, (ast.Attribute, ast.Call, ast.Name)) else None
        if text and _head(text) in aliases:
            found.add(_trim(aliases[_head(text)] + text[len(_head(text)):]))
    # 'slicer.util.loadUI' is covered by 'slicer.util.loadUI().setMRMLScene'; a root alone is no API
    return {name for name in found if "." in name
            and not any(other.startswith((name + ".", name + "(")) for other in found)}
