"""A single-file ControlNet in the v1.1 layout (`control_v11p_sd15_canny.safetensors`, keys under
`control_model.`, as lllyasviel's files and ComfyUI users keep them) gives the same frames as
the plain diffusers pipeline with the same weights in a diffusers folder.

The file is written from the tiny ControlNet by the inverse of diffusers' own key conversion,
checked against that conversion. diffusers takes a single file's config from the Hub repository
it infers (lllyasviel/control_v11p_sd15_canny); offline, that comes from a Hub cache holding the
tiny model's config under that name, as a user's cache holds the real one.
"""

from __future__ import annotations

import numpy as np
import pytest

from backend.cli.commands import main as cli_main
from tests.backend import reference_guided
from tests.backend.test_guided_reference import CALL, NEGATIVE, PROMPT, guided_files, pil_frames  # noqa: F401
from tests.backend.test_reference import common_args, read_png_folder
from tests.hub_cache import put_in_cache

INFERRED_REPO = "lllyasviel/control_v11p_sd15_canny"  # what diffusers infers for an SD1.5 ControlNet
RESNET_NAMES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
                "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
         "conv_in": "input_blocks.0.0", "controlnet_cond_embedding.conv_in": "input_hint_block.0",
         "controlnet_cond_embedding.conv_out": "input_hint_block.14", "controlnet_mid_block": "middle_block_out.0"}


def ldm_key(key: str, layers_per_block: int) -> str:
    """One diffusers ControlNet key in the original (ldm) layout."""
    module, _, leaf = key.rpartition(".")
    if module in FIXED:
        return f"{FIXED[module]}.{leaf}"
    parts = key.split(".")
    if parts[0] == "controlnet_down_blocks":
        return f"zero_convs.{parts[1]}.0.{leaf}"
    if parts[0] == "controlnet_cond_embedding":  # blocks.N
        return f"input_hint_block.{2 * (int(parts[2]) + 1)}.{leaf}"
    if parts[0] == "down_blocks":
        block, kind = int(parts[1]), parts[2]
        first = 1 + block * (layers_per_block + 1)
        if kind == "downsamplers":
            return f"input_blocks.{first + layers_per_block}.0.op.{leaf}"
        index, rest = first + int(parts[3]), parts[4:]
        if kind == "resnets":
            return f"input_blocks.{index}.0.{RESNET_NAMES[rest[0]]}.{'.'.join(rest[1:])}"
        return f"input_blocks.{index}.1.{'.'.join(rest)}"
    if parts[0] == "mid_block":
        kind, number, rest = parts[1], int(parts[2]), parts[3:]
        if kind == "resnets":
            return f"middle_block.{2 * number}.{RESNET_NAMES[rest[0]]}.{'.'.join(rest[1:])}"
        return f"middle_block.1.{'.'.join(rest)}"
    raise AssertionError(f"no ldm name for {key}")


@pytest.fixture(scope="module")
def single_file_controlnet(guided_files, tmp_path_factory):  # noqa: F811
    """(the v1.1-layout file, a Hub cache with the inferred repository's config)."""
    import torch
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("single-file")
    model = ControlNetModel.from_pretrained(guided_files.controlnet)
    state = model.state_dict()
    config = dict(model.config)
    ldm = {f"control_model.{ldm_key(k, config['layers_per_block'])}": v.contiguous() for k, v in state.items()}
    # The inverse is right when diffusers' own conversion gives the model's state back.
    back = convert_controlnet_checkpoint(ldm, config)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    path = folder / "control_v11p_sd15_canny.safetensors"
    save_file(ldm, str(path))

    cache = folder / "hub"
    config = (guided_files.controlnet / "config.json").read_text()
    put_in_cache(cache, INFERRED_REPO, lambda snapshot: (snapshot / "config.json").write_text(config))
    return path, cache


def test_single_file_controlnet_matches_its_diffusers_folder(demo_models, guided_files, clip_folder,  # noqa: F811
                                                            clip_frames, single_file_controlnet, tmp_path,
                                                            monkeypatch):
    from huggingface_hub import constants

    path, cache = single_file_controlnet
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    out = tmp_path / "frames"
    args = ["generate", "--control", f"model={path},source={clip_folder},weight=0.8",
            "--prompt", PROMPT, "--output", str(out), *common_args(demo_models)]
    args[args.index("--steps") + 1] = "3"
    assert cli_main(args) == 0
    expected = reference_guided.controlnet_text2video(
        demo_models.base, demo_models.motion_adapter, [guided_files.controlnet],
        [pil_frames(clip_frames)], PROMPT, NEGATIVE, 42, num_frames=len(clip_frames),
        controlnet_conditioning_scale=0.8, **CALL,
    )
    assert np.array_equal(read_png_folder(out), expected)


def test_single_file_controlnet_offline_without_its_config(demo_models, clip_folder, single_file_controlnet,
                                                           tmp_path, monkeypatch, capsys):
    """Offline with nothing cached: exit 2, naming the repository whose config it needs."""
    from huggingface_hub import constants

    path, _cache = single_file_controlnet
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    out = tmp_path / "frames"
    args = ["generate", "--control", f"model={path},source={clip_folder}",
            "--prompt", PROMPT, "--output", str(out), *common_args(demo_models)]
    assert cli_main(args) == 2
    error = capsys.readouterr().err
    assert INFERRED_REPO in error and "connect to the internet once" in error
    assert not out.exists()
