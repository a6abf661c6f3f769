"""Built-in detector backends, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_detectors(registry):
    registry.add("yolov3", "dcbench.detectors.ultralytics:YOLOv3",
                 "YOLOv3 (Ultralytics config, anchor-free head), built from yolov3.yaml")
    registry.add("yolov3-spp", "dcbench.detectors.ultralytics:YOLOv3SPP",
                 "YOLOv3-SPP (the DCOD paper's detector; Ultralytics config), from yolov3-spp.yaml")
    registry.add("yolov3-tiny", "dcbench.detectors.ultralytics:YOLOv3Tiny",
                 "YOLOv3-tiny (Ultralytics config), from yolov3-tiny.yaml; fast on a CPU")
    registry.add("ultralytics", "dcbench.detectors.ultralytics:UltralyticsDetector",
                 "Any Ultralytics detection config: ultralytics:yolov8n.yaml")
    registry.add("torchvision", "dcbench.detectors.torchvision_det:TorchvisionDetector",
                 "torchvision Faster R-CNN from scratch: torchvision:fasterrcnn_resnet50_fpn, ..._mobilenet_v3_large_fpn")
