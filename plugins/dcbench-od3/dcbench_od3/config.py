"""Every OD3 setting, its default, and where the default comes from.

Sources: "spec" is dcbench's method page (docs/od3-method.md, a restatement of the paper and its public code);
"script" is the public code's synthesis script (scripts/data_synthesis.sh and data_synthesis.py's arguments);
"dcbench" marks a choice the spec leaves open, made here and recorded in every manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from dcbench.api import ConfigError

MARGINS = ("none", "fixed", "dynamic")
SCREEN_CLASSES = ("aware", "agnostic")
BACKGROUNDS = ("plain", "image")
LABELS = ("pasted", "observer")
BOOLS = ("screen", "screen_final")
# The OD3 record's version: bump it when the canvases change with no option to show it (the matrix then redoes
# finished OD3 cells instead of passing old sets off as current ones).
CONFIG_VERSION = 1


@dataclass(frozen=True)
class OD3Config:
    # -- canvas and placement (spec) --------------------------------------------------------------------------
    canvas: int | None = None  # square side in px; None: the protocol's imgsz (the code: 578 x 484 for COCO)
    overlap: float = 0.6  # max occupied fraction of a new crop's area (script's default; 0.5 in the code's class)
    tries: int = 40  # placement tries per crop, then the crop is dropped
    # -- crops (spec) ------------------------------------------------------------------------------------------
    # "dynamic": the spec names fixed and dynamic but not which one the method uses; the published synthesis
    # script passes --extend-context --extend-context-dynamic, and more context for small objects is the point
    margin: str = "dynamic"
    margin_px: int = 5  # "fixed": context margin around the box, canvas px
    margin_max_px: int = 10  # "dynamic": margin_max_px * (1 - area / max_area), truncated to whole px
    max_crop: float = 0.25  # crop side cap as a fraction of the canvas side: 144 x 121 on 484 x 578 is ~1/4
    scale: float = 1.0  # crop rescale before the cap
    # -- dcbench: a box a later paste covers is kept while this fraction of it still shows ---------------------
    min_visible: float = 0.5  # a box later pastes cover is kept while this share of it shows (dcbench's choice)
    # -- screening (spec) --------------------------------------------------------------------------------------
    screen: bool = True  # the published method screens (--apply-screen-iter)
    screen_iou: float = 0.25  # a pasted box survives when a prediction overlaps it at IoU > this
    screen_score: float = 0.25  # predictions below this score are ignored (the code's YOLO cut-off)
    screen_classes: str = "aware"  # the paper's text; "agnostic" is what the code does
    screen_every: int | None = None  # slice images between passes; None: images per canvas // 10 (at least 1)
    # dcbench: also screen after a slice's last image; the code skips that pass and leaves the last tenth of
    # each slice unscreened
    screen_final: bool = True
    fill_floor: float = 0.2  # erasing stops when the occupied fraction would fall to this or below
    # -- background and labels (spec) --------------------------------------------------------------------------
    background: str = "plain"  # white 255 (the spec's default); "image": a real train image, letterboxed
    labels: str = "pasted"  # hard pasted boxes; "observer": the teacher's boxes on the finished canvas
    label_score: float = 0.25  # "observer": predictions at or above this score become the labels

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_fractions()
        self._check_counts()

    def _check_choices(self) -> None:
        for name, allowed in (
            ("margin", MARGINS),
            ("screen_classes", SCREEN_CLASSES),
            ("background", BACKGROUNDS),
            ("labels", LABELS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"od3 {name} {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        for name in BOOLS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"od3 {name} must be true or false, got {getattr(self, name)!r}")

    def _check_fractions(self) -> None:
        for name in ("overlap", "min_visible", "screen_iou", "screen_score", "fill_floor", "label_score"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ConfigError(f"od3 {name} must be a fraction in [0, 1], got {v!r}")
        for name in ("max_crop", "scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or (name == "max_crop" and v > 1):
                raise ConfigError(
                    f"od3 {name} must be positive{' and at most 1' if name == 'max_crop' else ''}, got {v!r}"
                )

    def _check_counts(self) -> None:
        for name, low, optional in (
            ("canvas", 8, True),
            ("tries", 1, False),
            ("margin_px", 0, False),
            ("margin_max_px", 0, False),
            ("screen_every", 1, True),
        ):
            v = getattr(self, name)
            if v is None and optional:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"od3 {name} must be an integer of at least {low}, got {v!r}")

    @classmethod
    def from_options(cls, **options) -> OD3Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown od3 option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for name in BOOLS:
            if isinstance(options.get(name), str):
                options[name] = options[name].strip().lower() in ("1", "true", "yes", "on")
        for name in ("canvas", "screen_every"):
            if isinstance(options.get(name), str) and options[name].strip().lower() in ("none", "null", ""):
                options[name] = None
        for f in fields(cls):
            # `-O overlap=1` arrives as an int: stored as the float it means, so the record compares equal
            if f.type == "float" and isinstance(options.get(f.name), int) and not isinstance(options[f.name], bool):
                options[f.name] = float(options[f.name])
        return cls(**options)

    def resolved(self, protocol) -> OD3Config:
        """The config with the protocol-dependent canvas filled in (what the manifest records)."""
        return replace(self, canvas=self.canvas or protocol.imgsz)

    def every(self, per_canvas: int) -> int:
        """Slice images between observer passes: the spec's interval / 10, at least every image."""
        return self.screen_every or max(1, per_canvas // 10)

    def needs_observer(self) -> bool:
        return self.screen or self.labels == "observer"

    def as_dict(self) -> dict:
        return {**asdict(self), "version": CONFIG_VERSION}
