"""Training protocols: named presets, recorded in every result, never changed silently.

A protocol fixes how every detector in a run is trained (teacher and evaluation student alike) and how long DCOD
forges. Flags may override single fields (``--epochs 5``); the result then records the preset's name *and* the
overrides, and its ``protocol_id`` changes, so results of different settings never mix in a table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from dcbench.errors import ConfigError
from dcbench.io import stable_hash

# Fields only some methods read (DCOD's forge). A method that reads them names them in its ``protocol_fields``
# class attribute; for every other cell they are not part of what makes a result current (see harness.cell).
METHOD_FIELDS = ("forge_iterations", "forge_batch")


# fields added after protocol ids were first handed out, with the default that reproduces the earlier behaviour
LATER_FIELDS = {"student_repeats": 1, "nominal_batch": 64}


@dataclass(frozen=True)
class Protocol:
    name: str
    imgsz: int  # square training / inference size in pixels
    epochs: int  # training epochs of every detector trained in the run ...
    min_iterations: int  # ... but at least this many optimiser steps, so a 10-image set is trained, not sampled
    batch: int
    forge_iterations: int  # DCOD pixel-optimisation steps
    forge_batch: int  # synthetic images optimised together (BatchNorm statistics are batch statistics)
    # students trained per condensed set, each from its own seed, their metrics averaged: a 10-image student's
    # score moves by several mAP with float-rounding changes of its images, and R students cut that noise by sqrt(R)
    student_repeats: int = 1
    # images per optimiser update: Ultralytics accumulates the gradients of smaller batches up to it (its ``nbs``,
    # whose default 64 this is), so at 64 a 10-image set's 1500 batches make only 250 updates. The R-CNN backends
    # take one update per batch and do not read it.
    nominal_batch: int = 64
    description: str = ""
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def protocol_id(self) -> str:
        """A short id that changes with every value that changes results."""
        values = {k: v for k, v in asdict(self).items() if k not in ("description", "overrides")}
        # a field added later counts only when it is set away from its default: older ids stay what they were
        values = {k: v for k, v in values.items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
        digest = stable_hash(values, 8)
        return self.name if not self.overrides else f"{self.name}+{digest}"

    def with_overrides(self, **changes) -> Protocol:
        changes = {k: v for k, v in changes.items() if v is not None}
        valid = {f.name for f in fields(self)} - {"name", "description", "overrides"}
        unknown = set(changes) - valid
        if unknown:
            raise ConfigError(f"unknown protocol field(s): {', '.join(sorted(unknown))}")
        for k, v in changes.items():
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"protocol field {k} must be a positive integer, got {v!r}")
        real = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not real:
            return self
        return replace(self, **real, overrides=tuple(sorted({**dict(self.overrides), **real}.items())))

    def epochs_for(self, n_images: int) -> int:
        """Epochs to train on ``n_images``: ``epochs``, raised so that at least ``min_iterations`` steps are taken.

        Condensed sets are tiny: with a fixed epoch count a 1 % set would get 1 % of the optimiser steps and the
        comparison would measure the schedule, not the data. The rule is part of the protocol and the epochs used
        are recorded with every trained detector."""
        steps_per_epoch = max(1, math.ceil(n_images / self.batch))
        return max(self.epochs, math.ceil(self.min_iterations / steps_per_epoch))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["overrides"] = dict(self.overrides)
        d["protocol_id"] = self.protocol_id
        return d


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "smoke",
            imgsz=64,
            epochs=1,
            min_iterations=1,
            batch=8,
            forge_iterations=4,
            forge_batch=4,
            description="seconds; for tests: proves the pipeline runs, its numbers mean nothing",
        ),
        Protocol(
            "quick",
            imgsz=160,
            epochs=30,
            min_iterations=1500,
            batch=16,
            forge_iterations=300,
            forge_batch=16,
            description="minutes on a 2-core CPU at 160 px; the built-in dataset's reference protocol",
        ),
        Protocol(
            "paper",
            imgsz=512,
            epochs=300,
            min_iterations=3000,
            batch=16,
            forge_iterations=3000,
            forge_batch=16,
            description="the DCOD paper's setting (512 px, 3000 forge iterations, full schedule); for GPUs",
        ),
    )
}
DEFAULT_PROTOCOL = "quick"


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})") from None
