"""The one description of a job: `GenerationRequest` with its `ModelSpec`.

It serialises to a versioned dict. The same dict is what a project stores, what an export embeds
as metadata and what the command line prints with --json, so `from_dict` must keep reading every
version ever written: add an upgrade function to `_UPGRADES` whenever the layout changes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from backend.core.errors import InputError
from backend.core.guidance import (
    DEFAULT_IP_ADAPTER,
    ControlSpec,
    Keyframe,
    ReferenceImage,
    SparseControl,
    check_guidance,
)

FORMAT = "animatediff-studio/generation-request"
SCHEMA_VERSION = 1

DEFAULT_BASE_MODEL = "SG161222/Realistic_Vision_V5.1_noVAE"
DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-2"

MODES = ("text2video", "video2video")
SCHEDULER_NAMES = (
    "ddim",
    "euler",
    "euler_ancestral",
    "dpmpp_2m",
    "dpmpp_2m_karras",
    "lcm",
    "pndm",
    # The distilled models' own recipes (backend/core/presets.py), built exactly as their
    # documentation builds them from the base model's scheduler.
    "euler_trailing",
    "lcm_linear",
)
# Flow-matching models (Wan): the model's own scheduler, or UniPC / Euler set for flow sigmas.
# Which family takes which names is the family's (backend/families).
FLOW_SCHEDULER_NAMES = ("model_default", "unipc_flow", "euler_flow")
PRESET_NAMES = ("standard", "animatelcm", "lightning")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float16", "bfloat16", "float32")
OFFLOADS = ("none", "model", "sequential")
MEMORY_MODES = ("auto", "off")
VAE_DTYPES = ("auto", "float32")
FREE_INIT_METHODS = ("butterworth", "ideal", "gaussian")

SIZE_RANGE = (64, 2048)
FRAMES_RANGE = (1, 1024)
STEPS_RANGE = (1, 500)
GUIDANCE_RANGE = (0.0, 50.0)
FPS_RANGE = (1, 120)
SEED_RANGE = (0, 2**32 - 1)  # one range everywhere: request, engine, window, command line
CLIP_SKIP_RANGE = (1, 10)
FREE_INIT_RANGE = (0, 10)
LORA_WEIGHT_RANGE = (-10.0, 10.0)
FREEU_RANGE = (0.0, 10.0)


def random_seed() -> int:
    """A fresh seed from the whole range."""
    import secrets  # here: its hashlib import is a cost the window's start need not pay

    return secrets.randbelow(SEED_RANGE[1] + 1)


def local_path_or_id(value: str) -> str:
    """An existing local path made absolute (so settings re-run from any folder); anything
    else, such as a Hub id, unchanged."""
    if not value:
        return value
    expanded = os.path.expanduser(value)
    return os.path.abspath(expanded) if os.path.exists(expanded) else value


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(f"{name} must be a number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise InputError(f"{name} must be from {low} to {high}, got {value}")


def _check_int(name: str, value: Any, bounds: tuple[int, int]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number from {bounds[0]} to {bounds[1]}, got {value!r}")
    _check_range(name, value, bounds)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class Setting:
    """One setting of a job, declared once in its dataclass field's metadata. Validation, the
    command line (backend/cli/commands.py), the form (gui/setting_widgets.py) and the metadata writer all
    read it, so they cannot drift apart.

    `label` and `help` stay plain English literals: the window translates them (context
    "Setting"); the command line prints them as they are. `name`, `path` and `default` are filled
    in from the field (see SETTINGS)."""

    label: str  # the form's label and accessible name
    help: str  # the form's tooltip and the command-line help
    flag: str | None = None  # the command-line option; None: not on the command line
    range: tuple[Any, Any] | None = None  # inclusive bounds; ints or floats, as the field
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()  # what the form shows for each choice
    term: str = ""  # its name in error messages; default: the field name with spaces
    above_low: bool = False  # the low bound itself is refused (strength 0 would do nothing)
    multiple_of: int | None = None  # also the form's step
    mode: str | None = None  # used in this mode only (validated, offered on the command line)
    upper_field: str = ""  # the high bound is this field's value; unchecked while it is None
    parts: tuple[str, ...] = ()  # a tuple of numbers, each in `range` (FreeU s1, s2, b1, b2)
    metavar: str | None = None
    repeat: bool = False  # the command-line option is given once per item
    webui: str | None = None  # its key in the AUTOMATIC1111 "parameters" text
    # The form.
    widget: str | None = None  # objectName of its widget
    part_widgets: tuple[str, ...] = ()  # objectNames of the parts' widgets
    switch: str | None = None  # objectName of a check box that turns an optional setting on
    switch_label: str = ""
    off_text: str = ""  # an optional number's extra lowest value in the form means "off"
    shown: Any = None  # what the form shows while an optional setting is off
    step: float = 1
    decimals: int = 2
    # Filled in from the field.
    name: str = ""
    path: str = ""  # "frames", or "model.device" for a ModelSpec field
    default: Any = None

    @property
    def optional(self) -> bool:
        return self.default is None

    def check(self, value: Any) -> None:
        """Raise InputError when `value` is not one this setting takes."""
        term = self.term
        if value is None and self.optional:
            return
        if self.choices:
            _check_choice(term, value, self.choices)
        elif self.parts:
            if not isinstance(value, (tuple, list)) or len(value) != len(self.parts):
                count = ("one", "two", "three", "four")[len(self.parts) - 1]
                shown = list(value) if isinstance(value, (tuple, list)) else value
                raise InputError(f"{term} needs {count} numbers {','.join(self.parts)}; got {shown}")
            for part, number in zip(self.parts, value, strict=True):
                _check_range(f"{term} {part}", number, self.range)
        elif self.range is not None:
            low, high = self.range
            (_check_int if isinstance(low, int) else _check_range)(term, value, self.range)
            if self.above_low and value <= low:
                raise InputError(f"{term} must be above {low:g} and at most {high:g}, got {value}")
            if self.multiple_of and value % self.multiple_of:
                step = self.multiple_of
                lower = max(low, value - value % step)
                raise InputError(
                    f"{term} must be a multiple of {step} (the model works on {step}x{step} "
                    f"pixel blocks); got {value}, try {lower} or {lower + step}"
                )
        elif isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise InputError(f"{term} must be true or false, got {value!r}")
        elif self.optional and hasattr(value, "validate"):
            value.validate()  # an optional item (an IP-Adapter image, a SparseCtrl model)
        elif (isinstance(self.default, str) or self.optional) and not isinstance(value, str):
            raise InputError(f"{term} must be text")


def setting(**declaration: Any) -> dict[str, Setting]:
    """Field metadata declaring a setting: `field(default=16, metadata=setting(label=...))`."""
    return {"setting": Setting(**declaration)}


@dataclass(frozen=True)
class MotionLora:
    """A motion LoRA (hub id, folder or .safetensors file) and the weight it is applied with."""

    source: str
    weight: float = 1.0

    def validate(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError("motion LoRA: the path or hub id is empty")
        _check_range(f"motion LoRA {self.source} weight", self.weight, LORA_WEIGHT_RANGE)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "weight": self.weight}

    def with_absolute_path(self) -> MotionLora:
        return dataclasses.replace(self, source=local_path_or_id(self.source))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionLora:
        return cls(source=str(data["source"]), weight=float(data.get("weight", 1.0)))


@dataclass(frozen=True)
class ImageLora(MotionLora):
    """A style or character LoRA for the UNet and text encoder (diffusers/PEFT, kohya or A1111
    file), applied with its weight alongside the motion LoRAs."""

    def validate(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError("LoRA: the path or hub id is empty")
        _check_range(f"LoRA {self.source} weight", self.weight, LORA_WEIGHT_RANGE)


@dataclass(frozen=True)
class Embedding:
    """A textual-inversion embedding file and the token that calls it in a prompt (None: the
    file's stem in angle brackets)."""

    source: str
    token: str | None = None

    @property
    def prompt_token(self) -> str:
        if self.token:
            return self.token
        return f"<{PurePath(self.source.rstrip('/')).stem}>"

    def validate(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError("embedding: the path is empty")
        if self.token is not None and (not isinstance(self.token, str) or not self.token.strip()
                                       or any(c.isspace() for c in self.token)):
            raise InputError(f"embedding {self.source}: the token must be one word, got {self.token!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "token": self.token}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Embedding:
        token = data.get("token")
        return cls(source=str(data["source"]), token=str(token) if token else None)


@dataclass(frozen=True)
class ModelSpec:
    """Which models run and how they sit in memory.

    Everything but the LoRAs and the VAE options keys the pipeline cache: LoRAs are switched and
    re-weighted on a loaded pipeline, VAE slicing/tiling are toggled per job.
    """

    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata=setting(
        label="Base model", flag="--base-model", widget="baseModelCombo", webui="Model",
        help="A Stable Diffusion 1.5-based model: a Hugging Face Hub id, a local diffusers "
        "folder, or one .safetensors checkpoint."))
    motion_adapter: str = field(default=DEFAULT_MOTION_ADAPTER, metadata=setting(
        label="Motion adapter", flag="--motion-adapter", widget="motionAdapterCombo",
        webui="Motion module",
        help="The AnimateDiff motion module that adds movement: a Hugging Face Hub id, a local "
        "folder or one motion-module file."))
    motion_loras: tuple[MotionLora, ...] = field(default=(), metadata=setting(
        label="Motion LoRAs", flag="--motion-lora", metavar="PATH_OR_ID[:WEIGHT]", repeat=True,
        widget="motionLoraTable",
        help="Motion LoRAs add a kind of camera motion (zoom, pan, tilt). Several combine, each "
        "with its weight (usually 0.5-1.0)."))
    device: str = field(default="auto", metadata=setting(
        label="Device", flag="--device", choices=DEVICES, widget="deviceCombo",
        choice_labels=("Automatic", "CPU", "CUDA", "MPS"),
        help="Where to run: auto picks a CUDA GPU, then Apple MPS, then the CPU."))
    dtype: str = field(default="auto", metadata=setting(
        label="Precision", flag="--dtype", choices=DTYPES, widget="dtypeCombo",
        choice_labels=("Automatic", "float16", "bfloat16", "float32"),
        help="Number format: auto is float16 on a GPU and float32 on the CPU. bfloat16 suits "
        "recent GPUs."))
    offload: str = field(default="none", metadata=setting(
        label="CPU offload", flag="--offload", choices=OFFLOADS, widget="offloadCombo",
        choice_labels=("None", "Model", "Sequential"),
        help="Keep parts of the model in CPU memory: 'model' saves a lot of GPU memory at a small "
        "cost; 'sequential' saves the most and is slowest."))
    vae_slicing: bool = field(default=True, metadata=setting(
        label="VAE slicing", flag="--vae-slicing", widget="vaeSlicingCheck",
        help="Decode frames in slices to save memory (changes a few pixels by one level)."))
    vae_tiling: bool = field(default=False, metadata=setting(
        label="VAE tiling", flag="--vae-tiling", widget="vaeTilingCheck",
        help="Decode in tiles: needed for large sizes on small GPUs."))
    memory: str = field(default="auto", metadata=setting(
        label="Memory plan", flag="--memory", choices=MEMORY_MODES, widget="memoryCombo",
        choice_labels=("Automatic", "Off"),
        help="auto: before each job, turn on the memory savers it needs to fit the device's free "
        "memory (chunked decoding, split inference, VAE tiling, offload), and retry once with "
        "the next one after running out of memory. off: only your own switches."))
    vae_dtype: str = field(default="auto", metadata=setting(
        label="VAE precision", flag="--vae-dtype", choices=VAE_DTYPES, widget="vaeDtypeCombo",
        choice_labels=("Automatic", "float32"),
        help="float32 decodes in full precision, the fix for black or NaN frames from a float16 "
        "VAE; auto does so when the VAE's configuration asks for it (force_upcast)."))
    allow_pickle: bool = field(default=False, metadata=setting(
        label="Allow pickle weights", flag="--allow-pickle",
        help="Allow .ckpt/.bin/.pt weights, which can run code when they load."))
    # Image LoRAs and textual-inversion embeddings: switched on the loaded pipeline, like
    # motion LoRAs, so they are not part of the cache key.
    loras: tuple[ImageLora, ...] = field(default=(), metadata=setting(
        label="LoRAs", flag="--lora", metavar="PATH[:WEIGHT]", repeat=True,
        widget="imageLoraTable",
        help="Style and character LoRAs for Stable Diffusion 1.5 (diffusers, kohya or A1111 "
        ".safetensors), each with its weight; they combine with the motion LoRAs."))
    embeddings: tuple[Embedding, ...] = field(default=(), metadata=setting(
        label="Embeddings", flag="--embedding", metavar="PATH[:TOKEN]", repeat=True,
        widget="embeddingTable",
        help="Textual-inversion embeddings (e.g. negative embeddings): write the token in the "
        "prompt or negative prompt. Without a token it is <file name>."))
    # Speed options (backend/models/speed.py). Compiling is slow to start, so it keys the cache.
    channels_last: bool = field(default=False, metadata=setting(
        label="Channels last", flag="--channels-last", widget="channelsLastCheck",
        help="Store the UNet's weights in channels-last order: often faster on NVIDIA GPUs (see "
        "the README's benchmark); may change a few pixels by one level."))
    compile_unet: bool = field(default=False, metadata=setting(
        label="Compile UNet", flag="--compile-unet", widget="compileUnetCheck",
        help="torch.compile the UNet: the first job takes minutes longer, later jobs with the "
        "same models run faster."))

    def validate(self) -> None:
        for name in ("base_model", "motion_adapter"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{name.replace('_', ' ')}: the path or hub id is empty")
        for declared in MODEL_SETTINGS.values():
            declared.check(getattr(self, declared.name))
        for item in (*self.motion_loras, *self.loras, *self.embeddings):
            item.validate()
        tokens = [embedding.prompt_token for embedding in self.embeddings]
        for token in tokens:
            if tokens.count(token) > 1:
                raise InputError(f"two embeddings use the token {token}; give one another with PATH:TOKEN")

    def with_absolute_paths(self) -> ModelSpec:
        """Local model paths made absolute; Hub ids stay ids."""
        return dataclasses.replace(
            self,
            base_model=local_path_or_id(self.base_model),
            motion_adapter=local_path_or_id(self.motion_adapter),
            motion_loras=tuple(lora.with_absolute_path() for lora in self.motion_loras),
            loras=tuple(lora.with_absolute_path() for lora in self.loras),
            embeddings=tuple(dataclasses.replace(e, source=local_path_or_id(e.source))
                             for e in self.embeddings),
        )

    def cache_key(self) -> tuple:
        return (
            self.base_model,
            self.motion_adapter,
            self.device,
            self.dtype,
            self.offload,
            self.allow_pickle,
            self.compile_unet,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["motion_loras"] = [lora.to_dict() for lora in self.motion_loras]
        data["loras"] = [lora.to_dict() for lora in self.loras]
        data["embeddings"] = [embedding.to_dict() for embedding in self.embeddings]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["motion_loras"] = tuple(
            MotionLora.from_dict(item) for item in data.get("motion_loras", ())
        )
        values["loras"] = tuple(ImageLora.from_dict(item) for item in data.get("loras") or ())
        values["embeddings"] = tuple(
            Embedding.from_dict(item) for item in data.get("embeddings") or ()
        )
        # Settings read from a file (metadata, a project, a sidecar) can never switch on pickle
        # loading, which can run code: only the command-line flag or the window's choice can.
        values["allow_pickle"] = False
        return cls(**values)


@dataclass(frozen=True)
class GenerationRequest:
    """Every input of one generation. Defaults follow the diffusers AnimateDiff documentation."""

    prompt: str = field(default="", metadata=setting(
        label="Prompt", flag="--prompt", widget="promptEdit",
        help="What to animate. Comma-separated phrases work well, e.g. 'a sunset over the sea, "
        "fishing boats, golden hour'."))
    negative_prompt: str = field(default="", metadata=setting(
        label="Negative prompt", flag="--negative-prompt", widget="negativePromptEdit",
        help="What to avoid, e.g. 'bad quality, worse quality, blurry'."))
    mode: str = field(default="text2video", metadata=setting(
        label="Mode", choices=MODES, choice_labels=("Text to video", "Video to video"),
        widget="modeCombo",
        help="Text to video makes a clip from the prompt; video to video restyles an input clip."))
    # Prompt travel: frame index -> prompt. Frame 0 defaults to `prompt`.
    prompt_travel: dict[int, str] = field(default_factory=dict, metadata=setting(
        label="Prompt travel", flag="--prompt-at", metavar="FRAME:TEXT", repeat=True,
        widget="promptTravelTable",
        help="Prompt travel: from this frame on, the prompt changes smoothly to this text (uses "
        "FreeNoise)."))
    frames: int = field(default=16, metadata=setting(
        label="Frames", flag="--frames", range=FRAMES_RANGE, widget="framesSpin", webui="Frames",
        help="Number of frames. 16 is what the motion modules were trained on; longer clips use "
        "FreeNoise. Video to video takes at most this many input frames."))
    width: int = field(default=512, metadata=setting(
        label="Width", flag="--width", range=SIZE_RANGE, multiple_of=8, widget="widthSpin",
        webui="Size", help="Width in pixels, a multiple of 8. SD1.5 models work best at 512."))
    height: int = field(default=512, metadata=setting(
        label="Height", flag="--height", range=SIZE_RANGE, multiple_of=8, widget="heightSpin",
        webui="Size", help="Height in pixels, a multiple of 8. SD1.5 models work best at 512."))
    steps: int = field(default=25, metadata=setting(
        label="Steps", flag="--steps", range=STEPS_RANGE, widget="stepsSpin", webui="Steps",
        help="Denoising steps: more is slower and usually cleaner. 20-30 is typical (4-8 for "
        "LCM)."))
    guidance: float = field(default=7.5, metadata=setting(
        label="Guidance", flag="--guidance", range=GUIDANCE_RANGE, step=0.5,
        widget="guidanceSpin", webui="CFG scale",
        help="How strictly to follow the prompt (CFG scale). 7-8 is typical; LCM uses 1-2."))
    seed: int | None = field(default=None, metadata=setting(
        label="Seed", flag="--seed", range=SEED_RANGE, widget="seedSpin", shown=42, webui="Seed",
        help="The random seed: the same seed and settings give the same clip. Without one, each "
        "job picks a new seed, which is kept with the result."))
    scheduler: str = field(default="ddim", metadata=setting(
        label="Scheduler", flag="--scheduler", choices=SCHEDULER_NAMES + FLOW_SCHEDULER_NAMES,
        widget="schedulerCombo",
        webui="Sampler",
        help="The sampler. DDIM is the AnimateDiff documentation's choice; DPM++ 2M Karras is "
        "sharp at few steps; LCM is for AnimateLCM."))
    fps: int = field(default=8, metadata=setting(
        label="Frames per second", flag="--fps", range=FPS_RANGE, widget="fpsSpin", webui="FPS",
        help="Playback and export rate. AnimateDiff clips are usually played at 8 fps."))
    clip_skip: int | None = field(default=None, metadata=setting(
        label="Clip skip", flag="--clip-skip", range=CLIP_SKIP_RANGE, widget="clipSkipSpin",
        off_text="off",
        help="Use an earlier text-encoder layer: 1-2 suits many anime models; off by default."))
    # image2video: a start image makes a text-to-video job image-to-video (models that can).
    start_image: str | None = field(default=None, metadata=setting(
        label="Start image", flag="--image", mode="text2video", metavar="IMG",
        widget="startImageEdit",
        help="Image-to-video: the clip starts from this image (resized to the clip's size). "
        "Only models that can use one (Wan2.2-TI2V-5B, Wan image-to-video models)."))
    # The start image's sha256 once a job has run with it (as guidance inputs record theirs).
    start_image_sha256: str | None = None
    # video2video
    input_video: str | None = field(default=None, metadata=setting(
        label="Input video", flag="--input", mode="video2video", widget="inputVideoEdit",
        help="The clip to restyle: a video file, an animated GIF/WebP or a folder of frames."))
    strength: float = field(default=0.8, metadata=setting(
        label="Strength", flag="--strength", range=(0.0, 1.0), above_low=True, step=0.05,
        mode="video2video", widget="strengthSpin",
        help="How far to move away from the input video: 0.3 keeps it close, 0.8 (default) "
        "restyles strongly, 1.0 ignores it."))
    # FreeInit: 0 iterations is off.
    free_init_iters: int = field(default=0, metadata=setting(
        label="FreeInit iterations", term="FreeInit iterations", flag="--free-init",
        metavar="ITERS", range=FREE_INIT_RANGE, widget="freeInitSpin",
        help="FreeInit: re-runs the denoising 2-3 times for steadier motion; 0 is off. Each "
        "iteration costs a full run."))
    free_init_method: str = field(default="butterworth", metadata=setting(
        label="FreeInit filter", term="FreeInit method", flag="--free-init-method",
        choices=FREE_INIT_METHODS, widget="freeInitMethodCombo",
        choice_labels=("Butterworth", "Ideal", "Gaussian"),
        help="The frequency filter FreeInit uses; butterworth is the default."))
    free_init_fast: bool = field(default=False, metadata=setting(
        label="FreeInit fast sampling", term="FreeInit fast sampling", flag="--free-init-fast",
        widget="freeInitFastCheck",
        help="FreeInit coarse-to-fine: fewer steps in early iterations, faster and a bit lower "
        "quality."))
    # FreeU: (s1, s2, b1, b2) or None for off.
    freeu: tuple[float, float, float, float] | None = field(default=None, metadata=setting(
        label="FreeU", term="FreeU", flag="--freeu", metavar="S1,S2,B1,B2", range=FREEU_RANGE,
        parts=("s1", "s2", "b1", "b2"), shown=(0.9, 0.2, 1.2, 1.4), step=0.05,
        switch="freeuCheck", switch_label="FreeU",
        part_widgets=("freeuS1Spin", "freeuS2Spin", "freeuB1Spin", "freeuB2Spin"),
        help="FreeU re-weights the UNet's features for more detail at no cost. Typical SD1.5 "
        "values: 0.9, 0.2, 1.2, 1.4."))
    # FreeNoise: a context length turns it on (clips longer than the motion module's window).
    context_length: int | None = field(default=None, metadata=setting(
        label="Context length", flag="--context-length", range=(1, FRAMES_RANGE[1]), shown=16,
        widget="contextLengthSpin", switch="freeNoiseCheck", switch_label="FreeNoise",
        help="FreeNoise, for clips longer than the motion module's window: denoise in "
        "overlapping windows of this many frames; 16 suits most motion modules."))
    context_stride: int = field(default=4, metadata=setting(
        label="Context stride", flag="--context-stride", range=(1, FRAMES_RANGE[1]),
        upper_field="context_length", widget="contextStrideSpin",
        help="Frames between the starts of FreeNoise windows (4 is usual)."))
    # The recipe the settings came from (backend/core/presets.py); the values it set are the fields
    # themselves, so this is a label for the window and for people reading the metadata.
    preset: str = field(default="standard", metadata=setting(
        label="Quality", flag="--preset", choices=PRESET_NAMES, widget="qualityCombo",
        help="A documented recipe: standard (DDIM, 25 steps); animatelcm and lightning are "
        "distilled motion models that need 6 and 4 steps. It sets the motion adapter, "
        "scheduler, steps, guidance and LoRA; values you set yourself win."))
    # Guidance (backend/guidance.py): ControlNets, SparseCtrl keyframes, an IP-Adapter image.
    controls: tuple[ControlSpec, ...] = field(default=(), metadata=setting(
        label="Controls", flag="--control", repeat=True, widget="controlTable",
        metavar="model=M[,source=PATH][,preprocess=KIND][,weight=W][,start=S][,end=E]",
        help="A ControlNet and its control video (video, GIF/WebP, folder of frames or one "
        "image; in video to video the input by default). preprocess: none, canny, lineart, "
        "depth or pose. Several make a MultiControlNet."))
    sparse_control: SparseControl | None = field(default=None, metadata=setting(
        label="SparseCtrl model", flag="--sparse-control", metavar="M[:WEIGHT]",
        widget="sparseControlEdit",
        help="A SparseCtrl model (RGB or scribble, with motion adapter v1-5-3) that holds the "
        "clip to the keyframes."))
    keyframes: tuple[Keyframe, ...] = field(default=(), metadata=setting(
        label="Keyframes", flag="--keyframe", metavar="FRAME:IMAGE", repeat=True,
        widget="keyframeTable",
        help="An image at a frame for SparseCtrl; 0:photo.png alone is image to video."))
    ip_adapter: ReferenceImage | None = field(default=None, metadata=setting(
        label="IP-Adapter image", flag="--ip-adapter", metavar="IMAGE[:SCALE]",
        widget="ipAdapterImageEdit",
        help="A reference image whose look the clip takes on (IP-Adapter), with its scale "
        "(1.0 by default; 0.5-0.7 keeps more of the prompt)."))
    ip_adapter_model: str = field(default=DEFAULT_IP_ADAPTER, metadata=setting(
        label="IP-Adapter model", flag="--ip-adapter-model", metavar="FILE",
        widget="ipAdapterModelEdit",
        help="The IP-Adapter weights file; its image encoder is the image_encoder folder "
        "beside it, as in h94/IP-Adapter."))
    model: ModelSpec = field(default_factory=ModelSpec)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def with_absolute_paths(self) -> GenerationRequest:
        """Local paths (models, LoRAs, the input video) made absolute, so the settings stored in
        metadata and projects re-run from any folder."""
        video = local_path_or_id(self.input_video) if self.input_video else self.input_video
        image = local_path_or_id(self.start_image) if self.start_image else self.start_image
        return self.replace(
            model=self.model.with_absolute_paths(),
            input_video=video,
            start_image=image,
            controls=tuple(c.with_absolute_path() for c in self.controls),
            sparse_control=self.sparse_control and self.sparse_control.with_absolute_path(),
            keyframes=tuple(k.with_absolute_path() for k in self.keyframes),
            ip_adapter=self.ip_adapter and self.ip_adapter.with_absolute_path(),
            ip_adapter_model=local_path_or_id(self.ip_adapter_model),
        )

    @property
    def run_mode(self) -> str:
        """The pipeline mode the job runs: text2video with a start image is image2video."""
        return "image2video" if self.mode == "text2video" and self.start_image else self.mode

    def validate(self) -> None:
        """Raise InputError naming the first bad field and what it may be."""
        SETTINGS["mode"].check(self.mode)
        for declared in REQUEST_SETTINGS.values():
            if declared.mode not in (None, self.mode):
                continue
            if declared.upper_field:
                upper = getattr(self, declared.upper_field)
                if upper is None:
                    continue
                declared = dataclasses.replace(declared, range=(declared.range[0], upper))
            declared.check(getattr(self, declared.name))
        if self.mode == "video2video" and not self.input_video:
            raise InputError("video-to-video needs an input video (a file or a folder of frames)")
        for frame, text in self.prompt_travel.items():
            if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < self.frames:
                raise InputError(
                    f"prompt travel frame must be from 0 to {self.frames - 1} "
                    f"(the clip has {self.frames} frames); got {frame!r}"
                )
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"prompt travel at frame {frame} has an empty prompt")
        if self.mode == "video2video" and self.denoising_steps() < 1:
            raise InputError(
                f"with strength {self.strength} and {self.steps} steps, video-to-video would run "
                "no denoising step; raise steps or strength"
            )
        check_guidance(self)
        self.model.validate()

    def denoising_steps(self) -> int:
        """How many denoising steps the pipeline runs, FreeInit iterations included. Mirrors the
        loops of diffusers' AnimateDiff pipelines (all our schedulers are first order)."""
        steps, iters = self.steps, self.free_init_iters
        if self.mode == "text2video":
            if not iters:
                return steps
            if self.free_init_fast:
                return sum(max(1, int(steps / iters * (k + 1))) for k in range(iters))
            return steps * iters
        # video2video starts part-way, at strength; with FreeInit each iteration shortens again.
        n = min(int(steps * self.strength), steps)
        if not iters:
            return n
        total = 0
        for k in range(iters):
            m = max(1, int(n / iters * (k + 1))) if self.free_init_fast else n
            n = min(int(m * self.strength), m)
            total += n
        return total

    def travel_prompts(self) -> dict[int, str]:
        """The per-frame prompts as diffusers' FreeNoise takes them: frame 0 always present."""
        prompts = {0: self.prompt}
        prompts.update(self.prompt_travel)
        return dict(sorted(prompts.items()))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": FORMAT, "schema_version": SCHEMA_VERSION}
        for f in dataclasses.fields(self):
            data[f.name] = getattr(self, f.name)
        data["prompt_travel"] = {str(k): v for k, v in sorted(self.prompt_travel.items())}
        data["freeu"] = list(self.freeu) if self.freeu is not None else None
        data["model"] = self.model.to_dict()
        data["controls"] = [control.to_dict() for control in self.controls]
        data["keyframes"] = [keyframe.to_dict() for keyframe in self.keyframes]
        for name in ("sparse_control", "ip_adapter"):
            data[name] = getattr(self, name) and getattr(self, name).to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Read any version this program ever wrote; refuse newer ones with a clear message."""
        if not isinstance(data, dict):
            raise InputError("generation settings must be a JSON object")
        if data.get("format", FORMAT) != FORMAT:
            raise InputError(f"not AnimateDiff Studio generation settings (format {data.get('format')!r})")
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version < 1:
            raise InputError(f"generation settings have an invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise InputError(
                f"these generation settings were written by a newer AnimateDiff Studio "
                f"(schema {version}, this one reads up to {SCHEMA_VERSION}); update the program"
            )
        data = dict(data)
        for upgrade_from in range(version, SCHEMA_VERSION):
            data = _UPGRADES[upgrade_from](data)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["prompt_travel"] = {
                int(k): str(v) for k, v in (data.get("prompt_travel") or {}).items()
            }
            if values.get("freeu") is not None:
                values["freeu"] = tuple(float(x) for x in values["freeu"])
            values["model"] = ModelSpec.from_dict(data.get("model") or {})
            values["controls"] = tuple(ControlSpec.from_dict(c) for c in data.get("controls") or ())
            values["keyframes"] = tuple(Keyframe.from_dict(k) for k in data.get("keyframes") or ())
            if data.get("sparse_control"):
                values["sparse_control"] = SparseControl.from_dict(data["sparse_control"])
            if data.get("ip_adapter"):
                values["ip_adapter"] = ReferenceImage.from_dict(data["ip_adapter"])
            request = cls(**values)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InputError(f"generation settings are malformed: {exc}") from None
        request.validate()
        return request


def _declared(cls: type, prefix: str = "") -> dict[str, Setting]:
    result = {}
    for f in dataclasses.fields(cls):
        if "setting" in f.metadata:
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            result[f.name] = dataclasses.replace(
                f.metadata["setting"], name=f.name, path=prefix + f.name, default=default,
                term=f.metadata["setting"].term or f.name.replace("_", " "))
    return result


# Every declared setting by field name (the two classes share no field name), in field order.
REQUEST_SETTINGS = _declared(GenerationRequest)
# Fields a job fills in and the metadata keeps, which the user never sets: not settings.
RECORD_FIELDS = ("start_image_sha256",)
MODEL_SETTINGS = _declared(ModelSpec, "model.")
SETTINGS: dict[str, Setting] = {**REQUEST_SETTINGS, **MODEL_SETTINGS}


# schema_version N -> N+1. Version 1 is the first; nothing to upgrade yet.
_UPGRADES: dict[int, Any] = {}
