"""The memory plan: which memory savers a job turns on so that it fits the device.

Before a job runs, its estimate (backend/models/memory_estimate.py, or a family's own) is
compared with the memory the device has free. The plan turns on the fewest savers that make it
fit, cheapest first, from the ordered list the model family declares (`ANIMATEDIFF_SAVERS` for
AnimateDiff). The user's own switches always stay on; `memory="off"` adds nothing. When a job
still runs out of memory, `next_plan` adds the next saver for one retry.

Each saver says whether it keeps the frames byte-identical (on the CPU in float32, checked
against diffusers with the same saver in tests/backend/test_memory_plan.py) or changes them,
and how.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

GIB = 2**30
MEMORY_MODES = ("auto", "off")


@dataclass(frozen=True)
class Saver:
    """One way to need less memory. `name` is what the estimate and the engine act on."""

    name: str
    label: str  # how the plan's sentence names it
    changes_frames: str = ""  # empty: byte-identical; else how the frames change
    accelerator_only: bool = False  # means nothing on the CPU (offloading to the CPU)
    replaces: str = ""  # a saver this one supersedes (sequential offload replaces model offload)


# AnimateDiff's savers in order of cost. Chunked decoding and split inference keep the frames
# byte-identical (tests/backend/test_memory_plan.py); chunked decoding decodes one frame at a
# time, which is exactly what VAE slicing (on by default) already does.
CHUNKED_DECODE = Saver("chunked_decode", "chunked decoding",
                       changes_frames="as VAE slicing does: the last bit of some pixels")
SPLIT_INFERENCE = Saver("split_inference", "split inference")
VAE_TILING = Saver("vae_tiling", "VAE tiling",
                   changes_frames="tiles are blended, so pixels change slightly")
MODEL_OFFLOAD = Saver("model_offload", "model CPU offload", accelerator_only=True)
SEQUENTIAL_OFFLOAD = Saver("sequential_offload", "sequential CPU offload",
                           accelerator_only=True, replaces="model_offload")
ANIMATEDIFF_SAVERS = (CHUNKED_DECODE, SPLIT_INFERENCE, VAE_TILING, MODEL_OFFLOAD,
                      SEQUENTIAL_OFFLOAD)

# need(savers) -> the peak in bytes with those savers on, or None when it cannot be known
# (models not on disk here).
NeedFunction = Callable[[frozenset[str]], "int | None"]


@dataclass(frozen=True)
class MemoryPlan:
    """What a job runs with. `savers` are the plan's own additions; `user_savers` were on
    already. `need` and `free` are bytes (None: unknown)."""

    device: str
    mode: str
    savers: tuple[Saver, ...]
    user_savers: tuple[Saver, ...]
    need: int | None
    free: int | None
    advice: str = ""  # what to lower, when nothing fits
    retry: bool = False  # made after an out-of-memory failure
    order: tuple[Saver, ...] = field(default=ANIMATEDIFF_SAVERS, repr=False)

    @property
    def active(self) -> frozenset[str]:
        """Every saver on for the job, the user's and the plan's."""
        names = {s.name for s in (*self.user_savers, *self.savers)}
        for saver in self.order:
            if saver.replaces and saver.name in names:
                names.discard(saver.replaces)
        return frozenset(names)

    @property
    def fits(self) -> bool | None:
        if self.need is None or self.free is None:
            return None
        return self.need <= self.free

    def describe(self) -> str:
        """One sentence for the command line and the window."""
        added = _joined([s.label for s in self.savers if s.name in self.active])
        where = "" if self.device == "cpu" else f" on {self.device}"
        if self.need is None or self.free is None:
            known = "free memory unknown" if self.free is None else "models not on disk yet"
            text = f"memory plan: {known}, so no savers are added"
        elif self.mode == "off":
            verdict = "fits in" if self.fits else "needs"
            text = (f"memory plan off: {verdict} {self.need / GIB:.1f} of "
                    f"{self.free / GIB:.1f} GiB free{where}; only your own switches are used")
        elif self.fits:
            text = f"memory plan: fits in {self.need / GIB:.1f} of {self.free / GIB:.1f} GiB{where}"
            text += f" with {added}" if added else ", no savers needed"
        else:
            text = (f"memory plan: does not fit, needs {self.need / GIB:.1f} GiB with every saver "
                    f"and {self.free / GIB:.1f} GiB is free{where}")
            if self.advice:
                text += f"; {self.advice}"
        changing = [f"{s.label} changes the frames ({s.changes_frames})"
                    for s in self.savers if s.changes_frames and s.name in self.active]
        if changing:
            text += "; " + "; ".join(changing)
        return text


def _joined(labels: Sequence[str]) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _usable(saver: Saver, device: str) -> bool:
    return not (saver.accelerator_only and device == "cpu")


def choose_plan(need: NeedFunction, free: int | None, device: str, *, mode: str = "auto",
                user_savers: frozenset[str] = frozenset(),
                always: frozenset[str] = frozenset(),
                order: Sequence[Saver] = ANIMATEDIFF_SAVERS,
                advice: Callable[[], str] = lambda: "") -> MemoryPlan:
    """The fewest savers from `order`, taken in that order, that make `need` fit in `free`.

    `always` are savers the job takes whatever the memory (a long clip's split inference).
    A saver is only added when it lowers the need (slicing may already do what chunked decoding
    would). When even every usable saver is not enough, the plan keeps them all and `advice`
    says what to lower."""
    order = tuple(order)
    user = tuple(s for s in order if s.name in user_savers)
    added = [s for s in order if s.name in always - user_savers and _usable(s, device)]
    if mode == "off":
        added = []
    on = frozenset(user_savers) | {s.name for s in added}
    base = MemoryPlan(device, mode, tuple(added), user, need(on), free, order=order)
    if mode == "off" or base.need is None or free is None or base.need <= free:
        return base
    current = base.need
    for saver in order:
        if saver.name in on or not _usable(saver, device):
            continue
        trial = need(on | {saver.name})
        if trial is None or trial >= current:
            continue
        on, current = on | {saver.name}, trial
        added.append(saver)
        if current <= free:
            return MemoryPlan(device, mode, tuple(added), user, current, free, order=order)
    return MemoryPlan(device, mode, tuple(added), user, current, free, advice(), order=order)


def next_plan(plan: MemoryPlan, need: NeedFunction) -> MemoryPlan | None:
    """After an out-of-memory failure: the plan with the next usable saver not yet on, or None
    when every one is. Taken even when the estimate says it saves nothing, since the estimate
    was wrong."""
    for saver in plan.order:
        if saver.name in plan.active or not _usable(saver, plan.device):
            continue
        if any(s.replaces == saver.name and s.name in plan.active for s in plan.order):
            continue
        active = plan.active | {saver.name}
        return MemoryPlan(plan.device, plan.mode, (*plan.savers, saver), plan.user_savers,
                          need(active), plan.free, retry=True, order=plan.order)
    return None


def free_memory(device: str) -> int | None:
    """Bytes the device has free now: CUDA's free memory, Apple's recommended working set less
    what Metal holds, or the RAM the system has available. None when it cannot be read."""
    import torch

    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "mps":
        mps = torch.mps
        return int(mps.recommended_max_memory() - mps.driver_allocated_memory())
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError):
        return None
