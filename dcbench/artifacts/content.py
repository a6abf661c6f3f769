"""What a set holds, byte for byte: the sha256 of each image, a fingerprint over the image bytes and the
annotations, and the images it shares with another set.

``DetectionDataset.fingerprint`` hashes file sizes, not pixels (cheap at COCO scale, enough to tell a changed
dataset); a set that someone hands over is identified by its contents instead, so a re-encoded or edited image
gives another fingerprint, and the same set under another folder name gives the same one.
"""

from __future__ import annotations

import hashlib
import os

from dcbench.data.model import DetectionDataset
from dcbench.io import sha256_file


def image_digests(ds: DetectionDataset) -> list[str]:
    """The sha256 of every image file, in dataset order."""
    return [sha256_file(im.file) for im in ds.images]


def content_fingerprint(ds: DetectionDataset, digests: list[str] | None = None) -> str:
    """16 hex digits over the categories and, per image in order, its bytes, size and boxes (file names left out:
    they say where a set lies, not what it is)."""
    digests = digests if digests is not None else image_digests(ds)
    h = hashlib.sha256()
    h.update("\x1f".join(ds.categories).encode())
    for im, digest in zip(ds.images, digests):
        h.update(f"\x1e{digest}\x1f{im.width}\x1f{im.height}".encode())
        h.update(im.boxes.astype("<f4").tobytes())
        h.update(im.labels.astype("<i8").tobytes())
        h.update(im.ignore.astype(bool).tobytes())
    return h.hexdigest()[:16]


def shared_images(ds: DetectionDataset, digests: list[str], other: DetectionDataset) -> list[tuple[str, str]]:
    """(image of ``ds``, image of ``other``) file-name pairs with byte-identical contents. Only the images of
    ``other`` whose size matches one of ``ds`` are hashed: a test set of thousands costs a stat per image."""
    by_digest = {d: im.file.name for d, im in zip(digests, ds.images)}
    sizes = {os.stat(im.file).st_size for im in ds.images}
    pairs = []
    for im in other.images:
        try:
            size = os.stat(im.file).st_size
        except OSError:
            continue  # an unreadable test image fails where it is read for scoring, with its own message
        if size in sizes:
            digest = sha256_file(im.file)
            if digest in by_digest:
                pairs.append((by_digest[digest], im.file.name))
    return pairs
