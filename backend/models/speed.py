"""Speed and memory options, set on the loaded pipeline before each job.

benchmarks/full_size.py measures each against the plain pipeline; all are off by default, so
the default frames stay byte-identical to a plain diffusers script.

- channels_last: the UNet's weights in NHWC layout, which convolution kernels on CUDA (and
  some CPUs) run faster; it reorders arithmetic, so the last bits of pixels may change.
- compile_unet: `torch.compile` of the UNet. The first job pays the compile time; it keys the
  model cache, since a compiled UNet cannot be un-compiled.

Attention slicing is deliberately not an option: `pipe.enable_attention_slicing()` does nothing
to AnimateDiff's UNetMotionModel (it has no `set_attention_slice`), and sliced attention
processors only save memory against unfused attention; torch's scaled_dot_product_attention,
which diffusers uses by default, never materialises the full attention matrix anyway.
benchmarks/full_size.py measures it (`--options sliced_attention`).
"""

from __future__ import annotations

from backend.core.errors import GenerationError, exception_chain
from backend.core.request import ModelSpec

COMPILE_BACKEND = "inductor"  # torch.compile's default; tests swap in a failing one


def tune_cpu_allocator() -> None:
    """Fix glibc's malloc thresholds instead of letting them drift with what was freed before.

    Each UNet call allocates and frees gigabytes of activations. glibc serves blocks above its
    mmap threshold with fresh pages (a page fault and zeroing per 4 KiB) and adjusts that
    threshold as blocks are freed, so how many faults a step costs depends on the loading
    history: our Lightning path got 1.1-1.3 M faults per step where a plain script got
    0.5-1.0 M, 4-9% slower. At its maximum (32 MiB) and with a high trim threshold, freed
    blocks below it are reused without faults. Linux/glibc only; elsewhere nothing happens."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def apply_speed_options(pipe, spec: ModelSpec) -> None:
    import torch

    layout = torch.channels_last if spec.channels_last else torch.contiguous_format
    if getattr(pipe.unet, "_studio_layout", torch.contiguous_format) != layout:
        pipe.unet.to(memory_format=layout)
        pipe.unet._studio_layout = layout
    if spec.compile_unet and getattr(pipe.unet, "_compiled_call_impl", None) is None:
        pipe.unet.compile(backend=COMPILE_BACKEND)


def compile_failure(exc: BaseException, spec: ModelSpec, pipes) -> GenerationError | None:
    """The message for a job that failed inside torch.compile (compilation happens during the
    first UNet call: no C++ compiler, an unsupported platform...), or None. The UNet of `pipes`
    goes back to running uncompiled, so the loaded models stay usable."""
    if not spec.compile_unet:
        return None
    for item in exception_chain(exc):
        if type(item).__module__.startswith(("torch._dynamo", "torch._inductor")):
            for pipe in pipes:
                pipe.unet._compiled_call_impl = None
            lines = [line.strip() for line in str(item).splitlines() if line.strip()]
            detail = " ".join(lines[:2])[:200]
            return GenerationError(
                f"compiling the UNet (torch.compile) failed: {type(item).__name__}: {detail}; "
                "turn off Compile UNet (--compile-unet) and run again"
            )
    return None
