import os
import tempfile

# The end-to-end test imports ultralytics before dcbench prepares it: keep its settings out of the home folder and
# make it offline from the start, as dcbench.detectors.ultralytics does for real runs.
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="dcbench-od3-yolo-config-"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ.setdefault("YOLO_VERBOSE", "False")
