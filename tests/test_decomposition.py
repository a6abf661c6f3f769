"""The label decomposition: ΔmAP in the same mode, the labels' and the distillation's share, and DD-Ranking's
label-robust score, by hand on made-up results; and the checked-in page is what the reference results give."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.decomposition import decompose, lrs, to_markdown
from tests.test_leaderboard import fake_result

ROOT = Path(__file__).resolve().parents[1]


def _with_labels(root: Path, method: str, mode: str, seed: int, value: float) -> None:
    """A result in a label mode: fake_result's file with the mode in its config and its cell name."""
    before = set(root.glob("*")) if root.exists() else set()
    fake_result(root, f"{method}", 0.01, seed, value)
    (cell,) = set(root.glob("*")) - before
    record = json.loads((cell / "result.json").read_text())
    record["config"]["labels"] = mode
    record["cell"] += f"__labels={mode}"
    cell.rename(cell.with_name(cell.name + f"__{mode}"))
    (cell.with_name(cell.name + f"__{mode}") / "result.json").write_text(json.dumps(record))


@pytest.fixture
def decomposed(tmp_path):
    root = tmp_path / "results"
    for seed in range(3):
        for mode, random, dcod in (("stored", 10, 8), ("teacher", 11, 14), ("distill", 12, 16)):
            _with_labels(root, "random", mode, seed, random + seed)
            _with_labels(root, "dcod", mode, seed, dcod + seed + (0.5 if seed == 1 else 0))
        fake_result(root, "full", 1.0, seed, 50.0 + seed, full=True)
    return decompose(load_results(root), 0.01, ("dcod",))


def test_stale_results_are_left_out_and_said(tmp_path):
    """A result made by an older version of its method is not the method as it runs now: it must not be paired
    with current results of the other modes, and the page says how many were left out."""
    root = tmp_path / "results"
    for seed in range(3):
        for mode in ("stored", "distill"):
            _with_labels(root, "random", mode, seed, 10.0 + seed)
            _with_labels(root, "dcod", mode, seed, 20.0 + seed if seed else 90.0)
    fake_result(root, "dcod", 0.01, 1, 5.0, variant={"fbd": False})  # a variant, stale too: not in the figures

    def drift(record):  # dcod's stored seed-0 result predates a change of its defaults, as does the variant
        c = record["config"]
        old = (c["method"], c.get("labels"), c["seed"]) == ("dcod", "stored", 0) or record["method"].get("variant")
        return ["version"] if old else []

    found = decompose(load_results(root, drift), 0.01, ("dcod",))
    stored = found["cells"]["dcod"]["stored"]
    assert stored.n == 2 and stored.mean == pytest.approx(21.5) and stored.vs_random.mean == pytest.approx(10.0)
    assert found["cells"]["dcod"]["distill"].n == 3  # its current results are all kept
    assert found["stale"] == {"dcod stored": 1}
    assert "Left out as stale" in "\n".join(to_markdown("t", found))
    assert "stale" not in "\n".join(to_markdown("t", decompose(load_results(root), 0.01, ("dcod",))))


def test_two_results_of_a_row_at_one_seed_are_refused_not_overwritten(tmp_path):
    from dcbench.errors import ConfigError

    root = tmp_path / "results"
    for seed in range(2):
        _with_labels(root, "random", "stored", seed, 10.0)
        fake_result(root, "dcod", 0.01, seed, 12.0)
        fake_result(root, "dcod", 0.01, seed, 30.0, eval_detector="yolov8n")  # another table's row, same folder
    with pytest.raises(ConfigError, match="dcod with stored labels has two results at one seed"):
        decompose(load_results(root), 0.01, ("dcod",))


def test_dcbench_decompose_gives_each_tables_decomposition(tmp_path, capsys):
    """The command a user runs on their own results: one section per table and ratio, what decompose gives."""
    from dcbench.cli.app import main

    root = tmp_path / "results"
    for seed in range(3):
        for mode, random, dcod in (("stored", 10, 8), ("distill", 12, 16)):
            _with_labels(root, "random", mode, seed, random + seed)
            _with_labels(root, "dcod", mode, seed, dcod + seed)
        fake_result(root, "full", 1.0, seed, 50.0 + seed, full=True)
        fake_result(root, "dcod", 0.01, seed, 99.0, variant={"fbd": False})  # a variant: not a method of its own
    out = tmp_path / "decomposition.md"
    assert main(["decompose", str(root), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("### ") == 1 and "### shapes · evaluated with yolov3-tiny · protocol quick · 1 % (10" in text
    assert "| dcod | 9.00 (n=3) / -2.00" in text and "distill: mAP" in text and "Full train set" in text
    assert out.read_text(encoding="utf-8") == text
    assert main(["decompose", str(root), "--method", "od3"]) == 2
    assert "no table has Random and another method of od3" in capsys.readouterr().err


@pytest.mark.slow
def test_each_mode_is_compared_with_random_in_the_same_mode(decomposed):
    cells = decomposed["cells"]
    assert cells["random"]["teacher"].mean == pytest.approx(12.0) and cells["random"]["teacher"].vs_random is None
    assert cells["dcod"]["stored"].vs_random.mean == pytest.approx(-2 + 0.5 / 3)
    assert cells["dcod"]["teacher"].vs_random.mean == pytest.approx(3 + 0.5 / 3)
    assert cells["dcod"]["distill"].vs_random.mean == pytest.approx(4 + 0.5 / 3)


def test_the_labels_share_and_the_label_robust_score_by_hand(decomposed):
    s = decomposed["scores"]["dcod"]
    assert s["teacher_gain"].mean == pytest.approx(6.0) and s["distill_gain"].mean == pytest.approx(8.0)
    hlr = ((50 - 8) + (51 - 9.5) + (52 - 10)) / 3 / 100
    ior = (4 + 0.5 / 3) / 100
    assert s["HLR"] == pytest.approx(hlr) and s["IOR"] == pytest.approx(ior)
    a = (ior - hlr) / 2
    assert s["LRS"] == pytest.approx((math.exp(a) - math.exp(-1)) / (math.e - math.exp(-1)))
    assert lrs(0.0, 0.0) == pytest.approx(0.2689, abs=1e-4) and lrs(-1.0, 1.0) == pytest.approx(1.0)
    md = "\n".join(to_markdown("t", decomposed))
    assert "| dcod | 9.17 (n=3) / -1.83" in md and "Full train set (stored labels): 51.00 mAP." in md


@pytest.mark.slow
def test_the_checked_in_decomposition_is_what_the_results_give():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "label_decomposition.py"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_table_explains_each_label_mode_it_shows_and_no_other(tmp_path):
    from dcbench.leaderboard.tables import summarise
    from dcbench.leaderboard.tables import to_markdown as table_markdown

    root = tmp_path / "results"
    for seed in range(3):
        for mode in ("stored", "distill"):
            _with_labels(root, "random", mode, seed, 10.0 + seed)
            _with_labels(root, "dcod", mode, seed, 12.0 + seed)
    (table,) = summarise(load_results(root))
    md = table_markdown(table)
    assert "| dcod [distilled] |" in md
    assert "Rows marked [distilled] trained their students on the condensed set's own boxes plus PKD" in md
    assert "Rows marked [teacher labels]" not in md  # no such row here
