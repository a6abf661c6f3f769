"""The folder layout is the architecture: a lower layer never imports a higher one. The leaderboard is built from
result files alone (``dcbench.results``), so making a table loads no plugin and no model."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_plugin_imports import imported_modules

PACKAGE = Path(__file__).resolve().parents[1] / "dcbench"


# a layer and what it must never import, at module level or inside a function
FORBIDDEN = {
    "leaderboard": ("dcbench.harness", "dcbench.methods", "dcbench.detectors", "dcbench.plugins", "dcbench.cli"),
    "results.py": ("dcbench.harness", "dcbench.leaderboard", "dcbench.methods", "dcbench.detectors", "dcbench.api"),
    "harness": ("dcbench.cli", "dcbench.leaderboard", "dcbench.runner"),
    "detectors": ("dcbench.harness", "dcbench.leaderboard", "dcbench.cli", "dcbench.runner", "dcbench.methods"),
    "data": ("dcbench.harness", "dcbench.leaderboard", "dcbench.methods", "dcbench.detectors", "dcbench.cli"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer):
    target = PACKAGE / layer
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    wrong = [
        f"{f.relative_to(PACKAGE)}:{line} imports {module}"
        for f in files
        for line, module in imported_modules(f)
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert not wrong, "; ".join(wrong)


def test_a_table_is_built_without_loading_a_plugin_or_torch(tmp_path):
    from tests.test_leaderboard import fake_result

    for seed in range(2):
        fake_result(tmp_path, "random", 0.01, seed, 1.0)
        fake_result(tmp_path, "dcod", 0.01, seed, 2.0)
    code = (
        "import sys\n"
        "from dcbench.leaderboard.collect import load_results\n"
        "from dcbench.leaderboard.tables import summarise, to_markdown\n"
        f"md = to_markdown(summarise(load_results({str(tmp_path)!r}))[0])\n"
        "assert '| dcod |' in md, md\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('dcbench.plugins.manager', 'dcbench.methods',"
        " 'dcbench.detectors', 'dcbench.harness', 'torch', 'ultralytics')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"building a table loaded {out.stdout.strip()}"
