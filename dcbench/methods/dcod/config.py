"""Every DCOD setting, its default, and where the default comes from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dcbench.errors import ConfigError

INITS = ("random", "noise", "kcenter", "herding")
FBD_MODES = ("update", "input")
REDUCTIONS = ("mean", "sum")
# Mixed precision of the teacher's forward and backward in the Forge: "auto" = bfloat16 on a GPU that supports it,
# full precision elsewhere; "bf16" = bfloat16 wherever torch's autocast has it (the CPU too); "off" = float32.
# bfloat16 needs no loss scaling (float16 would, for gradients as small as the pixels'), so no float16 mode. "auto" is
# on for GPUs because tests/test_dcod_forge.py holds a bf16 forge's images within 2/255 (mean) of float32's
# (measured: 0.55/255 after 20 iterations, the detection and BatchNorm terms within 0.6 %).
AMP_MODES = ("auto", "bf16", "off")
# The DCOD record's version: 2 = R_bn with plain L2 norms by default, starts paired with the baselines'
# selections, PatchExpand at native scale by default; 3 = a box a crop window cuts keeps its label while a tenth
# of it shows (was half). Results made before (no version recorded) count as version 1 and are stale.
CONFIG_VERSION = 3


# Named sets of defaults (``-O preset=diode``): a preset's values replace the paper defaults, and options given beside
# it replace the preset's. "diode" is DIODE's YOLO inversion (../shared/docs/yolov3-classic.md section 6, its
# runner_yolo_multiscale.sh) as far as dcbench's forge can express it: plain inversion (no FBD, no PatchExpand) from
# noise, Adam at lr 0.2 with a cosine schedule, main_loss_multiplier 0.5 (w_det), r_feature 0.1 with p_norm 2 (w_bn,
# plain L2 norms), first_bn_coef 2.0, tv_l1 75 and tv_l2 0 (w_tv 75, no L2 prior), jitter 20, flips, 2500
# iterations at batch 128. Not expressible, and so not applied: Adam betas (0, 0) (dcbench's Adam keeps PyTorch's),
# DIODE's anisotropic L1 TV over four directions (dcbench's TV is isotropic, per-pixel mean), R_bn over the 52
# Darknet-53 BatchNorm layers only (dcbench's covers every BatchNorm layer), brightness/contrast jitter and random
# erasing, and its 160 px resolution (the protocol's imgsz decides).
PRESETS: dict[str, dict] = {
    "diode": {
        "init": "noise",
        "fbd": False,
        "ipe": False,
        "lr": 0.2,
        "w_det": 0.5,
        "w_bn": 0.1,
        "bn_reduction": "l2",
        "first_bn_coef": 2.0,
        "w_tv": 75.0,
        "w_l2": 0.0,
        "jitter": 20,
        "flip": True,
        "iterations": 2500,
        "forge_batch": 128,
        "optimizer": "adam",
        "schedule": "cosine",
    }
}


# options that change what DCOD reports or how often it saves, not the pixels it forges: they name no new cell and
# are left out of a forge state's resume digest
BOOKKEEPING_OPTIONS = ("snapshots", "checkpoint_every")


@dataclass(frozen=True)
class DCODConfig:
    # -- from the paper ------------------------------------------------------------------------------------
    init: str = "random"  # paper default; also noise, kcenter, herding (compared in its ablation)
    lr: float = 0.002  # image learning rate
    w_det: float = 1.0  # detection loss
    w_bn: float = 0.1  # BatchNorm statistics prior
    w_tv: float = 1.0  # total variation
    w_l2: float = 0.001  # L2 of the pixels
    fbd: bool = True  # Foreground-Background Decoupling
    fbd_alpha: float = 0.7  # background suppression
    ipe: bool = True  # Incremental PatchExpand
    # -- the paper is silent; defaults named by the method spec ------------------------------------------
    fbd_mode: str = (
        "update"  # "update": damp the background's pixel update; "input": scale the background the detector sees
    )
    erase: bool = True  # random erasing inside boxes (part of FBD); only when fbd is on
    erase_p: float = 0.5  # per box and iteration
    ipe_schedule: str = "1:0,2:0.3333,3:0.6667"  # k:start-fraction of the run
    # "crop": each patch shows a window of its source at native scale (measured: the only PatchExpand that beats
    # Random on the reference, see docs/methods/dcod.md); "rescale": the paper's literal "rescaled image" (objects shrink
    # k-fold, and a student trained on them fails on full-size test objects)
    ipe_fit: str = "crop"
    # crop only: a box the window cuts keeps its label while this much of its area shows. 0.1 is Ultralytics' rule
    # for boxes its own crops and mosaics cut (box_candidates' area_thr), the rule every YOLO student trains under;
    # at 0.5, 6.5 of the 14.9 objects a 160 px shapes canvas shows had no box (benchmarks/ipe_coverage.py)
    ipe_min_visible: float = 0.1
    iterations: int | None = None  # None: the protocol's forge_iterations (paper: 3000)
    forge_batch: int | None = None  # None: the protocol's forge_batch; BatchNorm statistics are batch statistics
    optimizer: str = "adam"
    schedule: str = "cosine"
    clamp: bool = True  # pixels clamped to [0, 1] after each step
    jitter: int | None = None  # max random shift in pixels; None: canvas size // 32
    flip: bool = True  # random horizontal flip per iteration, boxes mirrored
    # -- the BatchNorm prior as DeepInversion's and DIODE's code have it (the spec's corrected R_bn) ----------------
    bn_reduction: str = "l2"  # per layer: plain L2 norms ("l2"); squared norms ("sum") or their channel mean ("mean")
    first_bn_coef: float = (
        1.0  # weight of the first BatchNorm layer's term (DIODE's first_bn_coef; 2.0 in its YOLO runner)
    )
    # -- dcbench's choice where the spec's "sum over pixels" would swamp the detection loss ----------------------
    prior_reduction: str = "mean"  # R_tv and R_l2 per pixel ("mean") or summed over pixels ("sum", the literal text)
    amp: str = "auto"  # AMP_MODES; the dtype a forge used is in its manifest (forge_autocast)
    # -- a named set of defaults (PRESETS); None: the defaults above ------------------------------------------------
    preset: str | None = None
    # -- bookkeeping ------------------------------------------------------------------------------------------
    snapshots: tuple[int, ...] = ()  # iterations at which the first batch's images are saved
    checkpoint_every: int = 100  # iterations between resumable states of the batch in flight

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"dcod preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"dcod amp {self.amp!r} is not one of {', '.join(AMP_MODES)}")
        if self.init not in INITS:
            raise ConfigError(f"dcod init {self.init!r} is not one of {', '.join(INITS)}")
        if self.fbd_mode not in FBD_MODES:
            raise ConfigError(f"dcod fbd_mode {self.fbd_mode!r} is not one of {', '.join(FBD_MODES)}")
        if self.prior_reduction not in REDUCTIONS:
            raise ConfigError(f"dcod prior_reduction {self.prior_reduction!r} is not one of {', '.join(REDUCTIONS)}")
        from dcbench.methods.dcod.priors import BN_REDUCTIONS

        if self.bn_reduction not in BN_REDUCTIONS:
            raise ConfigError(f"dcod bn_reduction {self.bn_reduction!r} is not one of {', '.join(BN_REDUCTIONS)}")
        if self.first_bn_coef < 0:
            raise ConfigError("dcod first_bn_coef must be non-negative")
        if self.optimizer not in ("adam", "sgd") or self.schedule not in ("cosine", "constant"):
            raise ConfigError("dcod optimizer must be adam or sgd, schedule cosine or constant")
        if not 0 <= self.fbd_alpha <= 1 or not 0 <= self.erase_p <= 1:
            raise ConfigError("dcod fbd_alpha and erase_p must lie in [0, 1]")
        if self.lr <= 0 or min(self.w_det, self.w_bn, self.w_tv, self.w_l2) < 0:
            raise ConfigError("dcod lr must be positive and loss weights non-negative")
        for name in ("iterations", "forge_batch", "jitter"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < (0 if name == "jitter" else 1)):
                raise ConfigError(f"dcod {name} must be a positive integer, got {v!r}")
        from dcbench.methods.dcod.ipe import FITS, parse_schedule

        parse_schedule(self.ipe_schedule)
        if self.ipe_fit not in FITS:
            raise ConfigError(f"dcod ipe_fit {self.ipe_fit!r} is not one of {', '.join(FITS)}")
        if not 0 <= self.ipe_min_visible <= 1:
            raise ConfigError("dcod ipe_min_visible must lie in [0, 1]")

    @classmethod
    def from_options(cls, **options) -> DCODConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown dcod option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        preset = options.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"dcod preset {preset!r} is not one of {', '.join(PRESETS)}")
        options = {**(PRESETS[preset] if preset else {}), **options}  # what is given beside a preset replaces its value
        if "snapshots" in options:
            snaps = options["snapshots"]
            if isinstance(snaps, str):
                snaps = [int(s) for s in snaps.split(",") if s.strip()]
            options["snapshots"] = tuple(int(s) for s in (snaps if isinstance(snaps, (list, tuple)) else [snaps]))
        for name in ("fbd", "ipe", "erase", "clamp", "flip"):
            if isinstance(options.get(name), str):
                options[name] = options[name].strip().lower() in ("1", "true", "yes", "on")
        return cls(**options)

    # the protocol-dependent values of a resolved config, as ints (the forge runs only on resolved configs)
    @property
    def n_iterations(self) -> int:
        return _resolved(self.iterations, "iterations")

    @property
    def n_forge_batch(self) -> int:
        return _resolved(self.forge_batch, "forge_batch")

    @property
    def n_jitter(self) -> int:
        return self.jitter or 0  # unresolved (a hand-made config in a test): no shift

    def autocast_dtype(self, device: str):
        """The dtype the teacher runs in during the Forge on ``device`` (None: float32)."""
        import torch

        if self.amp == "off":
            return None
        if self.amp == "bf16":
            return torch.bfloat16
        on_gpu = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if on_gpu else None

    def resolved(self, protocol) -> DCODConfig:
        """The config with the protocol-dependent values filled in (what the manifest records)."""
        from dataclasses import replace

        return replace(
            self,
            iterations=self.iterations or protocol.forge_iterations,
            forge_batch=self.forge_batch or protocol.forge_batch,
            jitter=self.jitter if self.jitter is not None else protocol.imgsz // 32,
        )

    def as_dict(self) -> dict:
        d = asdict(self)
        d["snapshots"] = list(self.snapshots)
        d["version"] = CONFIG_VERSION
        return d


def _resolved(value: int | None, name: str) -> int:
    if value is None:
        raise ValueError(f"dcod {name} is unset: resolve the config against a protocol first (DCODConfig.resolved)")
    return value
