"""DCOD's parts on hand-made tensors: priors, the FBD mask, IPE's box remapping, the augmentation's boxes."""

import pytest
import torch

from dcbench.errors import ConfigError
from dcbench.methods.dcod.augment import shift_and_flip
from dcbench.methods.dcod.config import DCODConfig
from dcbench.methods.dcod.fbd import background_weight, box_mask, damp_update, random_erase
from dcbench.methods.dcod.ipe import (
    expand,
    k_at,
    parse_schedule,
    patch_rect,
    place_boxes,
    plan_views,
    remap_boxes,
    stage_starts,
)
from dcbench.methods.dcod.priors import BatchNormStatistics, l2_prior, total_variation


def test_total_variation_and_l2_by_hand():
    x = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]])
    # positions (r, c) in the top-left 2x2: dx = x[r, c+1] - x[r, c], dy = x[r+1, c] - x[r, c]
    # (0,0): dx 1, dy 0 -> 1; (0,1): dx 0, dy -1 -> 1; (1,0): dx 0, dy 0 -> 0; (1,1): dx 1, dy 0 -> 1
    expected = 3.0
    diag = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])  # one position with dx = dy = 1: sqrt(2)
    assert total_variation(diag, "sum").item() == pytest.approx(2**0.5, abs=1e-3)
    assert total_variation(x, "sum").item() == pytest.approx(expected, abs=1e-3)
    assert total_variation(x, "mean").item() == pytest.approx(expected / 4, abs=1e-3)
    assert l2_prior(x, "sum").item() == pytest.approx(3.0)
    assert l2_prior(x, "mean").item() == pytest.approx(3.0 / 9)


def _bn(mean, var):
    bn = torch.nn.BatchNorm2d(len(mean)).eval()
    bn.running_mean.copy_(torch.tensor(mean))
    bn.running_var.copy_(torch.tensor(var))
    return bn


def test_batchnorm_prior_by_hand():
    bn = _bn([0.0, 1.0], [1.0, 4.0])
    x = torch.zeros(2, 2, 1, 2)
    x[:, 0] = torch.tensor([1.0, 3.0])  # channel 0: mean 2, var 1 -> d_mean 2, d_var 0
    x[:, 1] = torch.tensor([1.0, 1.0])  # channel 1: mean 1, var 0 -> d_mean 0, d_var -4
    expected = {
        "l2": 2.0 + 4.0,  # ||(2, 0)||_2 + ||(0, -4)||_2: DeepInversion's plain norms, the default
        "sum": 4.0 + 16.0,  # the same norms squared
        "mean": (4 + 0) / 2 + (0 + 16) / 2,
    }
    for reduction, value in expected.items():
        prior = BatchNormStatistics(torch.nn.Sequential(bn), reduction)
        bn(x)
        assert prior.value().item() == pytest.approx(value), reduction
        prior.close()
    default = BatchNormStatistics(torch.nn.Sequential(bn))
    bn(x)
    assert default.reduction == "l2" and default.value().item() == pytest.approx(6.0)
    default.reset()
    with pytest.raises(RuntimeError):
        default.value()
    default.close()


def test_batchnorm_prior_sums_layers_and_weights_the_first_that_runs():
    first, second = _bn([0.0], [1.0]), _bn([0.0], [1.0])
    # defined second, runs first: the weight follows the forward order
    net = torch.nn.Module()
    net.b, net.a = second, first
    x = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)  # mean 2, var 1 -> first layer: 2 + 0
    prior = BatchNormStatistics(net, "l2", first_coef=2.0)
    first(x)
    second(x + 1.0)  # mean 3, var 1 -> 3 + 0
    terms = [t.item() for t in prior.terms()]
    assert terms == pytest.approx([2.0 * 2.0, 3.0])
    assert prior.value().item() == pytest.approx(7.0)
    prior.close()


def test_fbd_mask_and_damped_update():
    targets = [(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([0])), (torch.zeros(0, 4), torch.zeros(0))]
    mask = box_mask(targets, 6, "cpu")
    expected = torch.zeros(6, 6)
    expected[2:4, 1:3] = 1
    assert torch.equal(mask[0, 0], expected) and mask[1].sum() == 0
    w = background_weight(mask, 0.7)
    assert w[0, 0, 2, 1] == 1.0 and w[0, 0, 0, 0] == pytest.approx(0.7)
    before = torch.zeros(2, 1, 6, 6)
    x = torch.ones(2, 1, 6, 6)
    damp_update(x, before, w)
    assert x[0, 0, 3, 2] == 1.0 and x[0, 0, 5, 5] == pytest.approx(0.7)


