"""What a model family declares, and the pieces every family shares.

A family is a subclass of `ModelFamily` with class attributes for its fixed facts (name, the
`model_index.json` class names it owns, its diffusers pipelines per mode, the settings that do
not apply to it and why, its memory savers in the order to try them) and a few methods for what
depends on the model in hand (defaults, frame and size constraints, read from its configs).
torch and diffusers are imported inside the methods that need them, so declaring a family and
asking it about a model's configs costs nothing at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from backend.core.errors import InputError


@dataclass(frozen=True)
class FamilyDefaults:
    """The model card's recommended settings."""

    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    source: str = ""  # where these numbers come from (a model card, the maker's config)


@dataclass(frozen=True)
class Constraints:
    """Which frame counts and sizes the model takes: frames = frame_step * k + frame_offset
    (from the VAE's temporal scale), width and height multiples of size_multiple (the VAE's
    spatial scale times the transformer's patch)."""

    frame_step: int = 1
    frame_offset: int = 0
    size_multiple: int = 8
    frames_low: int = 1

    def valid_frames(self, frames: int) -> bool:
        return frames >= self.frames_low and (frames - self.frame_offset) % self.frame_step == 0

    def nearest_frames(self, frames: int) -> tuple[int, ...]:
        """The valid counts either side of `frames` (one when it is below the lowest)."""
        step, offset = self.frame_step, self.frame_offset
        lower = (frames - offset) // step * step + offset
        candidates = [count for count in (lower, lower + step) if count >= self.frames_low]
        return tuple(candidates) or (self.frames_low,)

    def nearest_sizes(self, value: int) -> tuple[int, ...]:
        step = self.size_multiple
        lower = value // step * step
        return tuple(size for size in (lower, lower + step) if size >= step)

    def check(self, frames: int, width: int, height: int) -> None:
        """Raise InputError naming the nearest valid values when one does not fit."""
        if not self.valid_frames(frames):
            near = " or ".join(str(n) for n in self.nearest_frames(frames))
            raise InputError(
                f"frames must be {self.frame_step}k+{self.frame_offset} for this model (its VAE "
                f"compresses time {self.frame_step}x); got {frames}, try {near}"
            )
        for name, value in (("width", width), ("height", height)):
            if value % self.size_multiple:
                near = " or ".join(str(n) for n in self.nearest_sizes(value))
                raise InputError(
                    f"{name} must be a multiple of {self.size_multiple} for this model; got "
                    f"{value}, try {near}"
                )


@dataclass(frozen=True)
class MemorySaver:
    """One way to need less memory, as the memory plan (backend/models/memory_plan.py) reads
    it; the same fields as the plan's own `Saver`, so a family's list is a plan's order.
    `changes_frames` is empty when the frames stay byte-identical, else how they change."""

    name: str
    label: str
    changes_frames: str = ""
    accelerator_only: bool = False  # means nothing on the CPU (offloading to the CPU)
    replaces: str = ""  # a saver this one supersedes


@dataclass(frozen=True)
class MemoryTerm:
    """One part of a family's peak-memory estimate: weights held (`resident`) or working
    memory at the peak of one phase, in bytes."""

    name: str
    bytes: int
    phase: str  # "weights", "text", "denoise" or "decode"


@dataclass(frozen=True)
class ModelConfigs:
    """What was read from a model's configs: model_index.json and the components' config.json
    (by folder name). Empty dicts where a config was not available (a Hub id not cached)."""

    class_name: str
    index: dict[str, Any] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def component(self, name: str) -> dict[str, Any]:
        return self.components.get(name, {})

    @classmethod
    def from_folder(cls, folder: str | Path, component_names: tuple[str, ...]) -> ModelConfigs:
        folder = Path(folder)
        index = read_json(folder / "model_index.json")
        components = {}
        for name in component_names:
            for file in ("config.json", "scheduler_config.json"):
                data = read_json(folder / name / file)
                if data:
                    components[name] = data
                    break
        return cls(str(index.get("_class_name", "")), index, components)


