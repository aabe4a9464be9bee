"""The layers of docs/architecture.md hold: each module imports only from the layers below its
own (the contract in pyproject.toml, checked by import-linter), and no module hides an import of
another inside a function, where a cycle would go unseen."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.nodes import REPO_ROOT

# Imports inside functions that are there on purpose: the factory imports each part as it
# registers it (Flask's pattern), and the pytest plugin works without its optional extra.
DELIBERATE = {"app/__init__.py", "app/testing/pytest_plugin.py"}


def test_each_layer_imports_only_from_the_layers_below_it():
    checker = Path(sys.executable).parent / "lint-imports"
    checked = subprocess.run([str(checker), "--no-cache"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    assert "1 kept, 0 broken" in checked.stdout


def imports_inside_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").split(".")[0] == "app":
                    found.append(f"{path.relative_to(REPO_ROOT)}:{inner.lineno} {inner.module}")
    return found


def test_no_module_imports_another_of_the_app_inside_a_function():
    hidden = [found for path in sorted((REPO_ROOT / "app").rglob("*.py"))
              if str(path.relative_to(REPO_ROOT)) not in DELIBERATE
              for found in imports_inside_functions(path)]
    assert hidden == []
