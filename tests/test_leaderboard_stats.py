"""Paired differences to Random, their intervals and tests, checked by hand."""

import math

import pytest

from dcbench.leaderboard.stats import compare, paired, sign_flip_p, unpaired


def test_paired_interval_by_hand():
    diffs = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, sd sqrt(2.5), se sqrt(0.5); t(0.975, 4) = 2.7764
    c = paired(diffs)
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert c.kind == "paired" and c.n == 5 and c.mean == pytest.approx(3.0)
    assert (c.low, c.high) == pytest.approx((3 - half, 3 + half), abs=1e-4)
    assert c.half_width == pytest.approx(half, abs=1e-4) and c.significant and c.marker == "▲"
    assert c.p_signflip == pytest.approx(2 / 32)  # every difference positive: the floor for 5 seeds


def test_sign_flip_by_hand_and_a_tie():
    # the sums over the 8 sign patterns of [3, -1, 2] are +-4, +-0, +-6, +-2: 4 of 8 reach |4|
    assert sign_flip_p([3.0, -1.0, 2.0]) == pytest.approx(4 / 8)
    c = paired([1.0, -1.0, 0.5, -0.5])
    assert c.mean == pytest.approx(0.0) and not c.significant and c.marker == "" and c.low < 0 < c.high


def test_sign_flip_counts_exactly_what_enumerating_every_sign_pattern_counts():
    # the reference: a plain loop over the 2^n patterns, each sum added left to right; the vectorised count must
    # agree exactly, ties included (mAP differences rounded to 0.01 tie often)
    import itertools
    import random

    def by_loop(diffs):
        observed = abs(sum(diffs)) - 1e-12
        patterns = itertools.product((1, -1), repeat=len(diffs))
        return sum(abs(sum(s * d for s, d in zip(signs, diffs))) >= observed for signs in patterns) / 2 ** len(diffs)

    rng = random.Random(0)
    for n in range(1, 13):
        for _ in range(5):
            diffs = [round(rng.gauss(0.3, 2.0), rng.choice((1, 2, 6))) for _ in range(n)]
            assert sign_flip_p(diffs) == by_loop(diffs), diffs
    assert sign_flip_p([0.1] * 20) == 2 / 2**20  # 20 seeds, the most a leaderboard tests: milliseconds


def test_loss_marker_and_too_few_seeds():
    assert paired([-2.0, -2.5, -1.5]).marker == "▼"
    few = paired([1.0, 2.0])
    assert few.kind == "too few" and few.low is None and few.half_width is None and not few.significant


def test_unpaired_welch_by_hand():
    a, b = [4.0, 6.0, 5.0], [1.0, 2.0, 3.0, 2.0]
    c = unpaired(a, b)
    va, vb = 1.0 / 3, (2 / 3) / 4
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    from scipy.stats import t

    half = t.ppf(0.975, df) * se
    assert c.kind == "unpaired" and c.mean == pytest.approx(3.0)
    assert (c.low, c.high) == pytest.approx((3 - half, 3 + half))


def test_compare_pairs_by_seed_and_falls_back_to_unpaired():
    row, ref = {0: 5.0, 1: 6.0, 2: 7.0, 9: 100.0}, {0: 4.0, 1: 4.0, 2: 4.0, 3: 0.0}
    c = compare(row, ref)
    assert c.kind == "paired" and c.n == 3 and c.mean == pytest.approx(2.0)  # seeds 9 and 3 are not paired
    assert compare({5: 1.0, 6: 2.0}, {0: 1.0, 1: 1.0}).kind == "unpaired"
    assert compare({0: float("nan")}, ref) is None


def test_seeds_for_a_target_resolution_holds_the_spread_and_grows_n():
    from dcbench.leaderboard.stats import seeds_for, t_quantile

    hw5 = t_quantile(4) * 2.0 / 5**0.5  # five seeds, differences' sd 2
    m = seeds_for(hw5, 5, 1.5)
    assert t_quantile(m - 1) * 2.0 / m**0.5 <= 1.5 < t_quantile(m - 2) * 2.0 / (m - 1) ** 0.5
    assert seeds_for(hw5, 5, hw5) == 5  # already there
    assert seeds_for(1e6, 5, 0.01) is None  # beyond any run