def test_random_erase_stays_inside_boxes():
    x = torch.zeros(1, 3, 32, 32)
    targets = [(torch.tensor([[4.0, 6.0, 20.0, 18.0]]), torch.tensor([0]))]
    out = random_erase(x, targets, p=1.0, generator=torch.Generator().manual_seed(0))
    changed = (out != x).any(1)[0]
    assert changed.any()
    rows, cols = torch.where(changed)
    assert rows.min() >= 6 and rows.max() < 18 and cols.min() >= 4 and cols.max() < 20
    assert torch.equal(x, torch.zeros_like(x))  # the stored image is untouched


def test_ipe_box_remapping_for_k2_and_k3():
    boxes = torch.tensor([[0.0, 0.0, 60.0, 30.0]])
    # k = 2 on a 120 canvas: 60 px patches; patch 3 is bottom-right
    assert remap_boxes(boxes, 120, 0, 2).tolist() == [[0, 0, 30, 15]]
    assert remap_boxes(boxes, 120, 3, 2).tolist() == [[60, 60, 90, 75]]
    # k = 3: 40 px patches; patch 5 is row 1, column 2
    assert remap_boxes(boxes, 120, 5, 3).tolist() == [[80, 40, 100, 50]]
    # patches tile the canvas exactly even when the size is not divisible by k
    cover = torch.zeros(64, 64)
    for j in range(9):
        x0, y0, w, h = patch_rect(j, 3, 64)
        cover[y0 : y0 + h, x0 : x0 + w] += 1
    assert torch.equal(cover, torch.ones(64, 64))


def test_ipe_expand_keeps_forged_patches_and_adds_sources():
    views = plan_views(lambda j: torch.zeros(0, 4), [2, 3], 60, "rescale")
    canvas = torch.zeros(3, 60, 60)
    canvas[:, :30, :30] = 0.25  # patch 0 of the 2x2 grid
    new = [torch.full((3, 60, 60), v) for v in (0.5, 0.6, 0.7, 0.8, 0.9)]
    out = expand(canvas, [views[(j, 2)] for j in range(4)], [views[(j, 3)] for j in range(9)], new)
    assert torch.allclose(out[:, :20, :20], torch.tensor(0.25))  # patch 0 resampled into 20 px
    assert torch.allclose(out[:, 40:, 40:], torch.tensor(0.9))  # source 8 = the fifth new one


def test_ipe_crop_keeps_object_scale_and_forged_pixels():
    # source 0 on a 120 canvas: a 20 px object at (70..90, 10..30) and a 60 px one that no 40 px window can hold
    boxes = {0: torch.tensor([[70.0, 10.0, 90.0, 30.0], [0.0, 60.0, 60.0, 120.0]])}
    views = plan_views(lambda j: boxes.get(j, torch.zeros(0, 4)), [1, 2, 3], 120, "crop")
    assert views[(0, 1)].window == (0, 0, 120, 120)
    w2, w3 = views[(0, 2)].window, views[(0, 3)].window
    assert w2[2:] == (60, 60) and w3[2:] == (40, 40)
    # the stored (k = 3) window shows the small object whole; each window lies inside the one of the stage before
    x, y, w, h = w3
    assert x <= 70 and y <= 10 and x + w >= 90 and y + h >= 30
    assert w2[0] <= w3[0] and w2[1] <= w3[1] and w3[0] + 40 <= w2[0] + 60 and w3[1] + 40 <= w2[1] + 60
    placed, keep = place_boxes(boxes[0], views[(0, 3)], min_visible=0.5)
    assert keep.tolist() == [True, False]  # the big object is cut to less than half
    assert (placed[0, 2] - placed[0, 0]).item() == 20 and (placed[0, 3] - placed[0, 1]).item() == 20  # native scale
    # forged pixels of source 0 carry over unresampled: the new patch shows the same pixels of the old window
    canvas = torch.rand(3, 120, 120)
    new = [torch.rand(3, 120, 120) for _ in range(5)]
    out = expand(canvas, [views[(j, 2)] for j in range(4)], [views[(j, 3)] for j in range(9)], new)
    dx, dy = w3[0] - w2[0], w3[1] - w2[1]
    assert torch.equal(out[:, :40, :40], canvas[:, dy : dy + 40, dx : dx + 40])
    x, y, w, h = views[(8, 3)].window  # a source entering at k = 3 shows its own pixels
    px, py, pw, ph = views[(8, 3)].patch
    assert torch.equal(out[:, py : py + ph, px : px + pw], new[4][:, y : y + h, x : x + w])
    # the placed box sits on the object's pixels
    src = torch.zeros(1, 120, 120)
    src[:, 10:30, 70:90] = 1.0
    composed = expand(
        torch.zeros(1, 120, 120), [], [views[(j, 3)] for j in range(9)], [src] + [torch.zeros(1, 120, 120)] * 8
    )
    x1, y1, x2, y2 = (int(v) for v in placed[0].tolist())
    assert composed[0, y1:y2, x1:x2].min() == 1.0 and composed.sum() == 400


