"""A guided job: its inputs read and checked before any model loads, the diffusers pipeline
that runs it (built with `from_pipe` on the loaded base, so no weights are read twice), and the
extra keyword arguments of the call, as the diffusers documentation's recipes pass them.

- ControlNets: AnimateDiffControlNetPipeline / AnimateDiffVideoToVideoControlNetPipeline, with
  `conditioning_frames`, `controlnet_conditioning_scale`, `control_guidance_start/_end` (lists
  for a MultiControlNet).
- SparseCtrl: AnimateDiffSparseControlNetPipeline with the keyframe images and
  `controlnet_frame_indices`.
- IP-Adapter: `load_ip_adapter` on the shared UNet, `set_ip_adapter_scale`, `ip_adapter_image`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import InputError
from backend.core.guidance import checked_sha256, has_guidance, with_input_hashes


@dataclass
class GuidanceInputs:
    """What a guided job feeds the pipeline, read before the models load."""

    control_frames: list[list[Any]] = field(default_factory=list)  # PIL images per control
    preprocessed: list[np.ndarray] = field(default_factory=list)  # uint8 [F, H, W, 3] each
    keyframe_images: list[Any] = field(default_factory=list)
    reference_image: Any = None


def _open_image(path: str, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"{what} {path!r}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what} {path!r} is not a readable image ({exc})") from None


def control_frames_for(request, control, video, clip_frames: int,
                       on_progress: Callable | None = None) -> np.ndarray:
    """One control's preprocessed frames, as many as the clip has. A one-image source is used
    for every frame; any other count than the clip's is an InputError naming both."""
    from backend.models.preprocessors import preprocess, preprocessed_frames

    if control.source is None:  # video-to-video: the input itself, as the pipeline sees it
        frames = preprocess(np.stack([np.asarray(image) for image in video]), control.preprocess,
                            on_progress)
        source = request.input_video
    else:
        frames = preprocessed_frames(control.source, control.preprocess, control.sha256,
                                     on_progress=on_progress)
        source = control.source
    if len(frames) == 1 and clip_frames > 1:
        frames = np.repeat(frames, clip_frames, axis=0)
    if len(frames) != clip_frames:
        raise InputError(
            f"control source {source!r} has {len(frames)} frames, the clip has {clip_frames}; "
            f"give --frames {len(frames)}, or a source with {clip_frames} frames"
        )
    return frames


def read_guidance(request, video, on_progress: Callable | None = None):
    """(request with the inputs' sha256 recorded, GuidanceInputs). InputError for a missing,
    unreadable or changed file, or a control whose frame count is not the clip's."""
    from PIL import Image

    if not has_guidance(request):
        return request, None
    request = with_input_hashes(request)
    inputs = GuidanceInputs()
    clip_frames = len(video) if video is not None else request.frames
    for control in request.controls:
        frames = control_frames_for(request, control, video, clip_frames, on_progress)
        inputs.preprocessed.append(frames)
        inputs.control_frames.append([Image.fromarray(frame) for frame in frames])
    for keyframe in sorted(request.keyframes, key=lambda k: k.frame):
        inputs.keyframe_images.append(_open_image(keyframe.image, f"keyframe {keyframe.frame}"))
    if request.ip_adapter is not None:
        inputs.reference_image = _open_image(request.ip_adapter.image, "IP-Adapter image")
    return request, inputs


def guided_pipeline(cache, base_pipe, request):
    """The pipeline for a guided request, made from the loaded models (`from_pipe` shares every
    module), or `base_pipe` itself when only an IP-Adapter is used."""
    from diffusers import (
        AnimateDiffControlNetPipeline,
        AnimateDiffSparseControlNetPipeline,
        AnimateDiffVideoToVideoControlNetPipeline,
    )

    if "guidance" not in cache.attached and not has_guidance(request):
        return base_pipe
    spec = request.model
    text2video = cache.pipelines()[0]
    dtype = text2video.unet.dtype
    unet_config = dict(text2video.unet.config)
    from backend.models.guidance import GuidanceModels

    models = cache.attached.setdefault("guidance", GuidanceModels())
    reference = request.ip_adapter_model if request.ip_adapter is not None else None
    models.set_ip_adapter(text2video, reference, spec.allow_pickle)
    if request.sparse_control is not None:
        controlnet = models.controlnet(request.sparse_control.model, unet_config, dtype,
                                       spec.allow_pickle, sparse=True)
        pipe = AnimateDiffSparseControlNetPipeline.from_pipe(text2video, controlnet=controlnet)
    elif request.controls:
        nets = [models.controlnet(c.model, unet_config, dtype, spec.allow_pickle)
                for c in request.controls]
        cls = (AnimateDiffVideoToVideoControlNetPipeline if request.mode == "video2video"
               else AnimateDiffControlNetPipeline)
        pipe = cls.from_pipe(text2video, controlnet=nets[0] if len(nets) == 1 else nets)
    else:
        pipe = base_pipe
    if pipe is not text2video and reference is not None:
        pipe.register_modules(image_encoder=text2video.image_encoder,
                              feature_extractor=text2video.feature_extractor)
    pipe.set_progress_bar_config(disable=True)
    if cache.device != "cpu" and pipe is not base_pipe:
        from backend.models.loading import place_pipeline

        place_pipeline(pipe, spec, cache.device)
    if reference is not None:
        pipe.set_ip_adapter_scale(request.ip_adapter.scale)
    return pipe


