"""Leaderboards from result files: numbers checked by hand, the paper's table shape, stale-table detection, bad
result files, and the reference leaderboard in the repository matching its result files."""

import json
from pathlib import Path

import pytest

from dcbench.cli.app import main
from dcbench.errors import DatasetError
from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.tables import summarise, to_csv, to_markdown

ROOT = Path(__file__).resolve().parents[1]
METRIC_NAMES = ("mAP", "AP50", "AP75", "APs", "APm", "APl")


def fake_result(
    root: Path,
    method: str,
    ratio: float,
    seed: int,
    map_: float,
    *,
    variant=None,
    eval_detector=None,
    full=False,
    n_train=1000,
    protocol=None,
    teacher=None,
) -> None:
    """A result file as run_cell writes it (the fields a leaderboard reads)."""
    budget = n_train if full else round(ratio * n_train)
    protocol = protocol or {"name": "quick", "protocol_id": "quick", "overrides": {}}
    cell = f"shapes__{method}__{ratio:g}__s{seed}__{eval_detector or ''}__{json.dumps(variant or {})}__{protocol['protocol_id']}"
    metrics = {m: map_ * (i + 1) for i, m in enumerate(METRIC_NAMES)}
    metrics["APl"] = None
    result = {
        "cell": cell,
        "config": {
            "method": method,
            "detector": "yolov3-tiny",
            "eval_detector": eval_detector,
            "ratio": ratio,
            "seed": seed,
            "dataset": "shapes",
            "test_dataset": None,
            "protocol": protocol,
            "method_options": variant or {},
        },
        "method": {"name": method, "variant": variant or {}},
        "budget": budget,
        "data": {"train": n_train},
        "condensed": {"images": budget, "manifest": {"kind": "full train split"} if full else {"kind": "selection"}},
        "metrics": metrics,
        "teacher": teacher,
    }
    d = root / (cell.replace("/", "_").replace('"', "").replace(" ", ""))
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(result))


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    for seed, (r, d, p) in enumerate([(1.0, 2.0, 1.5), (2.0, 4.0, 1.0), (3.0, 6.0, 0.5)]):
        fake_result(root, "random", 0.01, seed, r)
        fake_result(root, "dcod", 0.01, seed, d)
        fake_result(root, "dcod", 0.01, seed, p, variant={"fbd": False, "ipe": False})
        fake_result(root, "random", 0.02, seed, r + 1)
        fake_result(root, "full", 1.0, seed, 50.0 + seed, full=True)
    fake_result(root, "random", 0.01, 0, 9.0, eval_detector="faster-rcnn")
    return root


def test_means_stds_and_deltas_by_hand(results):
    tables = summarise(load_results(results))
    assert [(t.dataset, t.eval_detector, t.protocol) for t in tables] == [
        ("shapes", "faster-rcnn", "quick"),
        ("shapes", "yolov3-tiny", "quick"),
    ]
    s = tables[1].summary
    row = s[(s["label"] == "dcod") & (s["ratio"] == 0.01)].iloc[0]
    assert row["mAP_mean"] == pytest.approx(4.0) and row["mAP_std"] == pytest.approx(2.0)  # sample std of 2, 4, 6
    assert row["AP50_mean"] == pytest.approx(8.0) and row["n_seeds"] == 3 and row["seeds"] == "0 1 2"
    assert row["delta_mAP_vs_random"] == pytest.approx(2.0)
    plain = s[s["label"] == "dcod (fbd=false, ipe=false)"].iloc[0]
    assert plain["delta_mAP_vs_random"] == pytest.approx(1.0 - 2.0)
    assert s["label"].tolist()[0] == "random" and s["label"].tolist()[-1] == "full train set"
    full = s[s["full"]].iloc[0]
    assert full["mAP_mean"] == pytest.approx(51.0) and full["budget"] == 1000 and pd_isnull(full["delta_mAP_vs_random"])
    # the cross-architecture result is its own table
    assert tables[0].summary["mAP_mean"].tolist() == [9.0]


