"""External sets (``dcbench eval``) in leaderboards, from hand-made result files: their own row name, compared
with Random unpaired even at common seeds (one fixed set: its seed seeds only the student), and sets with no ratio
(no train set given) in a section of their own, without disturbing the ratio columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.stats import unpaired
from dcbench.leaderboard.tables import summarise, to_csv, to_markdown

METRICS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")


def _result(root: Path, name: str, method: str, seed: int, map_: float, *, ratio=0.01, dataset="shapes", label=None):
    """What run_cell (or run_external, with ``label``) writes, as far as a leaderboard reads it."""
    external = label is not None
    record = {
        "cell": f"{name}__s{seed}",
        "config": {
            "method": method,
            "detector": "yolo11n",
            "eval_detector": None,
            "ratio": ratio,
            "seed": seed,
            "dataset": dataset,
            "dataset_id": dataset,
            "test_dataset": "shapes" if dataset is None else None,
            "protocol": {"name": "quick", "protocol_id": "quick", "overrides": {}},
        },
        "method": {"name": method, "variant": {"set": name} if external else {}}
        | ({"label": label, "fixed_set": True} if external else {}),
        "budget": 10,
        "condensed": {"images": 10, "manifest": {"kind": "selection"}},
        "metrics": {m: map_ for m in METRICS},
        "teacher": None,
    }
    folder = root / f"{name}__s{seed}"
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for seed, (random_map, external_map) in enumerate([(10.0, 12.0), (14.0, 13.0), (9.0, 15.0)]):
        _result(root, "random", "random", seed, random_map)
        _result(root, "mine", "external", seed, external_map, label="external:mine")
        _result(root, "loose", "external", seed, 5.0 + seed, ratio=None, dataset=None, label="external:loose")
    return root


def test_external_rows_are_named_by_their_set_and_compared_unpaired(results):
    tables = {t.dataset: t for t in summarise(load_results(results))}
    s = tables["shapes"].summary
    row = s[s["label"] == "external:mine"].iloc[0]
    expected = unpaired([12.0, 13.0, 15.0], [10.0, 14.0, 9.0])  # Welch, though seeds 0-2 are common to both
    assert row["vs_random_kind"] == "unpaired" and row["n_seeds"] == 3
    assert row["vs_random_low"] == pytest.approx(expected.low) and row["vs_random_high"] == pytest.approx(expected.high)
    assert tables["shapes"].fixed_sets == ("external:mine",)
    text = to_markdown(tables["shapes"])
    assert "| external:mine | 13.33 ± 1.53 |" in text and "unpaired" in text and "compared with Random unpaired" in text


def test_sets_without_a_ratio_get_a_section_and_no_ratio_column(results):
    tables = {t.dataset: t for t in summarise(load_results(results))}
    loose = tables["no train set | test shapes"]
    assert len(loose.summary) == 1 and math.isnan(loose.summary["ratio"].iloc[0])
    text = to_markdown(loose)
    assert "Sets scored with no train set to take a ratio against" in text and "| external:loose | 10 | 0 1 2 |" in text
    assert "nan" not in text and "ΔmAP" not in text.split("mean ±")[0] and "compared with Random" not in text
    assert "external:loose,external,set=loose" in to_csv(loose).replace('"', "")
    assert "nan" not in to_markdown(tables["shapes"])


@pytest.mark.slow
def test_leaderboard_command_writes_tables_and_plots_with_external_rows(results, tmp_path):
    from dcbench.cli.app import main

    out = tmp_path / "lb"
    assert main(["leaderboard", str(results), "--out", str(out)]) == 0
    assert len(list(out.glob("*.png"))) == 2 and len([p for p in out.glob("*.md") if p.name != "README.md"]) == 2


def test_site_and_latex_show_external_rows_and_a_set_without_a_ratio(results, tmp_path):
    from dcbench.cli.app import main

    site, tex = tmp_path / "site", tmp_path / "tex"
    assert main(["leaderboard", str(results), "--html", str(site), "--latex", str(tex), "--no-plots"]) == 0
    pages = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "external:mine" in pages and "external:loose" in pages
    assert "nan" not in pages.lower().replace("nanoseconds", "")
    assert "external:mine" in "".join(p.read_text() for p in tex.glob("*.tex"))