def test_ipe_schedule():
    stages = stage_starts(parse_schedule("1:0,2:0.3333,3:0.6667"), 300)
    assert stages == [(1, 0), (2, 100), (3, 200)]
    assert [k_at(stages, i) for i in (0, 99, 100, 199, 200, 299)] == [1, 1, 2, 2, 3, 3]
    for bad in ("2:0.5", "1:0,3:0.5,2:0.7", "x"):
        with pytest.raises(ConfigError):
            parse_schedule(bad)


def test_shift_and_flip_moves_boxes_with_pixels():
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 2:6, 3:7] = 1.0  # object at x 3..7, y 2..6
    targets = [(torch.tensor([[3.0, 2.0, 7.0, 6.0]]), torch.tensor([1]))]
    for seed in range(6):
        out, moved = shift_and_flip(x, targets, 2, True, torch.Generator().manual_seed(seed))
        x1, y1, x2, y2 = (int(v) for v in moved[0][0][0].tolist())
        assert out[0, 0, y1:y2, x1:x2].sum() == 16 and (out == 1).sum() == 16


def test_config_defaults_are_the_papers_and_options_are_checked():
    cfg = DCODConfig()
    assert (cfg.lr, cfg.w_det, cfg.w_bn, cfg.w_tv, cfg.w_l2, cfg.fbd_alpha) == (0.002, 1.0, 0.1, 1.0, 0.001, 0.7)
    assert cfg.init == "random" and cfg.fbd and cfg.ipe and cfg.fbd_mode == "update"
    assert (cfg.bn_reduction, cfg.first_bn_coef) == ("l2", 1.0)  # DeepInversion's plain norms, the spec's formula
    with pytest.raises(ConfigError, match="bn_reduction"):
        DCODConfig(bn_reduction="squared")
    with pytest.raises(ConfigError, match="unknown dcod option"):
        DCODConfig.from_options(fdb=False)
    assert DCODConfig.from_options(fbd="false", snapshots="0,10").fbd is False


def test_the_diode_preset_sets_diodes_inversion_and_options_beside_it_win():
    from dcbench.methods.dcod.method import DCOD

    cfg = DCODConfig.from_options(preset="diode")
    assert (cfg.fbd, cfg.ipe, cfg.init, cfg.lr, cfg.w_det, cfg.first_bn_coef, cfg.w_tv, cfg.w_l2) == (
        False,
        False,
        "noise",
        0.2,
        0.5,
        2.0,
        75.0,
        0.0,
    )
    assert (cfg.jitter, cfg.iterations, cfg.forge_batch) == (20, 2500, 128)
    assert DCODConfig.from_options(preset="diode", iterations=30, lr=0.1).lr == 0.1
    assert DCOD(preset="diode").describe()["preset"] == "diode"
    assert DCOD().describe()["preset"] is None and DCODConfig().lr == 0.002  # the paper's defaults are untouched
    with pytest.raises(ConfigError, match="preset 'deepinversion' is not one of diode"):
        DCODConfig.from_options(preset="deepinversion")


def test_ipe_coverage_counts_objects_shown_without_a_box_by_hand():
    import importlib.util
    from pathlib import Path

    from dcbench.methods.dcod.forge import Source
    from dcbench.methods.dcod.ipe import View

    path = Path(__file__).parents[1] / "benchmarks" / "ipe_coverage.py"
    spec = importlib.util.spec_from_file_location("ipe_coverage", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # a 50 px window of a 100 px source: one box wholly inside, one with a quarter of it showing (10 x 20 of 40 x 20)
    boxes = torch.tensor([[10.0, 10, 30, 30], [40, 10, 80, 30]])
    source = Source(torch.zeros(3, 100, 100), boxes, torch.tensor([0, 1]))
    views = {(0, 1): View((0, 0, 50, 50), (0, 0, 50, 50))}
    shown, kept, bare, area, bare_area = bench.stage_counts([source], views, 1, 0.5)
    assert (shown, kept, bare, area, bare_area) == (2, 1, 1, 400 + 200, 200)
    assert bench.stage_counts([source], views, 1, 0.25)[2] == 0  # a quarter shows: labelled at min_visible 0.25


def test_the_one_pass_batchnorm_statistics_equal_torchs_mean_and_variance():
    import torch

    from dcbench.methods.dcod.priors import statistics_mismatch

    g = torch.Generator().manual_seed(0)
    for shift, scale in ((0.0, 1.0), (3.0, 0.05), (-1.0, 2.0)):  # a running mean near the batch's and far from it
        x = shift + scale * torch.randn((4, 8, 10, 12), generator=g)
        running_mean, running_var = 0.1 * torch.randn(8, generator=g), torch.rand(8, generator=g) + 0.5
        d_mean, d_var = statistics_mismatch(x, running_mean, running_var, [0, 2, 3])
        torch.testing.assert_close(d_mean, x.mean([0, 2, 3]) - running_mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(d_var, x.var([0, 2, 3], unbiased=False) - running_var, rtol=1e-4, atol=1e-4)
