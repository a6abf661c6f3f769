"""The OD3 method as dcbench calls it: synthesise M canvases, write them as a condensed set with a manifest that
records every option and every choice the method page leaves open."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dcbench.api import CondenseContext, CondensedSet, DetectionDataset, ImageRecord, write_condensed
from dcbench_od3.config import OD3Config
from dcbench_od3.observer import Observe, teacher_observer
from dcbench_od3.synthesis import BACKGROUND_RULE, GROUP, ORDER_RULE, CanvasResult, Run, order_digest, synthesise

CANVAS_DIR = "od3-canvases"  # under the workdir while synthesising; removed once the set is written

CHOICES = {
    "slice_order": ORDER_RULE,
    "crop_frame": "crops cut from the image scaled as the protocol's letterbox scales it (canvas / longest side)",
    "margin_units": "canvas px, truncated to whole px; dynamic max_area = the largest labelled box area of the "
    "train set in the canvas frame (the code: COCO's largest box area)",
    "placement_centre": "uniform in [0, S) x [0, S), so at most half a crop hangs over an edge and is cut",
    "occupancy": "fraction of the crop's clipped region (margin included) already showing pasted objects",
    "memory": "a freed centre drawn uniformly from the memory and mixed as p * uniform + (1 - p) * freed, "
    "p ~ U(0, 1); a remembered centre occupied again is forgotten before each crop",
    "recorded_box": "the object's box (margin excluded) clipped to the canvas; a try whose clipped box is under "
    "1 px on a side is rejected, so an object too small to show is dropped",
    "erase": "only the pixels the object still shows go back to the background; later pastes over it stay",
    "erase_order": "oldest unmatched object first; a pass stops at the first one whose erasing would reach the "
    "fill floor",
    "covered_boxes": "at the end of its slice a box is kept only while >= min_visible of it still shows; else it "
    "is dropped and counted as hidden",
    "screen_schedule": "after slice image k (1-based) when k % every == 0 and k < L; after image L when screen_final",
    "screen_predictions": "predictions with score >= screen_score, of the same class when screen_classes=aware",
    "background": BACKGROUND_RULE,
    "observer_labels": "labels=observer: the teacher's predictions with score >= label_score on each finished "
    "canvas, clipped to it, replace its boxes (no test-time augmentation)",
    "observer_batch": f"up to {GROUP} canvases per predict call (canvases are filled in lockstep)",
}


class OD3:
    """Crop, paste, screen. Options are the fields of :class:`OD3Config`."""

    name = "od3"

    def __init__(self, **options):
        self.config = OD3Config.from_options(**options)

    @property
    def requires_teacher(self) -> bool:
        """The Fetch teacher is the observer; without screening and with pasted labels no observer is asked, so no
        teacher is trained for the run and its set is shared by every condensing detector, as Random's is."""
        return self.config.needs_observer()

    def describe(self) -> dict:
        return self.config.as_dict()

    def observer(self, context: CondenseContext, categories: list[str]) -> Observe | None:
        """The observer this run uses (None when neither screening nor observer labels need one). Tests override
        this to pass a fake."""
        if not self.config.needs_observer():
            return None
        return teacher_observer(context, categories)

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        cfg = self.config.resolved(context.protocol)
        run = Run(
            train_set,
            cfg,
            context.seed,
            self.observer(context, train_set.categories),
            Path(context.workdir) / CANVAS_DIR,
        )
        results = synthesise(run, budget, context.reporter)
        size = cfg.canvas
        records = [
            ImageRecord(f"od3-{m:06d}", Path(r.file.name), size, size, r.boxes, r.labels, np.zeros(len(r.labels), bool))
            for m, r in enumerate(results)
        ]
        synthetic = DetectionDataset(f"od3-{budget}", list(train_set.categories), records, source="od3")

        def write_image(k: int, path: Path) -> None:
            shutil.copyfile(results[k].file, path.with_suffix(".png"))

        manifest = self.manifest(train_set, budget, context, run, results)
        condensed = write_condensed(synthetic, Path(context.workdir) / "condensed", manifest, image_writer=write_image)
        shutil.rmtree(run.out_dir, ignore_errors=True)
        return condensed

    def manifest(
        self, train_set: DetectionDataset, budget: int, context: CondenseContext, run: Run, results: list[CanvasResult]
    ) -> dict:
        per_canvas = [{**r.counts, **({"background": r.background} if r.background else {})} for r in results]
        totals = {k: sum(c.get(k, 0) for c in per_canvas) for k in results[0].counts} if results else {}
        teacher = context.teacher
        observer = {"detector": teacher.backend.name, "checkpoint": str(teacher.checkpoint.path)} if teacher else None
        return {
            "method": self.name,
            "kind": "synthesis",
            "options": run.cfg.as_dict(),
            "budget": budget,
            "n_train": len(train_set),
            "seed": context.seed,
            "source": train_set.source,
            "source_fingerprint": train_set.fingerprint(),
            "teacher": observer,
            "canvas": run.cfg.canvas,
            "labels": run.cfg.labels,
            "slices": {
                "rule": ORDER_RULE,
                "images_per_canvas": len(run.slices[0]),
                "unused_images": len(train_set) - budget * len(run.slices[0]),
                "order_digest": order_digest(train_set, run.slices),
            },
            "choices": CHOICES,
            "per_canvas": per_canvas,
            "totals": totals,
            "boxes_per_canvas": round(totals.get("final_boxes", 0) / max(1, budget), 3),
            "timings": {
                k: round(v, 3)
                for k, v in {"synthesis_s": 0.0, "screen_s": 0.0, "label_s": 0.0, **run.clock.seconds}.items()
            },
        }