def pd_isnull(v) -> bool:
    import pandas as pd

    return v is None or pd.isna(v)


def test_markdown_is_shaped_like_the_paper(results):
    md = to_markdown(summarise(load_results(results))[1])
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert "1 % (10 img) mAP" in header and "2 % (20 img) APl" in header and "1 % ΔmAP" in header
    assert header.count("|") - 1 == 1 + 2 * 7
    assert "| dcod | 4.00 ± 2.00 | 8.00 ± 4.00 |" in md
    assert "| random | 2.00 ± 1.00 |" in md and "(reference)" in md
    # dcod - random per seed: 1, 2, 3 -> mean 2, sd 1, t(0.975, 2) = 4.303 -> 2 ± 2.48, not significant
    assert "+2.00 [-0.48, +4.48] n=3, p=0.25" in md
    assert "Resolution at 1 %" in md
    # the upper of the two rows: half-width 3.73 from 3 seeds is an sd of 1.50; t(0.975, m-1) * 1.50 / sqrt(m) <= 1.5
    # first holds at m = 7 (2.447 / 2.646 = 0.92; at 6, 2.571 / 2.449 = 1.05)
    assert "The aim of ±1.5 would take about 7 paired seeds at the median row's spread" in md
    assert "| 1000 | 0 1 2 | 51.00 ± 1.00 |" in md  # the full-data row
    assert "– | –" in md and "nan" not in md  # dcod was not run at 2 %, and APl is undefined


def test_the_table_says_at_a_glance_who_leads_and_who_beats_random(results, tmp_path):
    md = to_markdown(summarise(load_results(results))[1])
    assert (
        "- At 1 % (10 img): the highest mean mAP is dcod's, 4.00 (+2.00 on Random, [-0.48, +4.48]: not significant); "
        "significantly above Random: none; significantly below: none; tied with Random at this table's resolution: "
        "dcod, dcod (fbd=false, ipe=false)." in md
    )
    assert "- At 2 % (20 img): the highest mean mAP is random's, 3.00; significantly above Random: none;" in md
    root = tmp_path / "clear"
    for seed, (r, noise) in enumerate([(1.0, 0.1), (2.0, -0.1), (3.0, 0.0)]):
        fake_result(root, "random", 0.01, seed, r)
        fake_result(root, "uniform", 0.01, seed, r + 1.0 + noise)  # +1 at every seed: a significant win
        fake_result(root, "kcenter", 0.01, seed, r - 2.0 + noise)
        if seed < 2:  # two seeds: no interval, so neither a win nor a tie
            fake_result(root, "herding", 0.01, seed, r + 5.0)
    md = to_markdown(summarise(load_results(root))[0])
    assert (
        "the highest mean mAP is herding's, 6.50, seeds 0 1 (+5.00 on Random, too few paired seeds for an interval); "
        "significantly above Random: uniform; significantly below: kcenter; rank groups (rows whose ΔmAP intervals "
        "overlap share one): 1: uniform; 2: random; 3: kcenter." in md
    )


def test_identical_scores_are_a_tie_and_a_smoke_table_says_its_numbers_measure_nothing(tmp_path):
    root = tmp_path / "smoke"
    for seed in range(3):
        for method in ("random", "uniform", "dcod"):
            fake_result(
                root, method, 0.01, seed, 0.2347, protocol={"name": "smoke", "protocol_id": "smoke", "overrides": {}}
            )
    md = to_markdown(summarise(load_results(root))[0])
    assert "**These numbers measure nothing.**" in md.split("|")[0]  # at the top, before the table
    assert "is shared by random, dcod, uniform: a tie, not a win" in md
    assert "the highest mean mAP is" not in md


