"""Detection datasets: one in-memory model, readers and writers for VOC XML, COCO JSON and YOLO txt, validation,
and the built-in generated dataset ``shapes``."""

from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport

__all__ = ["DetectionDataset", "ImageRecord", "LoadReport"]