def _value(request, path: str):
    target = request
    for part in path.split("."):
        target = getattr(target, part)
    return target


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ModelFamily:
    """A kind of video model. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # model_index.json `_class_name` values of this family's models.
    class_names: ClassVar[tuple[str, ...]] = ()
    # diffusers pipeline class per mode ("text2video", "video2video", "image2video").
    pipelines: ClassVar[dict[str, str]] = {}
    # The component folders a model of this family must have (its "parts").
    parts: ClassVar[tuple[str, ...]] = ()
    # Setting path (as in GenerationRequest's SETTINGS: "frames", "model.motion_adapter") ->
    # why it does not apply to this family; the form disables it with that tooltip, a request
    # that sets it is refused with that reason.
    unsupported: ClassVar[dict[str, str]] = {}
    # Memory savers, cheapest first; the memory plan takes the fewest from the front.
    memory_savers: ClassVar[tuple[MemorySaver, ...]] = ()
    # The scheduler names (GenerationRequest.scheduler) that fit this family's models.
    schedulers: ClassVar[tuple[str, ...]] = ()
    default_scheduler: ClassVar[str] = ""
    # Whether the family loads and runs its pipelines through its own methods (load, place,
    # pipeline_for, configure, call_arguments). AnimateDiff's loader predates families and
    # still lives in backend/models/loading.py.
    loads_itself: ClassVar[bool] = True
    # ModelSpec.offload's values -> the saver each turns on.
    offload_savers: ClassVar[dict[str, str]] = {"model": "model_offload",
                                                 "sequential": "sequential_offload"}
    # Which models to name when a start image is given to a model that cannot use one.
    image_models: ClassVar[str] = ""

    def matches_header(self, keys: list[str]) -> bool:
        """Whether a single .safetensors file with these tensor names is this family's."""
        return False

    def configs(self, folder: str | Path) -> ModelConfigs:
        return ModelConfigs.from_folder(folder, self.parts)

    def defaults(self, configs: ModelConfigs) -> FamilyDefaults:
        raise NotImplementedError

    def constraints(self, configs: ModelConfigs) -> Constraints:
        return Constraints()

    def native_sizes(self, configs: ModelConfigs) -> tuple[tuple[int, int], ...]:
        """(width, height) sizes the model was made for, the default first: the form offers
        them."""
        d = self.defaults(configs)
        return tuple(dict.fromkeys(((d.width, d.height), (d.height, d.width))))

    def modes(self, configs: ModelConfigs) -> tuple[str, ...]:
        """The modes this model can run (a text-only model has no image2video)."""
        return tuple(self.pipelines)

    def applies(self, path: str) -> bool:
        return path not in self.unsupported

    def user_savers(self, spec) -> frozenset[str]:
        """The memory savers a ModelSpec's own switches turn on."""
        names = {self.offload_savers[spec.offload]} if spec.offload in self.offload_savers else set()
        if spec.vae_tiling:
            names.add("vae_tiling")
        return frozenset(names)

    def request_defaults(self, configs: ModelConfigs) -> dict[str, Any]:
        """The model card's values by setting path, for the settings a user did not give."""
        d = self.defaults(configs)
        return {"width": d.width, "height": d.height, "frames": d.frames, "fps": d.fps,
                "steps": d.steps, "guidance": d.guidance, "scheduler": self.default_scheduler}

    def check_request(self, request, configs: ModelConfigs) -> None:
        """Refuse, naming it, what this family's model cannot do: a setting that does not
        apply, a scheduler of another kind, a mode the model lacks, a size or frame count its
        configs rule out."""
        from backend.core.request import SETTINGS

        by_path = {declared.path: declared for declared in SETTINGS.values()}
        for path, why in self.unsupported.items():
            declared = by_path[path]
            value = _value(request, path)
            if value != declared.default and value not in ((), {}, None):
                raise InputError(
                    f"{declared.label.lower()} does not apply to {self.label} models: {why}")
        if request.scheduler not in self.schedulers:
            raise InputError(self.scheduler_refusal(request.scheduler))
        mode = request.run_mode
        if mode not in self.modes(configs):
            raise InputError(self.mode_refusal(mode, configs))
        self.constraints(configs).check(request.frames, request.width, request.height)

    def scheduler_refusal(self, name: str) -> str:
        return (f"scheduler {name} does not fit {self.label} models; choose one of "
                f"{', '.join(self.schedulers)}")

    def mode_refusal(self, mode: str, configs: ModelConfigs) -> str:
        if mode == "image2video":
            return (f"{self.label} models cannot start from an image (--image); models that can: "
                    f"{self.image_models}")
        return f"this {self.label} model cannot run {mode}"

    def check_parts(self, folder: str | Path, label: str) -> None:
        """Refuse a model folder with a part missing, naming it, before anything loads."""
        folder = Path(folder)
        missing = [part for part in self.parts if not (folder / part).is_dir()]
        if missing:
            raise InputError(
                f"base model {label!r} is a {self.label} model with parts missing: "
                f"{', '.join(missing)}; download the whole model folder again"
            )

    def __repr__(self) -> str:
        return f"<family {self.name}>"