def test_rank_groups_follow_overlapping_intervals():
    from dcbench.leaderboard.stats import rank_groups

    rows = [
        ("random", 0.0, 0.0, 0.0),
        ("a", 3.0, 1.0, 5.0),  # above Random: the top group
        ("b", 1.5, -0.5, 3.5),  # overlaps a and Random: joins a's group (opened first)
        ("c", -0.2, -1.0, 0.5),  # overlaps Random, not a: Random's group
        ("d", -6.0, -8.0, -4.0),
        ("e", 0.1, None, None),  # no interval: no group
    ]
    assert rank_groups(rows) == {"a": 1, "b": 1, "random": 2, "c": 2, "d": 3}


def test_a_row_run_on_fewer_seeds_than_the_table_names_them(results):
    fake_result(results, "herding", 0.01, 0, 1.5)
    fake_result(results, "herding", 0.01, 2, 3.5)
    md = to_markdown(summarise(load_results(results))[1])
    assert "| herding | 2.50 ± 1.41 (seeds 0 2) | 5.00 ± 2.83 |" in md and "(n=2: no interval)" in md
    assert "| dcod | 4.00 ± 2.00 | 8.00 ± 4.00 |" in md  # a row with every seed of the table is left as it was
    assert "mean ± sample std over seeds 0, 1, 2 (a row run on fewer names its seeds)" in md


def test_a_row_made_by_an_older_version_of_its_method_is_marked_stale(tmp_path):
    import json as _json

    from dcbench.harness.identity import make_method
    from dcbench.harness.staleness import drift_check

    root = tmp_path / "results"
    now = _json.loads(_json.dumps(make_method("dcod", {}).describe(), default=str))
    older = {**now, "ipe_min_visible": 0.5, "version": now["version"] - 1}
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 1.0)
        fake_result(root, "dcod", 0.01, seed, 2.0)
        fake_result(root, "dcod", 0.01, seed, 3.0, variant={"iterations": 3})
        fake_result(root, "nosuchmethod", 0.01, seed, 4.0)  # not installed here: nothing to compare with
    for f in root.rglob("result.json"):
        r = _json.loads(f.read_text())
        method, variant = r["config"]["method"], r["method"]["variant"]
        if method == "dcod":
            r["method"]["options"] = {**(older if not variant else now), **variant}
        elif method == "nosuchmethod":
            r["method"]["options"] = {"version": 1}
        f.write_text(_json.dumps(r))
    # without a staleness check (a reader of result files alone) no row is marked
    assert "dcod [stale]" not in set(summarise(load_results(root))[0].summary["label"])
    table = summarise(load_results(root, drift_check()))[0]
    assert set(table.summary["label"]) == {"random", "dcod [stale]", "dcod (iterations=3)", "nosuchmethod"}
    md = to_markdown(table)
    assert "| dcod [stale] | 2.00 ± 0.00 |" in md and "+1.00 [" in md  # still compared with Random, seed by seed
    assert "settings have changed since (dcod: ipe_min_visible, version)" in md
    # the table's resolution is read from the rows that are the methods as they run now
    assert "(median of 2 rows not stale; narrowest dcod (iterations=3), ±0.00;" in md


def test_the_plot_draws_no_interval_under_three_seeds_and_stale_rows_hollow():
    import pandas as pd

    from dcbench.leaderboard.plot import mean_half_width, row_styles

    rows = pd.DataFrame({"n_seeds": [1, 2, 3], "mAP_std": [None, 4.0, 1.0]})
    # the tables show no interval under 3 seeds; t(0.975, 2) = 4.303 -> 4.303 * 1 / sqrt(3) = 2.48
    assert [round(h, 2) for h in mean_half_width(rows, "mAP")] == [0.0, 0.0, 2.48]
    styles = row_styles(["random", "dcod [stale]"])
    assert "markerfacecolor" not in styles["random"] and styles["dcod [stale]"]["markerfacecolor"] == "white"
    assert styles["random"]["color"] != styles["dcod [stale]"]["color"]


