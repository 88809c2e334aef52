"""AnimateDiff: a Stable Diffusion 1.5 model plus a motion adapter, the first family.

Its behaviour is today's: every setting applies, the defaults are the diffusers AnimateDiff
documentation's (the request's own defaults), sizes are multiples of 8 (SD's VAE), any frame
count (longer than the motion module's window through FreeNoise).
"""

from __future__ import annotations

from backend.core.request import SCHEDULER_NAMES
from backend.families.base import (
    Constraints,
    FamilyDefaults,
    MemorySaver,
    ModelConfigs,
    ModelFamily,
)


class AnimateDiffFamily(ModelFamily):
    name = "animatediff"
    label = "AnimateDiff"
    class_names = ("StableDiffusionPipeline", "AnimateDiffPipeline")
    pipelines = {
        "text2video": "AnimateDiffPipeline",
        "video2video": "AnimateDiffVideoToVideoPipeline",
    }
    parts = ("unet", "text_encoder", "tokenizer", "vae", "scheduler")
    unsupported: dict[str, str] = {}
    schedulers = SCHEDULER_NAMES
    default_scheduler = "ddim"
    loads_itself = False
    image_models = "Wan2.2-TI2V-5B, Wan2.1-I2V-14B-480P/720P, Wan2.2-I2V-A14B"
    # Cheapest first; the same order as the memory plan's ANIMATEDIFF_SAVERS (long-clips issue).
    memory_savers = (
        MemorySaver("chunked_decode", "chunked decoding",
                    changes_frames="as VAE slicing does: the last bit of some pixels"),
        MemorySaver("split_inference", "split inference"),
        MemorySaver("vae_tiling", "VAE tiling",
                    changes_frames="tiles are blended, so pixels change slightly"),
        MemorySaver("model_offload", "model CPU offload", accelerator_only=True),
        MemorySaver("sequential_offload", "sequential CPU offload", accelerator_only=True,
                    replaces="model_offload"),
    )

    def matches_header(self, keys: list[str]) -> bool:
        return any(key.startswith("model.diffusion_model.input_blocks.") for key in keys)

    def defaults(self, configs: ModelConfigs) -> FamilyDefaults:
        return FamilyDefaults(
            width=512, height=512, frames=16, fps=8, steps=25, guidance=7.5,
            source="diffusers AnimateDiff documentation",
        )

    def constraints(self, configs: ModelConfigs) -> Constraints:
        return Constraints(size_multiple=8)

    def scheduler_refusal(self, name: str) -> str:
        return (f"scheduler {name} is for flow-matching models (Wan); AnimateDiff models take "
                f"{', '.join(self.schedulers)}")
