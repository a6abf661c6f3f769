import os
import shutil
import tempfile

import pytest

# The end-to-end test imports ultralytics before dcbench prepares it: keep its settings out of the home folder and
# make it offline from the start, as dcbench.detectors.ultralytics does for real runs. The folder is made only when
# nothing set one (tests/conftest.py does in a full run), and removed at the end of the session.
_CONFIG_DIR = None if "YOLO_CONFIG_DIR" in os.environ else tempfile.mkdtemp(prefix="dcbench-od3-yolo-config-")
if _CONFIG_DIR is not None:
    os.environ["YOLO_CONFIG_DIR"] = _CONFIG_DIR
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ.setdefault("YOLO_VERBOSE", "False")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _CONFIG_DIR is not None:
        shutil.rmtree(_CONFIG_DIR, ignore_errors=True)
