"""The archive-era YOLOv3 networks: Darknet-53 with the YOLOv3 or YOLOv3-SPP head, and YOLOv3-tiny.

Follows ``yolov3-classic.md`` section 1 (layers, widths, BatchNorm settings, SPP placement, concat orders),
section 2 (anchors, masks, the (B, 3, ny, nx, 5+nc) layout and sigmoid/exp decoding, no v5-style 2*sigmoid) and
section 5 (PyTorch's default init, then the output biases shifted so that objectness starts near 0.011 and each
class near 0.6/nc). The cfg's ``[net]`` hyper-parameters are not read: the training loop has its own (train.py).

Train mode returns the raw head tensors, strides 32, 16, 8 in that order; eval mode returns ``(decoded, raw)``,
``decoded`` being (B, N, 5 + nc) rows of centre-x, centre-y, w, h in input pixels, then sigmoid objectness and
class scores. Importing this module imports torch: only the backend's methods import it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ARCHS = ("yolov3", "yolov3-spp", "yolov3-tiny")

ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))
MASKS = ((6, 7, 8), (3, 4, 5), (0, 1, 2))  # strides 32, 16, 8
TINY_ANCHORS = ((10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319))
TINY_MASKS = ((3, 4, 5), (1, 2, 3))  # strides 32, 16; the cfg's own masks, which leave anchor 0 unused

OBJ_BIAS = -4.5


class Conv(nn.Sequential):
    """Darknet's conv unit: no conv bias (BatchNorm has one), BatchNorm with Darknet's momentum and epsilon."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1):
        super().__init__(
            nn.Conv2d(c1, c2, k, s, k // 2, bias=False),
            nn.BatchNorm2d(c2, momentum=0.03, eps=1e-4),
            nn.LeakyReLU(0.1, inplace=True),
        )


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.block = nn.Sequential(Conv(c, c // 2, 1), Conv(c // 2, c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)  # no activation after the sum, as Darknet's shortcut layer


class SPP(nn.Module):
    def __init__(self):
        super().__init__()
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (13, 9, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([*(p(x) for p in self.pools), x], 1)  # [mp13, mp9, mp5, x], the cfg's route order


class Decode(nn.Module):
    """One head's output: the raw map reshaped to (B, 3, ny, nx, 5+nc), and in eval mode also its decoded rows."""

    anchors: torch.Tensor
    stride: int

    def __init__(self, anchors: list[tuple[int, int]], stride: int, nc: int):
        super().__init__()
        self.stride, self.no = stride, nc + 5
        # pixels; not persistent: the architecture defines them, a checkpoint need not carry them
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32), persistent=False)

    def forward(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, _, ny, nx = p.shape
        raw = p.view(b, len(self.anchors), self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
        if self.training:
            return raw, None
        gy, gx = torch.meshgrid(
            torch.arange(ny, device=p.device, dtype=p.dtype),
            torch.arange(nx, device=p.device, dtype=p.dtype),
            indexing="ij",
        )
        grid = torch.stack((gx, gy), -1).view(1, 1, ny, nx, 2)
        wh = self.anchors.to(p.dtype).view(1, -1, 1, 1, 2)
        xy = (raw[..., :2].sigmoid() + grid) * self.stride
        out = torch.cat((xy, raw[..., 2:4].exp() * wh, raw[..., 4:].sigmoid()), -1)
        return raw, out.view(b, -1, self.no)


def _out_conv(c: int, nc: int) -> nn.Conv2d:
    """The 1x1 prediction conv, its biases set so training starts from few objects and even class scores."""
    conv = nn.Conv2d(c, 3 * (5 + nc), 1)
    with torch.no_grad():
        assert conv.bias is not None
        b = conv.bias.view(3, 5 + nc)
        b[:, 4] += OBJ_BIAS
        b[:, 5:] += math.log(0.6 / (nc - 0.99))
    return conv


def _neck(c_in: int, c: int, spp: bool = False) -> nn.Sequential:
    """Alternating 1x1 c / 3x3 2c convs ending in a 1x1 c (the map the next, finer level branches from)."""
    layers: list[nn.Module] = [Conv(c_in, c, 1), Conv(c, 2 * c, 3), Conv(2 * c, c, 1)]
    if spp:
        layers += [SPP(), Conv(4 * c, c, 1)]
    return nn.Sequential(*layers, Conv(c, 2 * c, 3), Conv(2 * c, c, 1))


class Darknet53(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Conv(3, 32, 3)
        stages, c_in = [], 32
        for c, n in zip((64, 128, 256, 512, 1024), (1, 2, 8, 8, 4)):
            stages.append(nn.Sequential(Conv(c_in, c, 3, 2), *(Residual(c) for _ in range(n))))
            c_in = c
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """C3, C4, C5 (strides 8, 16, 32)."""
        x = self.stem(x)
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return taps[2:]


def _up(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")


class YOLO(nn.Module):
    """What both networks share: the decode layers (coarsest stride first) and the train/eval output convention.
    ``features(x)`` is the backbone's stride-32 map, what ``DetectorBackend.features`` pools."""

    arch: str
    decode: nn.ModuleList

    def __init__(self, nc: int, anchors, masks, strides):
        super().__init__()
        self.nc = nc
        self.decode = nn.ModuleList(Decode([anchors[i] for i in m], s, nc) for m, s in zip(masks, strides))
        self.masks = tuple(tuple(m) for m in masks)

    def _outputs(self, maps: list[torch.Tensor]):
        pairs = [head(p) for head, p in zip(self.decode, maps)]
        raws = [raw for raw, _ in pairs]
        if self.training:
            return raws
        return torch.cat([rows for _, rows in pairs if rows is not None], 1), raws

    def heads(self) -> list[tuple[int, torch.Tensor]]:
        """(stride, anchors in pixels (3, 2)) per head, in output order: what the loss matches boxes against."""
        return [(d.stride, d.anchors) for d in self.decode if isinstance(d, Decode)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class YOLOv3(YOLO):
    """Darknet-53 with three anchor heads; ``spp`` inserts the SPP block in the stride-32 branch only."""

    def __init__(self, nc: int, spp: bool = False):
        super().__init__(nc, ANCHORS, MASKS, (32, 16, 8))
        self.arch = "yolov3-spp" if spp else "yolov3"
        self.backbone = Darknet53()
        self.neck5 = _neck(1024, 512, spp)
        self.head5 = nn.Sequential(Conv(512, 1024, 3), _out_conv(1024, nc))
        self.lateral4 = Conv(512, 256, 1)
        self.neck4 = _neck(256 + 512, 256)
        self.head4 = nn.Sequential(Conv(256, 512, 3), _out_conv(512, nc))
        self.lateral3 = Conv(256, 128, 1)
        self.neck3 = _neck(128 + 256, 128)
        self.head3 = nn.Sequential(Conv(128, 256, 3), _out_conv(256, nc))

    def forward(self, x: torch.Tensor):
        c3, c4, c5 = self.backbone(x)
        b5 = self.neck5(c5)
        b4 = self.neck4(torch.cat([_up(self.lateral4(b5)), c4], 1))  # [upsampled, tap]: the cfg's route order
        b3 = self.neck3(torch.cat([_up(self.lateral3(b4)), c3], 1))
        return self._outputs([self.head5(b5), self.head4(b4), self.head3(b3)])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[-1]


class YOLOv3Tiny(YOLO):
    def __init__(self, nc: int):
        super().__init__(nc, TINY_ANCHORS, TINY_MASKS, (32, 16))
        self.arch = "yolov3-tiny"
        layers: list[nn.Module] = []
        for c_in, c in zip((3, 16, 32, 64), (16, 32, 64, 128)):
            layers += [Conv(c_in, c, 3), nn.MaxPool2d(2, 2)]
        self.to_s16 = nn.Sequential(*layers, Conv(128, 256, 3))  # T4: the 256-map before its pool
        self.to_s32 = nn.Sequential(
            nn.MaxPool2d(2, 2),
            Conv(256, 512, 3),
            nn.ZeroPad2d((0, 1, 0, 1)),  # Darknet's size-2 stride-1 maxpool keeps the map size this way
            nn.MaxPool2d(2, 1),
            Conv(512, 1024, 3),
        )
        self.reduce5 = Conv(1024, 256, 1)  # T5
        self.head5 = nn.Sequential(Conv(256, 512, 3), _out_conv(512, nc))
        self.lateral4 = Conv(256, 128, 1)
        self.head4 = nn.Sequential(Conv(128 + 256, 256, 3), _out_conv(256, nc))

    def forward(self, x: torch.Tensor):
        t4 = self.to_s16(x)
        t5 = self.reduce5(self.to_s32(t4))
        return self._outputs([self.head5(t5), self.head4(torch.cat([_up(self.lateral4(t5)), t4], 1))])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_s32(self.to_s16(x))


def build(arch: str, nc: int) -> YOLO:
    if arch == "yolov3-tiny":
        return YOLOv3Tiny(nc)
    if arch in ("yolov3", "yolov3-spp"):
        return YOLOv3(nc, spp=arch == "yolov3-spp")
    raise ValueError(f"unknown classic YOLOv3 architecture {arch!r} (known: {', '.join(ARCHS)})")