def guided_arguments(request, inputs: GuidanceInputs | None) -> dict[str, Any]:
    """The guided keyword arguments of the diffusers call."""
    if inputs is None:
        return {}
    kwargs: dict[str, Any] = {}
    controls = request.controls
    if len(controls) == 1:
        kwargs.update(
            conditioning_frames=inputs.control_frames[0],
            controlnet_conditioning_scale=controls[0].weight,
            control_guidance_start=controls[0].start,
            control_guidance_end=controls[0].end,
        )
    elif controls:
        kwargs.update(
            conditioning_frames=inputs.control_frames,
            controlnet_conditioning_scale=[c.weight for c in controls],
            control_guidance_start=[c.start for c in controls],
            control_guidance_end=[c.end for c in controls],
        )
    if request.sparse_control is not None:
        kwargs.update(
            conditioning_frames=inputs.keyframe_images,
            controlnet_frame_indices=sorted(k.frame for k in request.keyframes),
            controlnet_conditioning_scale=request.sparse_control.weight,
        )
    if inputs.reference_image is not None:
        kwargs["ip_adapter_image"] = inputs.reference_image
    return kwargs


def read_start_image(request):
    """(request with the start image's sha256 recorded, the image as RGB) for an
    image-to-video job, else (request, None). InputError for a missing, unreadable or changed
    file."""
    from PIL import Image, UnidentifiedImageError

    if request.run_mode != "image2video":
        return request, None
    digest = checked_sha256(request.start_image, request.start_image_sha256, "--image")
    try:
        with Image.open(request.start_image) as image:
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"--image {request.start_image!r}: not a readable image ({exc})") from exc
    return request.replace(start_image_sha256=digest), rgb


def kept_inputs(request, inputs: GuidanceInputs | None, start_image=None) -> dict[str, np.ndarray]:
    """The inputs a project take keeps (backend/take_inputs.py names them): the guidance
    inputs and the start image."""
    start = {} if start_image is None else {"start_image": np.asarray(start_image)[None]}
    if inputs is None:
        return start
    kept = dict(start)
    kept.update({f"control_{i}": frames for i, frames in enumerate(inputs.preprocessed)})
    for keyframe, image in zip(sorted(request.keyframes, key=lambda k: k.frame),
                               inputs.keyframe_images, strict=True):
        kept[f"keyframe_{keyframe.frame}"] = np.asarray(image)[None]
    if inputs.reference_image is not None:
        kept["reference"] = np.asarray(inputs.reference_image)[None]
    return kept


def frames_from_sources(request):
    """The request with `frames` set to its control sources' frame count (for a command line
    without --frames): the first source with more than one frame, the input video for a
    video-to-video control without a source. Unchanged when no source has several frames."""
    from backend.models.preprocessors import read_source

    for control in request.controls:
        source = control.source or (request.input_video if request.mode == "video2video" else None)
        if source is None:
            continue
        count = len(read_source(source))
        if count > 1:
            return request.replace(frames=count)
    return request


def portable_guidance(request, video_frames=None):
    """For a job run elsewhere (a render worker): (the request with its inputs' sha256, the
    inputs a take keeps, read here). The worker gets these frames and images, not the paths."""
    from PIL import Image

    request, start_image = read_start_image(request)
    if not has_guidance(request):
        return request, kept_inputs(request, None, start_image)
    video = None if video_frames is None else [Image.fromarray(f) for f in video_frames]
    request, inputs = read_guidance(request, video)
    return request, kept_inputs(request, inputs, start_image)
