"""Hand-checked picks of K-Center, Herding and Uniform, and their properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dcbench.methods.greedy import covering_radius, herding, kcenter_greedy
from dcbench.methods.uniform import uniform_select


def test_kcenter_exact_picks():
    pts = [(0, 0), (1, 0), (10, 0), (10, 1), (5, 5)]
    # from (0,0): farthest is (10,1) (10.05); then (5,5) at 6.40 from (10,1) beats (1,0) and (10,0) at 1
    assert kcenter_greedy(pts, 3, first=0) == [0, 3, 4]
    assert kcenter_greedy(pts, 1, first=2) == [2]


def test_herding_exact_picks_minimise_not_maximise():
    # mean 5: first the point closest to the mean (4 and 6 tie -> lowest index), then 6 restores the mean,
    # then 0 and 10 tie -> lowest index. An argmax implementation would start with 0 or 10.
    assert herding([[0.0], [10.0], [4.0], [6.0]], 4) == [2, 3, 0, 1]


def test_kcenter_is_not_always_better_than_a_lucky_random_pick():
    # Why the property below is "at most twice random's radius": greedy k-center is a 2-approximation, and a
    # bad (seeded) first center can lose to a good random draw. Here greedy gets 2, the draw {1, 6} gets 1.
    pts = [[0.0], [1.0], [5.0], [6.0], [7.0]]
    greedy = kcenter_greedy(pts, 2, first=4)
    assert covering_radius(pts, greedy) == pytest.approx(2.0)
    assert covering_radius(pts, [1, 3]) == pytest.approx(1.0)


def test_uniform_class_shares_with_a_rare_class():
    classes = [{0}, {0}, {0}, {0}, {1}, {1}, {2}]
    picks = uniform_select(classes, 3, budget=6, seed=0)
    counts = [sum(c in classes[i] for i in picks) for c in range(3)]
    assert counts == [3, 2, 1]  # the rare class gives its share to the others
    assert uniform_select(classes, 3, budget=3, seed=5) and sorted(
        sum(c in classes[i] for i in uniform_select(classes, 3, 3, seed=5)) for c in range(3)
    ) == [1, 1, 1]


def test_uniform_counts_an_image_for_every_class_it_contains_and_fills_with_background():
    classes = [{0, 1}, {0}, {1}, set(), set()]
    picks = uniform_select(classes, 2, budget=5, seed=1)
    assert sorted(picks) == [0, 1, 2, 3, 4]
    first_two = uniform_select(classes, 2, budget=1, seed=1)
    assert len(first_two) == 1 and first_two[0] in (0, 1, 2)


points = arrays(
    np.float32,
    st.tuples(st.integers(2, 40), st.integers(1, 4)),
    elements=st.floats(-100, 100, width=32, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(x=points, frac=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_kcenter_properties(x, frac, seed):
    budget = max(1, int(frac * len(x)))
    first = seed % len(x)
    picks = kcenter_greedy(x, budget, first)
    assert len(picks) == budget and len(set(picks)) == budget and picks[0] == first
    assert picks == kcenter_greedy(x, budget, first)
    rng = np.random.default_rng(seed)
    random_pick = rng.choice(len(x), budget, replace=False).tolist()
    assert covering_radius(x, picks) <= 2 * covering_radius(x, random_pick) + 1e-3


@settings(max_examples=60, deadline=None)
@given(x=points, frac=st.floats(0.01, 1.0))
def test_herding_properties(x, frac):
    budget = max(1, int(frac * len(x)))
    picks = herding(x, budget)
    assert len(picks) == budget and len(set(picks)) == budget and picks == herding(x, budget)
    # each step is the best available: the first pick is the point nearest to the mean
    d = np.linalg.norm(x.astype(np.float64) - x.astype(np.float64).mean(0), axis=1)
    assert d[picks[0]] <= d.min() + 1e-3


@settings(max_examples=60, deadline=None)
@given(
    classes=st.lists(st.sets(st.integers(0, 4), max_size=3), min_size=1, max_size=40),
    frac=st.floats(0.01, 1.0),
    seed=st.integers(0, 1000),
)
def test_uniform_properties(classes, frac, seed):
    budget = max(1, int(frac * len(classes)))
    picks = uniform_select(classes, 5, budget, seed)
    assert len(picks) == budget and len(set(picks)) == budget
    assert picks == uniform_select(classes, 5, budget, seed)


def test_feature_selection_with_a_local_extractor_needs_no_teacher(tmp_path):
    """K-Center and Herding on ResNet-50 features use no teacher: their sets are shared across detectors and no
    teacher is trained for them (requires_teacher is read off the configured method, not its class)."""
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    quick = get_protocol("quick")
    weights = tmp_path / "resnet50.pth"
    weights.write_bytes(b"")  # only its existence is checked before a run
    for method in ("kcenter", "herding"):
        local = [
            CellConfig(method, det, 0.01, 0, quick, method_options={"extractor": f"resnet50:{weights}"})
            for det in ("yolo11n", "yolov3-tiny")
        ]
        assert not local[0].uses_teacher() and local[0].condense_name() == local[1].condense_name()
        teacher = CellConfig(method, "yolo11n", 0.01, 0, quick)
        assert teacher.uses_teacher() and teacher.condense_name() != local[0].condense_name()
