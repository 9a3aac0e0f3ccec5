"""`registry/` is the shared base the apps build on: it must not import them."""

import ast
from pathlib import Path

import registry

APPS_ABOVE_REGISTRY = {"patients", "assessments", "demo"}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_registry_imports_nothing_from_the_apps_built_on_it():
    root = Path(registry.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 5  # the walk found the package
    offending = [
        f"{path.relative_to(root.parent)}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if module.split(".")[0] in APPS_ABOVE_REGISTRY
    ]
    assert offending == []
