"""Dependencies between the apps run one way (docs/architecture.md, "Dependency direction").

Every module's imports are read (including those inside functions); an import of an app that the
importing app may not depend on fails, naming the file and line.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAY_IMPORT = {
    "registry": set(),
    "patients": {"registry"},
    "assessments": {"patients", "registry"},
    "research": {"assessments", "patients", "registry"},
    "portal": {"assessments", "patients", "registry"},
    "workspace": {"portal", "assessments", "patients", "registry"},
    "demo": {"research", "portal", "workspace", "assessments", "patients", "registry"},
}


def _imported_apps(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in MAY_IMPORT or top == "config":
                yield top, node.lineno


@pytest.mark.parametrize("app", MAY_IMPORT)
def test_app_imports_only_what_it_may_depend_on(app):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for path in sorted((ROOT / app).rglob("*.py"))
        for imported, line in _imported_apps(path)
        if imported != app and imported not in MAY_IMPORT[app]
    ]

    assert not wrong, "\n".join(wrong)
