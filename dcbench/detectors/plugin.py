"""Built-in detector backends, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_detectors(registry):
    registry.add(
        "yolov3",
        "dcbench.detectors.ultralytics:YOLOv3",
        "YOLOv3 (Ultralytics config, anchor-free head), built from yolov3.yaml",
    )
    registry.add(
        "yolov3-spp",
        "dcbench.detectors.ultralytics:YOLOv3SPP",
        "YOLOv3-SPP (the DCOD paper's detector; Ultralytics config), from yolov3-spp.yaml",
    )
    registry.add(
        "yolov3-tiny",
        "dcbench.detectors.ultralytics:YOLOv3Tiny",
        "YOLOv3-tiny (Ultralytics config), from yolov3-tiny.yaml; fast on a CPU",
    )
    registry.add(
        "yolo11n",
        "dcbench.detectors.ultralytics:YOLO11n",
        "YOLO11n (Ultralytics config, stride-8 head), from yolo11n.yaml; the CPU reference detector",
    )
    registry.add(
        "yolov8n",
        "dcbench.detectors.ultralytics:YOLOv8n",
        "YOLOv8n (Ultralytics config, stride-8 head), from yolov8n.yaml",
    )
    registry.add(
        "ultralytics",
        "dcbench.detectors.ultralytics:UltralyticsDetector",
        "Any Ultralytics detection config: ultralytics:yolov8n.yaml",
    )
    registry.add(
        "torchvision",
        "dcbench.detectors.torchvision_det:TorchvisionDetector",
        "torchvision Faster R-CNN from scratch: torchvision:fasterrcnn_resnet50_fpn, ..._mobilenet_v3_large_fpn",
    )
    registry.add(
        "detectron2",
        "dcbench.detectors.detectron2_det:Detectron2Detector",
        "Detectron2 Faster R-CNN from a model-zoo config, from scratch: detectron2:faster_rcnn_R_50_FPN",
    )
    registry.add(
        "faster-rcnn",
        "dcbench.detectors.detectron2_det:Detectron2Detector",
        "Alias of detectron2:faster_rcnn_R_50_FPN (needs the detectron2 extra)",
    )