def test_seeds_for_a_spread_is_what_seeds_for_an_interval_recovers():
    from dcbench.leaderboard.stats import seeds_for, seeds_for_spread, t_quantile

    assert seeds_for_spread(2.0, 1.5) == seeds_for(t_quantile(4) * 2.0 / 5**0.5, 5, 1.5)
    assert seeds_for_spread(4.0 * 2**0.5, 1.5) > 30  # two uncorrelated rows of std 4: the shapes 1 % case
    assert seeds_for_spread(50.0, 1.5, most=100) is None


def test_seed_variance_splits_a_rows_spread_into_the_sets_and_the_students(capsys):
    """benchmarks/seed_variance.py's arithmetic, on the shapes reference's Random at 1 % (seed 0's set trained
    with student seeds 0, 1, 2; the five reference seeds)."""
    import types

    _seed_variance()._report(
        {0: [75.70, 73.58, 70.31]},
        [75.70, 72.09, 66.10, 69.20, 69.79],
        types.SimpleNamespace(method="random", ratio=0.01),
    )
    out = capsys.readouterr().out
    assert "student std (pooled within 1 sets, 2 df):" in out and " 2.72 mAP" in out
    assert " 3.57 mAP" in out and " 2.32 mAP" in out  # sqrt(3.57^2 - 2.72^2)
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "4"]
    assert int(rows[2][4]) < int(rows[0][4])  # with a shared set part, more students per set need fewer seeds


def _seed_variance():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "seed_variance.py"
    spec = importlib.util.spec_from_file_location("seed_variance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_variance_measures_each_rows_correlation_with_random(tmp_path, capsys):
    """The rows' own paired spread, not an assumed one: a row that moves with Random's seeds needs few seeds, a
    row that moves against them many; a row with under 3 common seeds is left out."""
    import types

    from tests.test_leaderboard import fake_result

    root = tmp_path / "results"
    for seed, (r, up, down) in enumerate([(1.0, 2.0, 1.5), (2.0, 4.0, 1.0), (3.0, 6.0, 0.5), (4.0, 8.0, 0.0)]):
        fake_result(root, "random", 0.01, seed, r)
        fake_result(root, "dcod", 0.01, seed, up)
        fake_result(root, "herding", 0.01, seed, down)
    fake_result(root, "kcenter", 0.01, 0, 1.0)
    fake_result(root, "kcenter", 0.01, 1, 1.0)
    _seed_variance()._measured_rows(types.SimpleNamespace(results=root, method="random", ratio=0.01))
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[4:] if line.strip()}
    assert set(rows) == {"dcod", "herding"}
    assert rows["dcod"][:3] == ["4", "1.00", "1.29"]  # differences 1, 2, 3, 4
    assert rows["herding"][:3] == ["4", "-1.00", "1.94"]  # 0.5, -1, -2.5, -4
    assert int(rows["herding"][3]) > int(rows["dcod"][3])

    three = tmp_path / "three"  # 3 seeds: an interval, but too few points for Fisher's z
    for seed in range(3):
        fake_result(three, "random", 0.01, seed, 1.0 + seed)
        fake_result(three, "dcod", 0.01, seed, 2.0 + seed * seed)
    _seed_variance()._measured_rows(types.SimpleNamespace(results=three, method="random", ratio=0.01))
    assert "  together)" in capsys.readouterr().out


def test_pooled_std_removes_each_groups_own_mean():
    from dcbench.leaderboard.stats import pooled_std

    assert pooled_std([[1.0, 3.0], [10.0, 12.0]]) == (pytest.approx(2**0.5), 2)  # each group: variance 2
    assert pooled_std([[5.0], []])[1] == 0
