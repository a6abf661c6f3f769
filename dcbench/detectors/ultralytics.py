"""Ultralytics YOLO backend (AGPL-3.0 library, used through its public API only).

Models are built from Ultralytics' model configs (``yolov3.yaml``, ``yolov3-spp.yaml``, ``yolov3-tiny.yaml``, or
any config by name), never from downloaded weights. Note: Ultralytics' current YOLOv3 configs use its
anchor-free detection head, not the original anchor-based YOLOv3 head; numbers are not directly comparable with
the original Darknet YOLOv3.

Everything Ultralytics would fetch or write outside the run is redirected: its settings folder lives in
dcbench's cache (with a bundled font so the font check never downloads), ``YOLO_OFFLINE`` is set, auto-install
and every logging integration are off. The dataset is handed over as a YOLO folder dcbench writes (never
Ultralytics' ``fraction=``, which keeps the first files, not a sample), and predictions are scored by dcbench's
own COCO evaluator.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcbench.api import Checkpoint, InversionTarget
from dcbench.cache import cache_dir
from dcbench.data.model import DetectionDataset
from dcbench.data.writers import write_yolo
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections
from dcbench.progress import SILENT
from dcbench.protocols import LATER_FIELDS

if TYPE_CHECKING:
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol

_INTEGRATIONS = ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb", "hub", "neptune")
_ready = False


def _prepare() -> None:
    """Make Ultralytics offline and quiet before its first import; idempotent."""
    global _ready
    if _ready:
        return
    import torch

    threads = torch.get_num_threads()
    config_dir = Path(os.environ.get("YOLO_CONFIG_DIR") or cache_dir("ultralytics-config"))
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (font_dir / name).exists():
            shutil.copyfile(dejavu, font_dir / name)
    from ultralytics.utils import LOGGER, SETTINGS

    SETTINGS.update({k: False for k in _INTEGRATIONS if k in SETTINGS})
    LOGGER.setLevel(logging.WARNING)
    torch.set_num_threads(threads)  # importing ultralytics may have pinned torch to one thread
    _ready = True


def ultralytics_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return "0"
    if device.startswith("cuda:"):
        return device.split(":", 1)[1]
    raise ConfigError(f"device {device!r} is not cpu, cuda or cuda:N")


def _total(loss) -> float:
    """Ultralytics reports the running loss as a tensor or, in newer releases, a dict of named terms."""
    if loss is None:
        return float("nan")
    if isinstance(loss, dict):
        return float(sum(float(v) for v in loss.values()))
    return float(loss.sum())


def _check_images_kept(trainer, dataset: DetectionDataset) -> None:
    """Ultralytics drops an image it cannot read with a log line and trains on the rest; a result would then claim
    more training images than the student saw. Here that is an error naming the first image dropped."""
    from dcbench.data.writers import yolo_file_names
    from dcbench.errors import DatasetError

    kept = {Path(f).name for f in trainer.train_loader.dataset.im_files}
    names = yolo_file_names(dataset)
    dropped = [im.file for name, im in zip(names, dataset.images) if name not in kept]
    if dropped:
        raise DatasetError(
            dropped[0],
            f"unreadable image: Ultralytics would train on {len(names) - len(dropped)} of "
            f"{len(names)} images ({len(dropped)} dropped)",
        )


def _keep_weights_and_log(run_dir: Path, workdir: Path) -> Path:
    """Moves what a finished Ultralytics run is kept for out of its run folder (then removed): the final weights,
    as ``workdir/detector.pt``, and the training log."""
    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        raise RuntimeError(f"Ultralytics finished without writing {last}")
    target = workdir / "detector.pt"
    shutil.copyfile(last, target)
    for name in ("results.csv", "args.yaml"):  # the training log is kept; best.pt/last.pt would be copies
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, workdir / f"ultralytics-{name}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return target


def _neck_layers(model) -> list[int]:
    """The layers whose outputs the detection head reads (P3, P4, P5): where a YOLO student is distilled."""
    return [int(i) for i in model.model[-1].f]


def _neck_widths(model, imgsz: int = 64) -> list[int]:
    import torch

    captured: list = []
    handles = [
        model.model[i].register_forward_hook(lambda _m, _i, out: captured.append(out)) for i in _neck_layers(model)
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, imgsz, imgsz, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return [int(t.shape[1]) for t in captured]


class _DistillCriterion:
    """Ultralytics' detection loss plus PKD between the student's and the frozen teacher's neck maps, on the very
    batch the student sees (after mosaic and letterbox: equal strides, no resizing). Ultralytics scales its loss by
    the batch size, so the distillation term is scaled the same way; it is reported as the loss item ``pkd``."""

    def __init__(self, base, student, teacher, log):
        from dcbench.detectors.distill import PKD_WEIGHT

        self.base, self.teacher, self.log, self.weight = base, teacher, log, PKD_WEIGHT
        self.student_maps: list = []
        self.teacher_maps: list = []
        self.handles = [
            student.model[i].register_forward_hook(self._keep(self.student_maps)) for i in _neck_layers(student)
        ]
        self.handles += [
            teacher.model[i].register_forward_hook(self._keep(self.teacher_maps)) for i in _neck_layers(teacher)
        ]

    @staticmethod
    def _keep(store: list):
        return lambda _m, _i, out: store.append(out)

    def __call__(self, preds, batch):
        import torch

        from dcbench.detectors.distill import pkd

        loss, items = self.base(preds, batch)
        self.teacher_maps.clear()
        with torch.no_grad():
            self.teacher(batch["img"])
        kd = pkd(self.student_maps[-len(self.teacher_maps) :], self.teacher_maps, self.weight)
        self.student_maps.clear()
        self.log.add(float(kd.detach()))
        return loss.sum() + kd * batch["img"].shape[0], {**items, "pkd": kd.detach()}

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _train_args(protocol: TrainProtocol, n_images: int, seed: int, workdir: Path, device: str) -> dict:
    """Ultralytics' training arguments for a dcbench protocol: from scratch, seeded, deterministic, no validation,
    plots or per-epoch checkpoints, its run folder under ``workdir``."""
    cpu = device == "cpu"
    return {
        "imgsz": protocol.imgsz,
        "batch": min(protocol.batch, n_images),
        "nbs": protocol.nominal_batch,
        "device": ultralytics_device(device),
        "workers": 0 if cpu else min(8, os.cpu_count() or 1),
        "seed": seed,
        "deterministic": True,
        "val": False,
        "plots": False,
        "pretrained": False,
        "amp": not cpu,
        "project": str(workdir),
        "name": "ultralytics",
        "exist_ok": True,
        "verbose": False,
        "cache": False,
        # only the final checkpoint: a per-epoch last.pt was half the wall time of a 10-image student (300 one-batch
        # epochs). The cost: a NaN loss now fails the run instead of reloading last.pt.
        "save": False,
    }


# -- counting FLOPs (harness.gpu_cost's GPU estimate, benchmarks/estimate_paper_cost.py) ----------------------------
# Counted at this size and scaled by pixels: a convolution's FLOPs grow exactly with them (yolov3-spp: 1.38 MFLOP
# per pixel for a forge step at 64, 128 and 512 px), attention's a little faster (yolo11n's C2PSA: +0.9 % at
# 512 px). Counting runs the step: 16 s of CPU for yolov3-spp at 512 px, 2 s at 64.
FLOP_COUNT_PX = 64


def flop_model(config: str, classes: int):
    """A freshly built model of ``config`` with what ``model.loss`` reads (its weights' values change no count)."""
    _prepare()
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    model: Any = DetectionModel(config, nc=classes, verbose=False)
    model.args = get_cfg()
    return model


def dummy_batch(imgsz: int, n: int = 1, boxes: int = 3) -> dict:
    """``n`` random images with ``boxes`` boxes each, as ``model.loss`` takes them."""
    import torch

    return {
        "img": torch.rand(n, 3, imgsz, imgsz),
        "cls": torch.zeros(n * boxes, 1),
        "bboxes": torch.rand(n * boxes, 4) * 0.3 + 0.2,
        "batch_idx": torch.arange(n).repeat_interleave(boxes).float(),
    }


def forge_step(model, batch: dict) -> None:
    """What DCOD's forge does per iteration: the loss's gradient to the pixels."""
    img = batch["img"].requires_grad_(True)
    total, _ = model.loss({**batch, "img": img})
    total.sum().backward()


def count_step_flops(config: str, imgsz: int, classes: int) -> tuple[float, float, object]:
    """FLOPs of one image's forge step (weights frozen, BatchNorm in eval mode) and training step at ``imgsz``,
    and the model, left frozen."""
    from dcbench.flops import count_flops

    model = flop_model(config, classes)
    model.train()

    def train_step() -> None:
        total, _ = model.loss(dummy_batch(imgsz))
        total.sum().backward()

    train = count_flops(train_step)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return count_flops(lambda: forge_step(model, dummy_batch(imgsz))), train, model


class UltralyticsDetector:
    """Any Ultralytics detection model config. ``ultralytics:yolov8n.yaml`` selects the config by name."""

    default_config: str | None = None
    distills = True  # train(..., distill=teacher) adds PKD from a frozen Ultralytics teacher (labels = distill)

    def __init__(self, arg: str | None = None):
        config = arg or self.default_config
        if not config:
            raise ConfigError("the ultralytics detector needs a model config: ultralytics:yolov8n.yaml")
        if config.endswith((".pt", ".pth")):
            raise ConfigError(f"{config}: dcbench builds models from configs (.yaml); weight files would be downloaded")
        if not config.endswith((".yaml", ".yml")):
            config += ".yaml"
        self.config = config
        self.name = f"ultralytics:{config}"

    def step_flops(self, imgsz: int, classes: int) -> tuple[float, float]:
        """FLOPs of one image's forge step and training step at ``imgsz`` (``dcbench matrix --dry-run --gpu``)."""
        forge, train, _ = count_step_flops(self.config, FLOP_COUNT_PX, classes)
        scale = (imgsz / FLOP_COUNT_PX) ** 2
        return forge * scale, train * scale

    # -- training -------------------------------------------------------------------------------------------
    def train(
        self,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        seed: int,
        workdir: Path,
        device: str,
        reporter: Reporter | None = None,
        distill=None,
    ) -> Checkpoint:
        """A fresh detector trained on ``dataset``; with ``distill`` (a :class:`dcbench.api.Teacher` of this
        backend), with PKD from that frozen teacher's neck maps added to its loss (``labels = distill``)."""
        _prepare()
        from ultralytics import YOLO

        # absolute: Ultralytics resolves a relative ``project`` against its own runs folder, not the cwd
        workdir = Path(workdir).resolve()
        data_dir = workdir / "yolo-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_yaml = write_yolo(dataset, data_dir, "train")
        epochs = protocol.epochs_for(len(dataset))
        model = YOLO(self.config, task="detect")
        run_dir = workdir / "ultralytics"
        shutil.rmtree(run_dir, ignore_errors=True)
        with (reporter or SILENT).stage(
            f"train {self.config} on {len(dataset)} images", total=epochs, unit="epoch"
        ) as step:
            model.add_callback(
                "on_train_epoch_end",
                lambda tr: step(tr.epoch + 1, f"loss {_total(tr.tloss):.3f}"),
            )
            model.add_callback("on_pretrain_routine_end", lambda tr: _check_images_kept(tr, dataset))
            log = self._add_distillation(model, distill, device) if distill is not None else None
            model.train(
                data=str(data_yaml), epochs=epochs, **_train_args(protocol, len(dataset), seed, workdir, device)
            )
        target = _keep_weights_and_log(run_dir, workdir)
        shutil.rmtree(data_dir, ignore_errors=True)  # a copy (or links) of the training images; not needed now
        meta = {"config": self.config, "epochs": epochs, "images": len(dataset)}
        if protocol.nominal_batch != LATER_FIELDS["nominal_batch"]:  # at the default, older checkpoints' meta as it was
            meta["nominal_batch"] = protocol.nominal_batch
        if log is not None:
            from dcbench.detectors.distill import PKD_WEIGHT

            meta["distill"] = {**log.as_dict(PKD_WEIGHT), "levels": "P3-P5 (the detection head's inputs)"}
        return Checkpoint(self.name, target, meta)

    def check_distill_teacher(self, teacher_backend, *, build: bool = True) -> None:
        """One line, before anything trains, when this student cannot distil from ``teacher_backend``'s models:
        another backend family, or (``build``: both models built from their configs, a fraction of a second)
        distilled levels of other channel widths. No adapter is built: PKD needs channel c to mean the same."""
        from dcbench.detectors.distill import check_widths

        if not isinstance(teacher_backend, UltralyticsDetector):
            raise ConfigError(
                f"labels=distill: an Ultralytics student distils from an Ultralytics teacher, not from "
                f"{teacher_backend.name}"
            )
        if build and teacher_backend.config != self.config:
            widths = [_neck_widths(flop_model(c, 1)) for c in (self.config, teacher_backend.config)]
            check_widths(widths[0], widths[1], self.name, teacher_backend.name)

    def _add_distillation(self, model, distill, device: str):
        """Callbacks that put PKD from ``distill``'s frozen teacher into the trainer's loss; the log of its term."""
        from dcbench.detectors.distill import DistillLog, check_widths

        self.check_distill_teacher(distill.backend, build=False)
        teacher = distill.backend._torch_model(distill.checkpoint, "cpu" if device == "cpu" else device)
        check_widths(_neck_widths(model.model), _neck_widths(teacher), self.name, distill.backend.name)
        log, state = DistillLog(), {}

        def start(trainer) -> None:
            teacher.to(trainer.device)
            base = trainer.model.init_criterion()
            state["criterion"] = trainer.model.criterion = _DistillCriterion(base, trainer.model, teacher, log)

        model.add_callback("on_train_start", start)
        model.add_callback("on_train_epoch_end", lambda _tr: log.end_epoch())
        model.add_callback("on_train_end", lambda _tr: state["criterion"].close())
        return log

    # -- inference ------------------------------------------------------------------------------------------
    def _load(self, checkpoint: Checkpoint):
        _prepare()
        from ultralytics import YOLO

        return YOLO(str(checkpoint.path), task="detect")

    def predict(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> list[Detections]:
        model = self._load(checkpoint)
        results: list[Detections] = []
        chunk = 64
        with (reporter or SILENT).stage(f"predict {len(dataset)} images", total=len(dataset), unit="image") as step:
            for start in range(0, len(dataset), chunk):
                files = [str(im.file) for im in dataset.images[start : start + chunk]]
                for r in model.predict(
                    source=files,
                    imgsz=protocol.imgsz,
                    conf=0.001,
                    iou=0.7,
                    max_det=100,
                    device=ultralytics_device(device),
                    verbose=False,
                    stream=True,
                    batch=min(16, len(files)),
                ):
                    b = r.boxes
                    results.append(
                        Detections(b.xyxy.cpu().numpy(), b.conf.cpu().numpy(), b.cls.cpu().numpy().astype(np.int64))
                    )
                step(len(results))
        return results

    def _torch_model(self, checkpoint: Checkpoint, device: str):
        import torch

        model = self._load(checkpoint).model.to(torch.device(device)).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def features(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> np.ndarray:
        """Global-average-pooled output of the last backbone layer, on letterboxed images."""
        import torch

        from dcbench.io import letterbox

        model = self._torch_model(checkpoint, device)
        layer = model.model[len(model.yaml["backbone"]) - 1]
        captured: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        feats = []
        batch = 32
        try:
            with (
                torch.no_grad(),
                (reporter or SILENT).stage(
                    f"features of {len(dataset)} images", total=len(dataset), unit="image"
                ) as step,
            ):
                for start in range(0, len(dataset), batch):
                    arr = np.stack(
                        [letterbox(im.file, protocol.imgsz)[0] for im in dataset.images[start : start + batch]]
                    )
                    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255).to(device)
                    captured.clear()
                    model(x)
                    feats.append(
                        torch.nn.functional.adaptive_avg_pool2d(captured[0], 1).flatten(1).float().cpu().numpy()
                    )
                    step(min(start + batch, len(dataset)))
        finally:
            handle.remove()
        return np.concatenate(feats).astype(np.float32)

    def inversion_target(self, checkpoint: Checkpoint, *, protocol: TrainProtocol, device: str) -> InversionTarget:
        import torch
        from ultralytics.cfg import get_cfg

        model = self._torch_model(checkpoint, device)
        model.args = get_cfg()  # the loss reads its box/cls/dfl gains from a full config
        nc = int(model.nc)

        def loss(images: torch.Tensor, targets) -> torch.Tensor:
            b, _, h, w = images.shape
            scale = images.new_tensor([w, h, w, h])
            cls, boxes, idx = [], [], []
            for i, (bx, lb) in enumerate(targets):
                bx = bx.to(images)
                xywh = torch.stack(
                    [(bx[:, 0] + bx[:, 2]) / 2, (bx[:, 1] + bx[:, 3]) / 2, bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1]], 1
                )
                boxes.append(xywh / scale)
                cls.append(lb.to(images).view(-1, 1))
                idx.append(torch.full((len(lb),), float(i), device=images.device))
            batch = {"img": images, "cls": torch.cat(cls), "bboxes": torch.cat(boxes), "batch_idx": torch.cat(idx)}
            total, _items = model.loss(batch)
            return total.sum() / b  # Ultralytics scales its loss by the batch size

        return InversionTarget(model, loss, protocol.imgsz, device, nc)


class YOLOv3(UltralyticsDetector):
    default_config = "yolov3.yaml"


class YOLOv3SPP(UltralyticsDetector):
    default_config = "yolov3-spp.yaml"


class YOLOv3Tiny(UltralyticsDetector):
    default_config = "yolov3-tiny.yaml"


class YOLO11n(UltralyticsDetector):
    default_config = "yolo11n.yaml"


class YOLOv8n(UltralyticsDetector):
    default_config = "yolov8n.yaml"
