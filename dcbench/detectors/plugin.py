"""Built-in detector backends, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl

# (name, "module:Class", one line for `dcbench list detectors`): names only, so that listing imports no backend
DETECTORS = (
    (
        "yolov3",
        "dcbench.detectors.ultralytics:YOLOv3",
        "YOLOv3 (Ultralytics config, anchor-free head), built from yolov3.yaml",
    ),
    (
        "yolov3-spp",
        "dcbench.detectors.ultralytics:YOLOv3SPP",
        "YOLOv3-SPP (the DCOD paper's detector; Ultralytics config), from yolov3-spp.yaml",
    ),
    (
        "yolov3-tiny",
        "dcbench.detectors.ultralytics:YOLOv3Tiny",
        "YOLOv3-tiny (Ultralytics config), from yolov3-tiny.yaml; fast on a CPU",
    ),
    (
        "yolov3-spp-classic",
        "dcbench.detectors.yolo_classic.backend:ClassicYOLOv3SPP",
        "YOLOv3-SPP with the original anchor heads, archive-era loss and recipe (the DCOD paper's detector)",
    ),
    (
        "yolov3-classic",
        "dcbench.detectors.yolo_classic.backend:ClassicYOLOv3",
        "YOLOv3 (Darknet-53) with the original anchor heads, archive-era loss and recipe",
    ),
    (
        "yolov3-tiny-classic",
        "dcbench.detectors.yolo_classic.backend:ClassicYOLOv3Tiny",
        "YOLOv3-tiny with the original anchor heads, archive-era loss and recipe",
    ),
    (
        "yolo11n",
        "dcbench.detectors.ultralytics:YOLO11n",
        "YOLO11n (Ultralytics config, stride-8 head), from yolo11n.yaml; the CPU reference detector",
    ),
    (
        "yolov8n",
        "dcbench.detectors.ultralytics:YOLOv8n",
        "YOLOv8n (Ultralytics config, stride-8 head), from yolov8n.yaml",
    ),
    (
        "ultralytics",
        "dcbench.detectors.ultralytics:UltralyticsDetector",
        "Any Ultralytics detection config: ultralytics:yolov8n.yaml",
    ),
    (
        "torchvision",
        "dcbench.detectors.torchvision_det:TorchvisionDetector",
        "torchvision Faster R-CNN from scratch: torchvision:fasterrcnn_resnet50_fpn, ..._mobilenet_v3_large_fpn",
    ),
    (
        "detectron2",
        "dcbench.detectors.detectron2_det:Detectron2Detector",
        "Detectron2 Faster R-CNN from a model-zoo config, from scratch: detectron2:faster_rcnn_R_50_FPN",
    ),
    (
        "faster-rcnn",
        "dcbench.detectors.detectron2_det:Detectron2Detector",
        "Alias of detectron2:faster_rcnn_R_50_FPN (needs the detectron2 extra)",
    ),
)


@hookimpl
def dcbench_register_detectors(registry):
    for name, target, description in DETECTORS:
        registry.add(name, target, description)
