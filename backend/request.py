"""The one description of a job: `GenerationRequest` with its `ModelSpec`.

It serialises to a versioned dict. The same dict is what a project stores, what an export embeds
as metadata and what the command line prints with --json, so `from_dict` must keep reading every
version ever written: add an upgrade function to `_UPGRADES` whenever the layout changes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from backend.errors import InputError

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
    # The distilled models' own recipes (backend/presets.py), built exactly as their
    # documentation builds them from the base model's scheduler.
    "euler_trailing",
    "lcm_linear",
)
PRESET_NAMES = ("standard", "animatelcm", "lightning")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float16", "bfloat16", "float32")
OFFLOADS = ("none", "model", "sequential")
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

    base_model: str = DEFAULT_BASE_MODEL
    motion_adapter: str = DEFAULT_MOTION_ADAPTER
    motion_loras: tuple[MotionLora, ...] = ()
    device: str = "auto"
    dtype: str = "auto"
    offload: str = "none"
    vae_slicing: bool = True
    vae_tiling: bool = False
    allow_pickle: bool = False
    # Image LoRAs and textual-inversion embeddings: switched on the loaded pipeline, like
    # motion LoRAs, so they are not part of the cache key.
    loras: tuple[ImageLora, ...] = ()
    embeddings: tuple[Embedding, ...] = ()
    # Speed options (backend/speed.py). Compiling is slow to start, so it keys the cache.
    channels_last: bool = False
    compile_unet: bool = False

    def validate(self) -> None:
        for name in ("base_model", "motion_adapter"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{name.replace('_', ' ')}: the path or hub id is empty")
        _check_choice("device", self.device, DEVICES)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("offload", self.offload, OFFLOADS)
        for name in ("vae_slicing", "vae_tiling", "allow_pickle"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name.replace('_', ' ')} must be true or false, got {getattr(self, name)!r}")
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

    prompt: str = ""
    negative_prompt: str = ""
    mode: str = "text2video"
    # Prompt travel: frame index -> prompt. Frame 0 defaults to `prompt`.
    prompt_travel: dict[int, str] = field(default_factory=dict)
    frames: int = 16
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.5
    seed: int | None = None
    scheduler: str = "ddim"
    fps: int = 8
    clip_skip: int | None = None
    # video2video
    input_video: str | None = None
    strength: float = 0.8
    # FreeInit: 0 iterations is off.
    free_init_iters: int = 0
    free_init_method: str = "butterworth"
    free_init_fast: bool = False
    # FreeU: (s1, s2, b1, b2) or None for off.
    freeu: tuple[float, float, float, float] | None = None
    # FreeNoise: a context length turns it on (clips longer than the motion module's window).
    context_length: int | None = None
    context_stride: int = 4
    # The recipe the settings came from (backend/presets.py); the values it set are the fields
    # themselves, so this is a label for the window and for people reading the metadata.
    preset: str = "standard"
    model: ModelSpec = field(default_factory=ModelSpec)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def with_absolute_paths(self) -> GenerationRequest:
        """Local paths (models, LoRAs, the input video) made absolute, so the settings stored in
        metadata and projects re-run from any folder."""
        video = local_path_or_id(self.input_video) if self.input_video else self.input_video
        return self.replace(model=self.model.with_absolute_paths(), input_video=video)

    def validate(self) -> None:
        """Raise InputError naming the first bad field and what it may be."""
        _check_choice("mode", self.mode, MODES)
        if not isinstance(self.prompt, str):
            raise InputError("prompt must be text")
        if not isinstance(self.negative_prompt, str):
            raise InputError("negative prompt must be text")
        _check_int("frames", self.frames, FRAMES_RANGE)
        for name in ("width", "height"):
            value = getattr(self, name)
            _check_int(name, value, SIZE_RANGE)
            if value % 8:
                lower = max(SIZE_RANGE[0], value - value % 8)
                raise InputError(
                    f"{name} must be a multiple of 8 (the model works on 8x8 pixel blocks); "
                    f"got {value}, try {lower} or {lower + 8}"
                )
        _check_int("steps", self.steps, STEPS_RANGE)
        _check_range("guidance", self.guidance, GUIDANCE_RANGE)
        if self.seed is not None:
            _check_int("seed", self.seed, SEED_RANGE)
        _check_choice("scheduler", self.scheduler, SCHEDULER_NAMES)
        _check_choice("preset", self.preset, PRESET_NAMES)
        _check_int("fps", self.fps, FPS_RANGE)
        if self.clip_skip is not None:
            _check_int("clip skip", self.clip_skip, CLIP_SKIP_RANGE)
        if self.mode == "video2video":
            if not self.input_video:
                raise InputError("video-to-video needs an input video (a file or a folder of frames)")
            _check_range("strength", self.strength, (0.0, 1.0))
            if self.strength <= 0:
                raise InputError(f"strength must be above 0 and at most 1, got {self.strength}")
        _check_int("FreeInit iterations", self.free_init_iters, FREE_INIT_RANGE)
        _check_choice("FreeInit method", self.free_init_method, FREE_INIT_METHODS)
        if self.freeu is not None:
            if len(self.freeu) != 4:
                raise InputError(f"FreeU needs four numbers s1,s2,b1,b2; got {list(self.freeu)}")
            for label, value in zip(("s1", "s2", "b1", "b2"), self.freeu, strict=True):
                _check_range(f"FreeU {label}", value, FREEU_RANGE)
        if self.context_length is not None:
            _check_int("context length", self.context_length, (1, FRAMES_RANGE[1]))
            _check_int("context stride", self.context_stride, (1, self.context_length))
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
            request = cls(**values)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InputError(f"generation settings are malformed: {exc}") from None
        request.validate()
        return request


# schema_version N -> N+1. Version 1 is the first; nothing to upgrade yet.
_UPGRADES: dict[int, Any] = {}
