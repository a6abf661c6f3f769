import warnings

import pytest

from dcbench.api import CondenseContext
from dcbench.budget import budget_for
from dcbench.condensed import load_condensed
from dcbench.errors import ConfigError
from dcbench.methods.random import RandomSelection
from dcbench.protocols import get_protocol


@pytest.mark.parametrize("ratio", [0, -0.1, 1.5, float("nan")])
def test_ratio_out_of_range_is_an_error(ratio):
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        budget_for(ratio, 100)


def test_budget_rounds_half_up_with_floor_of_one_and_warns_when_far():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert budget_for(0.01, 1000) == 10 and budget_for(0.005, 100) == 1 and budget_for(1.0, 7) == 7
        assert budget_for(0.025, 100) == 3  # 2.5 rounds up
    with pytest.warns(UserWarning, match="effective ratio"):
        assert budget_for(0.001, 100) == 1  # 1 % effective instead of 0.1 %
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        budget_for(0.01, 1000)


def _condense(ds, budget, seed, workdir):
    ctx = CondenseContext(None, seed, workdir, get_protocol("smoke"), "cpu")
    return RandomSelection().condense(ds, budget, context=ctx)


def test_random_depends_only_on_the_seed_and_is_byte_identical(tiny_voc, tmp_path):
    from dcbench.data.voc import read_voc

    ds = read_voc(tiny_voc)
    a = _condense(ds, 2, 3, tmp_path / "a")
    b = _condense(ds, 2, 3, tmp_path / "b")
    assert a.manifest["selected_ids"] == b.manifest["selected_ids"]
    files_a = sorted(p.relative_to(a.path) for p in a.path.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.path) for p in b.path.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.name != "manifest.json":  # the manifest carries timings; everything else is byte-identical
            assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel
    picks = {tuple(RandomSelection().select(ds, 2, s)) for s in range(20)}
    assert len(picks) > 1  # the seed matters
    loaded = load_condensed(a.path)
    assert len(loaded.dataset) == 2 and loaded.manifest["budget"] == 2 and loaded.dataset.categories == ds.categories


def test_incomplete_condensed_set_is_not_loaded(tmp_path):
    from dcbench.errors import DatasetError

    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetError, match="no manifest.json"):
        load_condensed(tmp_path / "x")


def test_two_writers_of_one_condensed_set_do_not_share_a_temporary_folder(tiny_voc, tmp_path):
    """Another process writing the same set keeps its half-written folder: the temporary name has the pid."""
    from dcbench.condensed import write_condensed
    from dcbench.data.voc import read_voc

    ds = read_voc(tiny_voc)
    out = tmp_path / "condensed"
    others = [tmp_path / ".condensed.partial", tmp_path / ".condensed.partial999999"]
    for other in others:  # what another writer (no pid, or a pid that is not ours) has in flight
        other.mkdir()
        (other / "in-flight").write_text("x")
    cs = write_condensed(ds.subset([0, 1]), out, {"method": "test"})
    assert len(cs) == 2 and all((o / "in-flight").is_file() for o in others)
