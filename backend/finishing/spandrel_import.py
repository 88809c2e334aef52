"""Importing spandrel where torchvision cannot load.

spandrel imports torchvision's pure-Python `rotate`, `normalize` and `InterpolationMode` at import
time, for two architectures that are not upscalers (LaMa inpainting, RestoreFormer faces), which
this app refuses anyway. torchvision is built per torch build, and a CPU-only torch (ours in CI,
and on machines without a GPU) may have no matching torchvision on PyPI. When torchvision is
missing or cannot load, spandrel is imported against a stand-in whose functions raise; the
stand-in is removed from `sys.modules` straight after, so nothing else ever sees it.
"""

from __future__ import annotations

import enum
import sys
import types

from backend.core.errors import InputError


class _InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _needs_torchvision(*args, **kwargs):
    raise InputError("this model needs torchvision, which is not installed for this torch build")


def import_spandrel():
    try:
        import spandrel

        return spandrel
    except ImportError as exc:
        if "torchvision" not in str(exc):
            raise InputError(
                "upscaling needs the spandrel package: pip install spandrel"
            ) from None
    except RuntimeError:  # a torchvision built for another torch
        pass
    for name in [n for n in sys.modules if n.split(".")[0] in ("spandrel", "torchvision")]:
        del sys.modules[name]
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.rotate = functional.normalize = _needs_torchvision
    functional.InterpolationMode = _InterpolationMode
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    package = types.ModuleType("torchvision")
    package.transforms = transforms
    stand_in = {"torchvision": package, "torchvision.transforms": transforms,
                "torchvision.transforms.functional": functional}
    sys.modules.update(stand_in)
    try:
        import spandrel
    finally:
        for name in stand_in:
            sys.modules.pop(name, None)
    return spandrel
