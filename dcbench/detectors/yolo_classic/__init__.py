"""Archive-era (anchor-based) YOLOv3, YOLOv3-SPP and YOLOv3-tiny as a dcbench backend, written from
``yolov3-classic.md``. Only :mod:`.backend` is imported by the registry; it imports torch inside its methods."""
