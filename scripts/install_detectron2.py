"""Install Detectron2's pure-Python part into the running Python environment, for CPUs and Python 3.11+.

Detectron2 is not published on PyPI under its own name; its authors ask users to build it from its repository
(see docs/detectors.md). On machines where that is not possible, this script uses ``sal-detectron2==0.7.2``, an
unmodified copy of upstream published as a cp310 wheel: it downloads the wheel with pip, copies the
``detectron2`` package into site-packages *without* the compiled ``_C`` extension (it will not load on another
Python; Faster R-CNN R50-FPN does not need it: ROIAlign and NMS come from torchvision), records a
``detectron2`` distribution so versions can be reported, and installs the pure-Python dependencies.

    python scripts/install_detectron2.py            # idempotent; exits 0 when detectron2 already imports
    python scripts/install_detectron2.py --optional # a failed download warns and exits 0 (its tests then skip)
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

WHEEL = "sal-detectron2==0.7.2"
VERSION = "0.7.2"
DEPENDENCIES = ["fvcore", "iopath", "omegaconf", "termcolor", "cloudpickle", "yacs", "tabulate", "setuptools<82"]


def already_installed() -> bool:
    probe = "import detectron2, detectron2.modeling, detectron2.model_zoo; print(detectron2.__version__)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def main() -> int:
    try:
        return install()
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        if "--optional" in sys.argv:
            print(f"warning: detectron2 could not be installed ({exc}); its tests will be skipped", file=sys.stderr)
            return 0
        raise


def install() -> int:
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(pip + ["install", "-q", *DEPENDENCIES], check=True)
    if already_installed():
        print("detectron2 already importable")
        return 0
    site = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            pip + ["download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.10", WHEEL, "-d", tmp],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith("detectron2/") and not Path(m).name.startswith("_C.")]
            zf.extractall(site, members)
    dist = site / f"detectron2-{VERSION}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: detectron2\nVersion: {VERSION}\n"
        "Summary: Detectron2 (pure-Python part of sal-detectron2, installed by dcbench)\n"
    )
    (dist / "INSTALLER").write_text("dcbench scripts/install_detectron2.py\n")
    (dist / "RECORD").write_text("")
    if not already_installed():
        print("detectron2 was copied but does not import", file=sys.stderr)
        return 1
    print(f"detectron2 {VERSION} (pure Python) installed into {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
