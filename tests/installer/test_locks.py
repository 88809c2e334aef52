"""The launcher's lock files follow pyproject.toml: every runtime dependency is locked for every
platform and backend (a dependency added without regenerating the locks would be missing from
installed apps, since the app wheel is installed without resolving its dependencies)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from installer.targets import TARGETS, load_lock  # noqa: E402


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_dependencies() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {normal(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in data["project"]["dependencies"]}


@pytest.mark.parametrize("lock", sorted((ROOT / "installer" / "locks").glob("*.txt")), ids=lambda p: p.stem)
def test_every_runtime_dependency_is_locked(lock):
    pinned = {normal(line.split("==")[0]) for line in lock.read_text(encoding="utf-8").splitlines()
              if "==" in line and not line.startswith((" ", "#"))}
    missing = sorted(runtime_dependencies() - pinned)
    assert not missing, f"{lock.name} lacks {missing}: run python scripts/lock_installer.py"


# Their torch lives only on the PyTorch index, which could not be reached when they were made.
NOT_HASH_BOUND = {"linux-x86_64-rocm", "windows-x86_64-cuda"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_lock_but_two_binds_every_package_to_its_sha256(target):
    lock = load_lock(ROOT / "installer" / "locks", target)
    assert lock.hashed == (target.name not in NOT_HASH_BOUND), (
        f"{target.name}: run python scripts/lock_installer.py --only {target.name}")
    if not lock.hashed:
        header = [line for line in lock.path.read_text(encoding="utf-8").splitlines()
                  if line.startswith("#")]
        assert any("not hash-bound" in line for line in header)
