"""Wan 2.1 / 2.2: text-, image- and video-to-video through diffusers' Wan pipelines.

Everything that is particular to Wan is here: which pipelines, the model cards' defaults, the
constraints read from the model's own configs (4k+1 frames from the VAE's temporal scale; sizes
a multiple of the VAE's spatial scale times the transformer's patch), the settings that do not
apply and why, the schedulers that fit flow matching, the memory terms and savers, and loading
(a diffusers folder or Hub id, or a single-file transformer with the other parts from the
matching -Diffusers repository).

Defaults (checked against the makers' configs):
- Wan2.1-T2V-1.3B: 832x480, 81 frames, 16 fps (Wan2.2 repo wan/configs/shared_config.py:
  sample_fps 16, frame_num 81; the 1.3B is a 480P model, README "t2v-1.3B --size 832*480"),
  50 steps and guidance 5.0 (the diffusers Wan documentation's example for this model).
- Wan2.2-TI2V-5B: 1280x704 (wan/configs/__init__.py SIZE_CONFIGS, "ti2v-5B"), 121 frames,
  24 fps, 50 steps, guidance 5.0 (wan/configs/wan_ti2v_5B.py).
- Wan2.2-T2V-A14B / I2V-A14B: 1280x720, 81 frames, 16 fps, 40 steps, guidance 4.0 / 3.5
  (wan/configs/wan_t2v_A14B.py, wan_i2v_A14B.py: the high-noise expert's guidance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.core.errors import InputError
from backend.core.request import FLOW_SCHEDULER_NAMES
from backend.families.base import (
    Constraints,
    FamilyDefaults,
    MemorySaver,
    MemoryTerm,
    ModelConfigs,
    ModelFamily,
)

T2V_CLASS, I2V_CLASS, V2V_CLASS = "WanPipeline", "WanImageToVideoPipeline", "WanVideoToVideoPipeline"
SCHEDULERS = FLOW_SCHEDULER_NAMES
IMAGE_MODELS = ("Wan2.2-TI2V-5B", "Wan2.1-I2V-14B-480P/720P", "Wan2.2-I2V-A14B")
# The Diffusers repository whose configs and other parts go with a single-file transformer,
# by the transformer's width and its input channels.
SINGLE_FILE_REPOS = {
    (1536, 16): "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    (5120, 16): "Wan-AI/Wan2.1-T2V-14B-Diffusers",
    (5120, 36): "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
    (3072, 48): "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
}
# Model sizes in the makers' names, by the transformer's width.
VERSIONS = {1536: "Wan 2.1 1.3B", 3072: "Wan 2.2 TI2V-5B", 5120: "Wan 14B (2.1 or 2.2 A14B)"}
# UMT5-XXL's encoder: the text encoder of every Wan model (about 5.7B parameters).
UMT5_XXL_PARAMETERS = 5_680_000_000
TEXT_TOKENS = 512  # the pipelines' max_sequence_length


class WanFamily(ModelFamily):
    name = "wan"
    label = "Wan"
    class_names = (T2V_CLASS, I2V_CLASS, V2V_CLASS)
    pipelines = {"text2video": T2V_CLASS, "video2video": V2V_CLASS, "image2video": I2V_CLASS}
    parts = ("text_encoder", "tokenizer", "transformer", "vae", "scheduler")
    unsupported = {
        "model.motion_adapter": "Wan makes its own motion; a motion adapter is for Stable Diffusion 1.5 models",
        "model.motion_loras": "motion LoRAs are for AnimateDiff's motion modules; give a Wan "
                              "LoRA with --lora",
        "free_init_iters": "FreeInit is built into AnimateDiff's pipelines only",
        "context_length": "FreeNoise context windows work on AnimateDiff's motion modules only",
        "prompt_travel": "prompt travel runs through FreeNoise, which Wan's pipelines do not have",
        "clip_skip": "Wan's text encoder is UMT5, not CLIP",
        "freeu": "FreeU re-weights a UNet's features; Wan has a transformer",
        "model.embeddings": "textual-inversion embeddings are for CLIP text encoders; Wan uses UMT5",
        "model.compile_unet": "Wan has a transformer, not a UNet",
        "model.channels_last": "Wan has a transformer, not a UNet",
        "preset": "the quality presets are AnimateDiff recipes (motion modules and their LoRAs); "
                  "no few-step LoRA with a permissive licence exists for Wan2.1-1.3B or "
                  "Wan2.2-TI2V-5B yet",
        "controls": "ControlNets are made for Stable Diffusion 1.5's UNet",
        "sparse_control": "SparseCtrl works with AnimateDiff's motion modules only",
        "keyframes": "keyframes go through SparseCtrl, an AnimateDiff model; give Wan a start "
                     "image instead",
        "ip_adapter": "IP-Adapter is made for Stable Diffusion 1.5's UNet",
    }
    # Cheapest first, as the memory plan takes them.
    memory_savers = (
        MemorySaver("text_encoder_cpu", "the text encoder on the CPU (run once per prompt)",
                    changes_frames="the prompt is encoded on the CPU, whose last bits can differ "
                    "from the GPU's", accelerator_only=True),
        MemorySaver("model_offload", "model CPU offload", accelerator_only=True),
        MemorySaver("group_offload", "group offloading (leaf level, with CUDA streams)",
                    accelerator_only=True, replaces="model_offload"),
        MemorySaver("vae_tiling", "VAE tiling",
                    changes_frames="tiles are blended, so pixels change slightly"),
        MemorySaver("fp8_layerwise", "fp8 layerwise casting of the transformer",
                    changes_frames="the transformer's weights are stored in 8 bits, so the "
                    "frames change", accelerator_only=True),
    )
    schedulers = SCHEDULERS
    # "sequential" (one layer at a time) is leaf-level group offloading for Wan, streamed.
    offload_savers = {"model": "model_offload", "sequential": "group_offload"}
    default_scheduler = "model_default"
    image_models = ", ".join(IMAGE_MODELS)

    # Recognising a model ---------------------------------------------------------------

    def matches_header(self, keys: list[str]) -> bool:
        """Wan transformer files: the makers' and ComfyUI's names (blocks.N.self_attn,
        head.modulation, maybe under model.diffusion_model.) or diffusers' (condition_embedder)."""
        for key in keys:
            bare = key.removeprefix("model.diffusion_model.").removeprefix("diffusion_model.")
            if bare.startswith(("blocks.0.self_attn.", "condition_embedder.", "head.modulation")):
                return True
        return False

    def configs(self, folder: str | Path) -> ModelConfigs:
        names = self.parts + ("transformer_2", "image_encoder")
        return ModelConfigs.from_folder(folder, names)

    def check_parts(self, folder: str | Path, label: str) -> None:
        configs = self.configs(folder)
        folder = Path(folder)
        extra = [name for name in ("transformer_2", "image_encoder", "image_processor")
                 if _declared(configs, name)]
        missing = [part for part in self.parts + tuple(extra) if not (folder / part).is_dir()]
        if missing:
            raise InputError(
                f"base model {label!r} is a Wan model with parts missing: {', '.join(missing)}; "
                "download the whole model folder again"
            )

    # What the model in hand takes --------------------------------------------------------

    def constraints(self, configs: ModelConfigs) -> Constraints:
        vae = configs.component("vae")
        temporal = vae.get("scale_factor_temporal") or 2 ** sum(
            bool(d) for d in vae.get("temperal_downsample", [False, True, True]))
        spatial = vae.get("scale_factor_spatial") or 8
        patch = configs.component("transformer").get("patch_size") or [1, 2, 2]
        return Constraints(frame_step=int(temporal), frame_offset=1,
                           size_multiple=int(spatial) * int(patch[1]))

    def modes(self, configs: ModelConfigs) -> tuple[str, ...]:
        if configs.class_name == I2V_CLASS:
            return ("image2video",)
        if configs.index.get("expand_timesteps"):
            return ("text2video", "image2video")
        if _declared(configs, "transformer_2"):
            return ("text2video",)
        return ("text2video", "video2video")

    def defaults(self, configs: ModelConfigs) -> FamilyDefaults:
        width = _width(configs)
        two_experts = _declared(configs, "transformer_2")
        if width and width < 256:  # a tiny random model (the demo): small and quick
            return FamilyDefaults(64, 64, 9, 16, 4, 5.0, "tiny demo model")
        if configs.index.get("expand_timesteps"):
            return FamilyDefaults(1280, 704, 121, 24, 50, 5.0, "Wan2.2-TI2V-5B")
        if two_experts:
            guidance = 3.5 if configs.class_name == I2V_CLASS else 4.0
            return FamilyDefaults(1280, 720, 81, 16, 40, guidance, "Wan2.2-A14B")
        if width and width >= 5120:
            return FamilyDefaults(1280, 720, 81, 16, 50, 5.0, "Wan2.1-14B")
        return FamilyDefaults(832, 480, 81, 16, 50, 5.0, "Wan2.1-T2V-1.3B")

    def native_sizes(self, configs: ModelConfigs) -> tuple[tuple[int, int], ...]:
        """The sizes the makers trained at: the default and its portrait; the 14B models also
        at 480P (832x480)."""
        sizes = list(super().native_sizes(configs))
        if (_width(configs) or 0) >= 5120:
            sizes += [(832, 480), (480, 832)]
        return tuple(sizes)

    def scheduler_refusal(self, name: str) -> str:
        return (f"scheduler {name} is a Stable Diffusion scheduler; Wan models use flow "
                f"matching: choose {', '.join(SCHEDULERS)}")

    def mode_refusal(self, mode: str, configs: ModelConfigs) -> str:
        if mode == "image2video":
            return ("this Wan model makes video from text only; a start image (--image) needs "
                    f"{self.image_models}")
        if configs.class_name == I2V_CLASS:
            return "this Wan model is image-to-video: give a start image (--image)"
        if mode == "video2video":
            return ("video-to-video runs on Wan 2.1 text-to-video models (diffusers has no "
                    "video-to-video pipeline for Wan 2.2's models)")
        return f"this Wan model cannot run {mode}"

    # Loading ---------------------------------------------------------------------------

    def load(self, location: str, dtype, *, transformer_file: str | None = None,
             use_safetensors: bool | None = True):
        """The pipeline of the model's own class (model_index.json), every part loaded; with
        `transformer_file`, that single file's transformer and the other parts from
        `location` (the matching -Diffusers repository)."""
        from diffusers import DiffusionPipeline, WanTransformer3DModel

        parts: dict[str, Any] = {}
        if transformer_file is not None:
            parts["transformer"] = WanTransformer3DModel.from_single_file(
                transformer_file, config=location, subfolder="transformer", torch_dtype=dtype)
        pipe = DiffusionPipeline.from_pretrained(location, dtype=dtype,
                                                 use_safetensors=use_safetensors, **parts)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def single_file_repo(self, path: str) -> str:
        """The -Diffusers repository matching a single-file transformer, from its shapes."""
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            shapes = {key.removeprefix("model.diffusion_model.").removeprefix("diffusion_model."):
                      handle.get_slice(key).get_shape() for key in handle.keys()}
        embed = shapes.get("patch_embedding.weight")
        if embed is None:
            raise InputError(f"base model {path!r} is not a Wan transformer file")
        key = (embed[0], embed[1])
        if key not in SINGLE_FILE_REPOS:
            raise InputError(f"base model {path!r}: a Wan transformer of width {key[0]} with "
                             f"{key[1]} input channels is not one this program knows")
        return SINGLE_FILE_REPOS[key]

    def pipeline_for(self, pipe, mode: str):
        """The pipeline for `mode` on the loaded parts (diffusers' from_pipe shares them)."""
        import diffusers

        wanted = self.pipelines[mode]
        if type(pipe).__name__ == wanted:
            return pipe
        other = getattr(diffusers, wanted).from_pipe(pipe)
        other.set_progress_bar_config(disable=True)
        return other

    def build_scheduler(self, name: str, config: dict[str, Any]):
        """The model's own scheduler, or UniPC / Euler set for flow matching with the model's
        shift."""
        import diffusers

        if name == "model_default":
            return getattr(diffusers, config["_class_name"]).from_config(config)
        shift = config.get("flow_shift") or config.get("shift") or 3.0
        if name == "unipc_flow":
            return diffusers.UniPCMultistepScheduler.from_config(
                config, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)
        if name == "euler_flow":
            return diffusers.FlowMatchEulerDiscreteScheduler(
                num_train_timesteps=config.get("num_train_timesteps", 1000), shift=shift)
        raise InputError(f"scheduler {name} does not fit Wan models; choose {', '.join(SCHEDULERS)}")

    def place(self, pipe, device: str, active: frozenset[str]) -> None:
        """Put the loaded pipeline where it runs with the memory savers in `active` (names of
        `memory_savers`) on; on the CPU only VAE tiling means anything."""
        import torch

        if "vae_tiling" in active:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()
        if device == "cpu":
            return
        keep_text_on_cpu = "text_encoder_cpu" in active
        if "fp8_layerwise" in active:
            for transformer in _transformers(pipe):
                transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                                     compute_dtype=transformer.dtype)
        if "group_offload" in active:
            # Excluded parts are put on the GPU by diffusers; the text encoder then goes back.
            pipe.enable_group_offload(onload_device=torch.device(device),
                                      offload_type="leaf_level", use_stream=True,
                                      exclude_modules=["text_encoder"])
        elif "model_offload" in active:
            # diffusers' own list of the parts that model offloading leaves alone.
            pipe._exclude_from_cpu_offload = ["text_encoder"] if keep_text_on_cpu else []
            pipe.enable_model_cpu_offload(device=device)
        else:
            for name, component in pipe.components.items():
                if isinstance(component, torch.nn.Module) and name != "text_encoder":
                    component.to(device)
        if "model_offload" not in active or "group_offload" in active or keep_text_on_cpu:
            pipe.text_encoder.to("cpu" if keep_text_on_cpu else device)

    def encode_prompt(self, pipe, request, device: str) -> dict[str, Any]:
        """The prompt's embeddings made by the text encoder where it is (the CPU when the
        `text_encoder_cpu` saver keeps it there), moved to `device`: the pipeline then never
        runs the text encoder itself."""
        import torch

        where = pipe.text_encoder.device
        with torch.no_grad():
            positive, negative = pipe.encode_prompt(
                prompt=request.prompt, negative_prompt=request.negative_prompt or None,
                do_classifier_free_guidance=request.guidance > 1.0, device=where,
                max_sequence_length=TEXT_TOKENS)  # the pipelines' call uses 512, encode_prompt 226
        embeds = {"prompt_embeds": positive.to(device)}
        if negative is not None:
            embeds["negative_prompt_embeds"] = negative.to(device)
        return embeds

    def configure(self, pipe, request, configs: ModelConfigs, loras,
                  scheduler_config: dict[str, Any], active: frozenset[str] = frozenset()) -> None:
        """Set every per-job option on the (possibly reused) pipeline: the scheduler (from the
        model's own config as loaded), exactly `loras` (resolved local files or folders, with
        weights), VAE tiling (the user's or the memory plan's: `active` savers)."""
        pipe.scheduler = self.build_scheduler(request.scheduler, scheduler_config)
        self.apply_loras(pipe, loras, configs)
        if request.model.vae_tiling or "vae_tiling" in active:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()

    def call_arguments(self, request, mode: str, video=None, image=None) -> dict[str, Any]:
        """The keyword arguments of the diffusers call, as the documentation's examples write
        them (seeded on the CPU)."""
        import torch

        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "height": request.height,
            "width": request.width,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "generator": torch.Generator("cpu").manual_seed(request.seed),
            "output_type": "np",
        }
        if mode == "video2video":
            kwargs.update(video=video, strength=request.strength)
        else:
            kwargs["num_frames"] = request.frames
        if mode == "image2video":
            kwargs["image"] = image
        return kwargs

    # LoRAs -----------------------------------------------------------------------------

    def check_lora(self, path: str, configs: ModelConfigs, label: str) -> None:
        """Refuse a LoRA made for another family or another Wan size, naming what it was made
        for, from its header alone (nothing is loaded half-way)."""
        keys_shapes = _header_shapes(path)
        if not keys_shapes:
            raise InputError(f"LoRA {label!r} is not a readable .safetensors file")
        names = list(keys_shapes)
        if any("lora_unet_" in k or ".down_blocks." in k or "unet." in k for k in names):
            raise InputError(f"LoRA {label!r} was made for Stable Diffusion (a UNet LoRA), "
                             "not for Wan")
        lora_width = _lora_width(keys_shapes)
        width = _width(configs)
        if lora_width is None:
            raise InputError(f"LoRA {label!r} has no Wan transformer layers")
        if width and lora_width != width:
            made_for = VERSIONS.get(lora_width, f"a Wan model of width {lora_width}")
            this = VERSIONS.get(width, f"a Wan model of width {width}")
            raise InputError(f"LoRA {label!r} was made for {made_for}; this model is {this}")

    def apply_loras(self, pipe, loras, configs: ModelConfigs) -> None:
        """Make exactly `loras` (local .safetensors files or LoRA folders, with weights) active
        through diffusers' Wan LoRA loader, which converts the common formats. Each is checked
        against the model first, so a LoRA for another model is refused before any is loaded."""
        files = {lora_name(lora.source): (lora_file(lora.source), lora) for lora in loras}
        for path, lora in files.values():
            self.check_lora(path, configs, lora.source)
        loaded = {name for names in pipe.get_list_adapters().values() for name in names}
        stale = sorted(loaded - set(files))
        if stale:
            pipe.delete_adapters(stale)
        for name, (path, _lora) in files.items():
            if name not in loaded:
                pipe.load_lora_weights(str(Path(path).parent), weight_name=Path(path).name,
                                       adapter_name=name)
        if files:
            pipe.set_adapters(list(files), adapter_weights=[lora.weight for _, lora in
                                                            files.values()])

    # Memory ----------------------------------------------------------------------------

    def memory_terms(self, configs: ModelConfigs, request, element_size: int,
                     weights: dict[str, int] | None = None) -> list[MemoryTerm]:
        """The estimate's Wan terms: the text encoder (UMT5-XXL's size unless its weights are
        counted on disk), the transformer or both experts, the VAE, and the working memory of
        denoising (the transformer's tokens) and of decoding every frame."""
        weights = weights or {}
        transformer = configs.component("transformer")
        width = _width(configs) or 1536
        layers = transformer.get("num_layers", 30)
        ffn = transformer.get("ffn_dim", 8960)
        per_layer = 4 * width * width * 2 + 2 * width * ffn  # self- and cross-attention, FFN
        experts = 2 if _declared(configs, "transformer_2") else 1
        terms = [
            MemoryTerm("text_encoder", weights.get("text_encoder",
                       UMT5_XXL_PARAMETERS * element_size), "weights"),
            MemoryTerm("transformer", weights.get("transformer",
                       experts * layers * per_layer * element_size), "weights"),
            MemoryTerm("vae", weights.get("vae", 127_000_000 * element_size // 2), "weights"),
        ]
        limits = self.constraints(configs)
        latent_frames = (request.frames - 1) // limits.frame_step + 1
        tokens = latent_frames * (request.height // limits.size_multiple) * (
            request.width // limits.size_multiple)
        batch = 2 if request.guidance > 1.0 else 1
        # Activations of one block at a time: the hidden states, q/k/v and the FFN's width.
        terms.append(MemoryTerm("denoise", tokens * batch * (6 * width + ffn) * element_size,
                                "denoise"))
        # The causal VAE decodes the whole clip; its widest layer holds ~ 384 channels per
        # output pixel per frame at 2.1's 96 base width (measured scale, see README's Wan part).
        base = configs.component("vae").get("decoder_base_dim") or configs.component("vae").get(
            "base_dim", 96)
        terms.append(MemoryTerm("decode", 4 * base * request.height * request.width
                                * request.frames * element_size // 4, "decode"))
        return terms


def lora_file(source: str) -> str:
    """The weights file of a LoRA given as a file or as a folder holding one."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        if len(found) != 1:
            raise InputError(f"LoRA folder {source!r} must hold exactly one .safetensors file")
        return str(found[0])
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"LoRA {source!r} is not a .safetensors file; pickle files (.bin, .pt, "
                         ".ckpt) can run code when loaded and are not read for Wan")
    return str(path)


def lora_name(source: str) -> str:
    """A PEFT adapter name for a LoRA: unique per source, no dots."""
    import hashlib

    return "wan_lora_" + hashlib.sha1(source.encode("utf-8")).hexdigest()[:12]


def _transformers(pipe) -> list:
    return [part for part in (pipe.transformer, getattr(pipe, "transformer_2", None))
            if part is not None]


def _declared(configs: ModelConfigs, name: str) -> bool:
    entry = configs.index.get(name)
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None


def _width(configs: ModelConfigs) -> int | None:
    transformer = configs.component("transformer")
    heads, head_dim = transformer.get("num_attention_heads"), transformer.get("attention_head_dim")
    return heads * head_dim if heads and head_dim else None


def _header_shapes(path: str) -> dict[str, list[int]]:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as handle:
            return {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception:  # noqa: BLE001 - safetensors raises its own error type
        return {}


def _lora_width(shapes: dict[str, list[int]]) -> int | None:
    """The transformer width a LoRA was made for: the input size of a down (A) matrix on a
    block's self-attention query, in diffusers' names (attn1.to_q) or the makers' (self_attn.q)."""
    for key, shape in shapes.items():
        if ".blocks." not in f".{key}" or len(shape) != 2:
            continue
        if ("attn1.to_q." in key or "self_attn.q." in key) and ("lora_A" in key or "lora_down" in key):
            return shape[1]
    return None