def test_csv_has_one_row_per_method_and_ratio(results):
    csv = to_csv(summarise(load_results(results))[1]).splitlines()
    assert csv[0].startswith("dataset,eval_detector,protocol,label,method,variant,condensed_with,full,ratio,budget")
    assert len(csv) == 1 + 5  # random x2, dcod, dcod-plain, full
    for column in (
        "vs_random_kind",
        "vs_random_low",
        "vs_random_high",
        "vs_random_p_signflip",
        "vs_random_half_width",
        "vs_random_significant",
        "condense_s_mean",
        "student_s_mean",
        "boxes_per_image_mean",
        "device",
    ):
        assert column in csv[0].split(",")


def test_compute_columns_and_total_time(tmp_path):
    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 1.0 + seed)
        fake_result(root, "dcod", 0.01, seed, 3.0 + seed)  # wins by 2 on every seed: sd 0
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        dcod = r["config"]["method"] == "dcod"
        r["timings"] = {"train_s": 100.0 + r["config"]["seed"], "total_s": 3600.0}
        r["condensed"]["timings"] = {"condense_s": 50.0 if dcod else 0.01}
        r["condensed"]["boxes"] = r["condensed"]["images"] * (4 if dcod else 2) + (r["config"]["seed"] == 0)
        r["device"] = {"name": "cpu"}
        r["teacher"] = {"key": "k", "train_s": 900.0} if dcod else None  # the teacher DCOD inverts
        f.write_text(json.dumps(r))
    table = summarise(load_results(root))[0]
    row = table.summary[table.summary["label"] == "dcod"].iloc[0]
    assert row["condense_s_mean"] == pytest.approx(50.0) and row["student_s_mean"] == pytest.approx(101.0)
    assert row["vs_random_significant"] and row["vs_random_half_width"] == pytest.approx(0.0)
    md = to_markdown(table)
    # 10 images with 41, 40, 40 boxes over the seeds: the mean over seeds of each set's boxes per image
    assert row["boxes_per_image_mean"] == pytest.approx(4.0 + 0.1 / 3)
    assert (
        "| dcod | 1 % | 50 | 101 | 900 | 4.0 | cpu |" in md
        and "| random | 1 % | 0 | 101 | – | 2.0 | cpu |" in md
        and "The 6 cells of this table took 6.00 h" in md
    )
    assert "+2.00 [+2.00, +2.00]▲ n=3" in md
    assert "Timed on" not in md  # no result says which CPU: nothing to add to the device column


def test_compute_says_which_machines_timed_the_cells(tmp_path):
    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 1.0 + seed)
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        r["timings"] = {"train_s": 100.0, "total_s": 60.0}
        r["device"] = {"name": "cpu", "model": "x86_64"}  # as results before CPU model and threads were recorded
        if r["config"]["seed"] > 0:
            r["device"] = {"name": "cpu", "model": "AMD EPYC", "cores": 2, "threads": 1}
        f.write_text(json.dumps(r))
    md = to_markdown(summarise(load_results(root))[0])
    assert (
        "took 0.05 h of wall time in all. Timed on: AMD EPYC, 1 thread of 2 cores (2 cells); not recorded (1 cell)."
        in md
    )


