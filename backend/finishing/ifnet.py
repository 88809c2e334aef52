"""RIFE's IFNet as in Practical-RIFE v4.25 / v4.26 (`IFNet_HDv3`), in our own code.

The network estimates two flows (to each input frame) and a blend mask for a time t in (0, 1),
coarse to fine over five blocks that work at 1/16 ... 1/1 of the frame (times 1/scale). Each
block refines the previous flow from the frames and a small learned feature of each frame, both
warped by that flow. The parameter names follow the official `flownet.pkl` key for key (without
its `module.` prefix) so the released weights load as they are.

Upstream: https://github.com/hzwer/Practical-RIFE (MIT), by Zhewei Huang et al.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Channels of the five blocks, coarsest first, and the factor each works below full size.
BLOCK_WIDTHS = (192, 128, 96, 64, 32)
BLOCK_SCALES = (16, 8, 4, 2, 1)
# What a block hands the next besides flow and mask (its last convolution gives 4 + 1 + 8).
CARRIED_FEATURES = 8
FLOW_MASK_FEATURES = 4 + 1 + CARRIED_FEATURES
# Feature channels of each frame's encoder: 4 in v4.25/v4.26, 16 in their "heavy" variants.
ENCODER_CHANNELS = (4, 16)
LEAK = 0.2


def _leaky_conv(channels_in: int, channels_out: int) -> nn.Sequential:
    """A stride-2 3x3 convolution with a leaky ReLU (`conv0.N.0` in the weights)."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1),
        nn.LeakyReLU(LEAK, inplace=True),
    )


class FrameEncoder(nn.Module):
    """A half-size pass and back to full size: a few channels describing each frame ("encode")."""

    def __init__(self, channels: int = 4, hidden: int = 16) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, hidden, 3, stride=2, padding=1)
        self.cnn1 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.cnn2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.cnn3 = nn.ConvTranspose2d(hidden, channels, 4, stride=2, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for layer in (self.cnn0, self.cnn1, self.cnn2):
            x = F.leaky_relu(layer(x), LEAK)
        return self.cnn3(x)


class ScaledResidual(nn.Module):
    """x + beta * conv(x), then a leaky ReLU; beta is learned per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, LEAK)


class FlowBlock(nn.Module):
    """One level: from its inputs at 1/`scale` size, a flow update, a mask and carried features."""

    def __init__(self, channels_in: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_leaky_conv(channels_in, width // 2), _leaky_conv(width // 2, width))
        self.convblock = nn.Sequential(*(ScaledResidual(width) for _ in range(8)))
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(width, 4 * FLOW_MASK_FEATURES, 4, stride=2, padding=1),
            nn.PixelShuffle(2),
        )

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            small = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
            x = torch.cat((x, small / scale), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `image` at each pixel moved by `flow` (in pixels), edges repeated."""
    batch, _, height, width = flow.shape
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device, dtype=flow.dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device, dtype=flow.dtype)
    base = torch.stack(
        (xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width))
    )
    # Pixels to grid units: the grid spans (size - 1) pixels over a length of 2.
    moved = torch.stack(
        (flow[:, 0] / ((image.shape[3] - 1.0) / 2.0), flow[:, 1] / ((image.shape[2] - 1.0) / 2.0)), 1
    )
    grid = (base.unsqueeze(0) + moved).permute(0, 2, 3, 1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """The v4.25/v4.26 flow network. `forward` takes two frames in [0, 1] (N, 3, H, W), H and W
    multiples of 128/scale (see `padding_multiple`), and t as a number or an (N, 1, H, W) tensor."""

    def __init__(self, encoder_channels: int = 4) -> None:
        super().__init__()
        frames_in = 3 + 3 + 2 * encoder_channels + 1  # both frames, their features, t
        later_in = frames_in + 1 + CARRIED_FEATURES + 4  # + mask, carried features, flow
        for index, width in enumerate(BLOCK_WIDTHS):
            setattr(self, f"block{index}", FlowBlock(frames_in if index == 0 else later_in, width))
        self.encode = FrameEncoder(encoder_channels)

    @property
    def blocks(self) -> list[FlowBlock]:
        return [getattr(self, f"block{index}") for index in range(len(BLOCK_WIDTHS))]

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """The encoder's features of frames; computed once per frame and passed to `forward`."""
        return self.encode(frames)

    def forward(
        self,
        frame0: torch.Tensor,
        frame1: torch.Tensor,
        t: float | torch.Tensor = 0.5,
        scale: float = 1.0,
        features0: torch.Tensor | None = None,
        features1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not torch.is_tensor(t):
            t = torch.full_like(frame0[:, :1], float(t))
        f0 = self.features(frame0) if features0 is None else features0
        f1 = self.features(frame1) if features1 is None else features1
        flow = mask = carried = None
        seen0, seen1 = frame0, frame1
        for block, level in zip(self.blocks, BLOCK_SCALES, strict=True):
            if flow is None:
                flow, mask, carried = block(torch.cat((frame0, frame1, f0, f1, t), 1), None, level / scale)
            else:
                inputs = (
                    seen0,
                    seen1,
                    backward_warp(f0, flow[:, :2]),
                    backward_warp(f1, flow[:, 2:4]),
                    t,
                    mask,
                    carried,
                )
                update, mask, carried = block(torch.cat(inputs, 1), flow, level / scale)
                flow = flow + update
            seen0 = backward_warp(frame0, flow[:, :2])
            seen1 = backward_warp(frame1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return seen0 * weight + seen1 * (1 - weight)


def padding_multiple(scale: float) -> int:
    """What the frame sides are padded up to a multiple of, as Practical-RIFE's inference does."""
    return max(128, int(128 / scale))
