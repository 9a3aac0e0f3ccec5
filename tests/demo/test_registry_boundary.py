"""Dependencies between the apps run one way (docs/architecture.md, "Dependency direction")."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
# Each app, and the apps it must never import: everything above it in the layering.
LAYERS = ["registry", "patients", "assessments", "research", "demo"]
FORBIDDEN = {app: set(LAYERS[index + 1 :]) for index, app in enumerate(LAYERS)}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("app", LAYERS[:-1])
def test_an_app_imports_nothing_from_the_apps_built_on_it(app):
    root = ROOT / app
    files = sorted(root.rglob("*.py"))
    assert len(files) > 3  # the walk found the package
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if module.split(".")[0] in FORBIDDEN[app]
    ]
    assert offending == []
