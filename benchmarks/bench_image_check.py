"""Time of the decode check (``dcbench.data.verify.check_images``): a first check that decodes every image, and a
second of the unchanged dataset that reads its verdicts from the cache.

    python benchmarks/bench_image_check.py                       # the built-in dataset, and BCCD when ../shared has it
    python benchmarks/bench_image_check.py voc:PATH coco:FILE    # any dataset specs

Each spec is loaded once (the built-in dataset is generated into dcbench's cache the first time, as a run would),
its cached verdict, if any, is removed, and both checks run on it. ``--workers`` sets the decoding threads
(default: dcbench's, min(8, CPUs)). Figures are wall seconds on this machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

BCCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "bccd" / "BCCD"


def _default_specs() -> list[str]:
    return ["shapes"] + ([f"voc:{BCCD}"] if BCCD.is_dir() else [])


def _bench(spec: str, workers: int | None) -> None:
    from dcbench.data.spec import load_dataset
    from dcbench.data.verify import cache_file, check_images

    t0 = time.perf_counter()
    ds = load_dataset(spec)
    load_s = time.perf_counter() - t0
    cached = cache_file(ds)
    if cached is not None:
        cached.unlink(missing_ok=True)
    first = check_images(ds, workers=workers)
    second = check_images(ds, workers=workers)
    assert second.decoded == 0, "the second check decoded images: the cache did not hold"
    pixels = sum(im.width * im.height for im in ds.images) / 1e6
    print(
        f"{spec}: {len(ds)} images ({pixels:.1f} Mpx), load {load_s:.2f} s; "
        f"first check {first.seconds:.2f} s ({first.decoded} decoded, {len(first.bad)} bad, "
        f"{len(ds) / max(first.seconds, 1e-9):.0f} images/s); second {second.seconds:.3f} s (cached); "
        f"ratio {first.seconds / max(second.seconds, 1e-9):.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", help="dataset specs (default: shapes, and BCCD when present)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    print(f"CPUs: {os.cpu_count()}, workers: {args.workers or 'default'}")
    for spec in args.specs or _default_specs():
        _bench(spec, args.workers)


if __name__ == "__main__":
    main()