@pytest.mark.slow
def test_leaderboard_command_writes_and_checks(results, tmp_path, capsys):
    out = tmp_path / "lb"
    assert main(["leaderboard", str(results), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert (
        "README.md" in names and "shapes__yolov3-tiny__quick.md" in names and "shapes__yolov3-tiny__quick.png" in names
    )
    assert (out / "shapes__yolov3-tiny__quick.png").read_bytes()[:4] == b"\x89PNG"
    # the index says how far each table has got: 3 seeds x (random, dcod, its ablation at 1 %, random at 2 %, full)
    index = (out / "README.md").read_text()
    assert "from `../results`; 15 cells, 3 rows at 1 %, 2 %, seeds 0 1 2" in index
    assert "from `../results`; 1 cell, 1 row at 1 %, seed 0" in index  # random evaluated with faster-rcnn
    assert main(["leaderboard", str(results), "--out", str(out), "--check"]) == 0
    fake_result(results, "uniform", 0.01, 0, 3.0)  # a new result makes the checked-in tables stale
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--out", str(out), "--check"]) == 1
    assert "shapes__yolov3-tiny__quick" in capsys.readouterr().err


def test_bad_result_files_are_named(tmp_path, capsys):
    root = tmp_path / "r"
    fake_result(root, "random", 0.01, 0, 1.0)
    bad = next(root.glob("*/result.json"))
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not a dcbench result file"):
        load_results(root)
    assert main(["leaderboard", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    assert main(["leaderboard", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2


def test_the_same_cell_twice_is_refused(tmp_path):
    fake_result(tmp_path / "a" / "x", "random", 0.01, 0, 1.0)
    fake_result(tmp_path / "a" / "y", "random", 0.01, 0, 2.0)
    with pytest.raises(DatasetError, match="more than once"):
        load_results(tmp_path / "a")


def test_reference_leaderboard_is_what_its_result_files_give():
    """CI's check that nobody edited a table by hand or forgot to regenerate it."""
    results = ROOT / "leaderboards" / "results"
    if not list(results.rglob("result.json")):
        pytest.skip("no reference results checked in")
    assert main(["leaderboard", str(results), "--out", str(ROOT / "leaderboards"), "--check"]) == 0


def test_a_protocol_with_overrides_gets_its_own_table_that_spells_them_out(tmp_path):
    longer = {"name": "quick", "protocol_id": "quick+3dc81195", "overrides": {"min_iterations": 1500}}
    for seed in (0, 1):
        fake_result(tmp_path, "random", 0.01, seed, 1.0)
        fake_result(tmp_path, "random", 0.01, seed, 5.0, protocol=longer)
    tables = {t.protocol: t for t in summarise(load_results(tmp_path))}
    assert set(tables) == {"quick", "quick+3dc81195"}
    assert tables["quick+3dc81195"].title.endswith("protocol quick+3dc81195 (quick with min_iterations=1500)")
    assert tables["quick"].title.endswith("protocol quick")
    assert tables["quick+3dc81195"].summary["mAP_mean"].iloc[0] == 5.0


def test_cross_architecture_rows_are_compared_with_random_evaluated_by_the_same_detector(tmp_path):
    """Random's set does not depend on the detector: in the Faster R-CNN table it is the reference, unlabelled,
    and the set DCOD condensed with YOLOv3-tiny gets its paired difference to it."""
    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 2.0 + seed, eval_detector="faster-rcnn")
        fake_result(root, "dcod", 0.01, seed, 3.0 + seed, eval_detector="faster-rcnn", teacher={"source": "cached"})
    table = summarise(load_results(root))[0]
    s = table.summary
    assert s["label"].tolist() == ["random", "dcod [condensed with yolov3-tiny]"]
    row = s.iloc[1]
    assert row["delta_mAP_vs_random"] == pytest.approx(1.0) and row["vs_random_kind"] == "paired"


def test_tables_other_results_made_are_not_overwritten_and_the_index_keeps_them(tmp_path, capsys):
    """A user's `dcbench leaderboard MINE` into a folder of reference tables: theirs survive, the index lists both."""
    reference, mine, out = tmp_path / "reference", tmp_path / "mine", tmp_path / "lb"
    fake_result(reference, "random", 0.01, 0, 1.0)
    fake_result(mine, "random", 0.01, 0, 5.0, protocol={"name": "smoke", "protocol_id": "smoke", "overrides": {}})
    assert main(["leaderboard", str(reference), "--out", str(out), "--no-plots"]) == 0
    kept = (out / "shapes__yolov3-tiny__quick.md").read_text()
    assert main(["leaderboard", str(mine), "--out", str(out), "--no-plots"]) == 0
    index = (out / "README.md").read_text()
    assert "shapes__yolov3-tiny__quick.md" in index and "shapes__yolov3-tiny__smoke.md" in index
    assert (out / "shapes__yolov3-tiny__quick.md").read_text() == kept
    assert main(["leaderboard", str(reference), "--out", str(out), "--check"]) == 0  # still theirs, intact
    # the same table from other results: refused in one line, replaced with --overwrite
    clash = tmp_path / "clash"
    fake_result(clash, "random", 0.01, 0, 9.0)
    capsys.readouterr()
    assert main(["leaderboard", str(clash), "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "shapes__yolov3-tiny__quick.md: made from ../reference" in err and "--overwrite" in err
    assert (out / "shapes__yolov3-tiny__quick.md").read_text() == kept
    assert main(["leaderboard", str(clash), "--out", str(out), "--no-plots", "--overwrite"]) == 0
    assert "9.00" in (out / "shapes__yolov3-tiny__quick.md").read_text()


def test_features_another_cell_extracted_are_charged_to_the_row_that_reused_them(tmp_path):
    root = tmp_path / "results"
    for seed in range(3):
        for method in ("random", "kcenter", "herding"):
            fake_result(root, method, 0.01, seed, 1.0 + seed)
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        method, seed = r["config"]["method"], r["config"]["seed"]
        if method != "random":  # kcenter ran first at each seed and extracted the features herding then read
            first = method == "kcenter"
            r["condensed"]["manifest"]["features"] = {"cache_key": f"k{seed}", "cached": not first}
            r["condensed"]["manifest"]["feature_s"] = 17.0 if first else 0.01
        r["condensed"]["timings"] = {"condense_s": {"random": 0.0, "kcenter": 18.0, "herding": 0.03}[method]}
        f.write_text(json.dumps(r))
    summary = summarise(load_results(root))[0].summary.set_index("label")
    assert summary.loc["kcenter", "condense_s_mean"] == pytest.approx(18.0)
    assert summary.loc["herding", "condense_s_mean"] == pytest.approx(0.03 + 17.0 - 0.01)
    assert summary.loc["random", "condense_s_mean"] == pytest.approx(0.0)


def test_features_read_from_the_cache_are_charged_the_cost_the_cache_recorded(tmp_path):
    # herding's results tree does not hold the kcenter cell that extracted its features: the cache's record serves
    root = tmp_path / "results"
    for seed in range(3):
        for method in ("random", "herding"):
            fake_result(root, method, 0.01, seed, 1.0 + seed)
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        if r["config"]["method"] == "herding":
            r["condensed"]["manifest"]["features"] = {"cache_key": "k", "cached": True, "extract_s": 20.0}
            r["condensed"]["manifest"]["feature_s"] = 0.01
            r["condensed"]["timings"] = {"condense_s": 0.03}
        f.write_text(json.dumps(r))
    summary = summarise(load_results(root))[0].summary.set_index("label")
    assert summary.loc["herding", "condense_s_mean"] == pytest.approx(0.03 + 20.0 - 0.01)


def test_the_ar_flag_adds_coco_recall_columns_and_the_default_keeps_the_six(results, tmp_path, capsys):
    out = tmp_path / "tables"
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots", "--ar"]) == 0
    md = (out / "shapes__yolov3-tiny__quick.md").read_text()
    assert "1 % (10 img) AR100" in md and "1 % (10 img) ARl" in md
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots"]) == 0
    assert "AR100" not in (out / "shapes__yolov3-tiny__quick.md").read_text()


def test_the_table_footnotes_test_classes_its_students_saw_no_box_of(tmp_path):
    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 1.0 + seed)
        fake_result(root, "dcod", 0.01, seed, 2.0 + seed)
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        missing = ["bird", "cow"][: 2 if r["config"]["method"] == "random" else r["config"]["seed"] % 2]
        r["classes"] = {"test_classes": 6, "without_box_in_set": missing, "without_box_in_train_split": ["cow"][:0]}
        f.write_text(json.dumps(r))
    md = to_markdown(summarise(load_results(root))[0])
    assert (
        "Test classes the students saw no box of (mean over seeds, of 6 test classes): dcod at 1 %: 0.3; random at 1 %: 2.0."
        in md
    )


def test_results_from_before_classes_were_recorded_get_no_footnote(results):
    assert "saw no box of" not in to_markdown(summarise(load_results(results))[1])
