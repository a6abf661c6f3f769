"""The example plugins teach the right imports: the contract (``dcbench.api``), the hook markers
(``dcbench.plugins``) and the test kit (``dcbench.testing``), never dcbench's internals."""

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
ALLOWED = ("dcbench.api", "dcbench.plugins", "dcbench.testing")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, at module level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


SOURCES = sorted(p for p in PLUGINS.glob("*/dcbench_*/**/*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_a_plugin_imports_only_the_contract_the_hook_markers_and_the_test_kit(path):
    internal = [
        f"line {line}: {module}"
        for line, module in imported_modules(path)
        if (module == "dcbench" or module.startswith("dcbench.")) and module not in ALLOWED
    ]
    assert not internal, f"{path.relative_to(PLUGINS)} imports dcbench internals: {', '.join(internal)}"


def test_there_are_plugins_to_check():
    assert len({p.parts[len(PLUGINS.parts)] for p in SOURCES}) == 3
