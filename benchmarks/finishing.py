"""Frames per second of finishing at 512x512: 2x RIFE interpolation and 2x upscaling.

Each runs through the app (backend/finishing) and through a bare baseline on the same weights
in the same process, alternating, so machine load hits both alike:
- interpolation: a bare loop over the same IFNet (pad, t = 1/2, forward, crop), the frames
  converted once each way;
- upscaling: spandrel's own model call on each frame (a 512x512 frame is one tile).
The goal is a ratio (app time / baseline time) of at most 1.05 for both. Random weights of the
real architectures (RIFE v4.26; Real-ESRGAN's compact x2 with 64 channels and 16 convolutions,
the shape of realesr-general-x4v3): speed does not depend on the values.

    python benchmarks/finishing.py [--frames 4] [--runs 3] [--device cpu]
    python benchmarks/finishing.py --device cuda --frames 16 --runs 5     # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from backend.finishing.ifnet import IFNet, padding_multiple  # noqa: E402
from backend.finishing.interpolate import interpolate_frames  # noqa: E402
from backend.finishing.upscale import Upscaler, upscale_frames  # noqa: E402


def bare_interpolation(frames: np.ndarray, net: IFNet, device: str) -> list[np.ndarray]:
    h, w = frames.shape[1:3]
    m = padding_multiple(1.0)
    pad = (0, -(-w // m) * m - w, 0, -(-h // m) * m - h)
    tensors = [torch.nn.functional.pad(
        torch.from_numpy(f).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0, pad)
        for f in frames]
    out = [frames[0]]
    with torch.inference_mode():
        for index in range(1, len(tensors)):
            mid = net(tensors[index - 1], tensors[index], 0.5)
            out.append((mid[0, :, :h, :w].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy())
            out.append(frames[index])
    return out


def bare_upscale(frames: np.ndarray, model, device: str) -> list[np.ndarray]:
    out = []
    for frame in frames:
        image = torch.from_numpy(frame).to(device).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        result = model(image)
        out.append((result[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy())
    return out


def timed(work) -> float:
    start = time.perf_counter()
    work()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(name: str, app, bare, frames_out: int, runs: int) -> float:
    app(), bare()  # warm up
    app_times, bare_times = [], []
    for _ in range(runs):
        app_times.append(timed(app))
        bare_times.append(timed(bare))
    a, b = statistics.median(app_times), statistics.median(bare_times)
    print(f"{name}: app {frames_out / a:.2f} frames/s, baseline {frames_out / b:.2f} frames/s, "
          f"ratio {a / b:.3f} (goal <= 1.05)")
    return a / b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from backend.finishing.spandrel_import import import_spandrel

    spandrel = import_spandrel()
    from spandrel.architectures.Compact import Compact

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.size, args.size, 3), dtype=np.uint8)
    torch.manual_seed(0)
    net = IFNet().eval().to(args.device)
    count = 2 * args.frames - 1
    interpolation = compare(
        "2x interpolation", lambda: interpolate_frames(frames, net, 2, device=args.device),
        lambda: bare_interpolation(frames, net, args.device), count, args.runs)
    model = spandrel.ModelLoader().load_from_state_dict(
        Compact(num_feat=64, num_conv=16, upscale=2).state_dict()).eval().to(torch.device(args.device))
    upscaler = Upscaler(model, Path("random"))
    upscaling = compare(
        "2x upscaling", lambda: upscale_frames(frames, upscaler, device=args.device),
        lambda: bare_upscale(frames, model, args.device), args.frames, args.runs)
    print(f"device {args.device}; on a GPU: python benchmarks/finishing.py --device cuda "
          "--frames 16 --runs 5")
    return 0 if interpolation <= 1.05 and upscaling <= 1.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
