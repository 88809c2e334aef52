"""Where the launcher keeps things, and which environment is current.

    HOME/state.json        {"current": NAME, "previous": NAME, "pending": NAME, "pinned": VERSION}
    HOME/envs/NAME/        one virtual environment per app version and backend
    HOME/envs/NAME/ads-env.json   what it holds; "verified" is set only after the check passed
    HOME/cache/            uv's cache, kept so a repair or reinstall works offline
    HOME/python/           Pythons that uv manages (when no --python is given)
    HOME/launcher/         the uv binary, unpacked from the launcher on first use

Only `current` is ever started. A new environment is `pending` until verified, then becomes
`current` and the old current becomes `previous` (for --rollback). After a rollback, `pinned`
holds the launcher version that rolled back, which then keeps starting the older environment
instead of rebuilding its own (until --repair or a --backend choice). Every state change is a write
of a new file renamed over the old one, so a kill leaves either the old or the new state.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

APP_DIR_NAME = "AnimateDiffStudio"
ENV_INFO = "ads-env.json"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_DIR_NAME, appauthor=False))


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Env:
    """One environment folder and what its ads-env.json says about it."""

    path: Path
    info: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def verified(self) -> bool:
        return bool(self.info.get("verified")) and self.python.exists()

    @property
    def python(self) -> Path:
        if sys.platform == "win32":
            return self.path / "Scripts" / "python.exe"
        return self.path / "bin" / "python"

    def save(self) -> None:
        write_json_atomic(self.path / ENV_INFO, self.info)


class Home:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.envs = self.root / "envs"
        self.cache = self.root / "cache"
        self.pythons = self.root / "python"
        self.state_file = self.root / "state.json"

    def state(self) -> dict:
        state = read_json(self.state_file)
        return {key: state.get(key) for key in ("current", "previous", "pending", "pinned")}

    def set_state(self, **changes: str | None) -> dict:
        state = self.state()
        state.update(changes)
        write_json_atomic(self.state_file, state)
        return state

    def env(self, name: str | None) -> Env | None:
        if not name:
            return None
        path = self.envs / name
        if not path.is_dir():
            return None
        return Env(path, read_json(path / ENV_INFO))

    def current(self) -> Env | None:
        env = self.env(self.state()["current"])
        return env if env and env.verified else None

    def previous(self) -> Env | None:
        env = self.env(self.state()["previous"])
        return env if env and env.verified else None

    def new_env_name(self, version: str, backend: str) -> str:
        base = f"{version}-{backend}"
        number = 1
        while (self.envs / f"{base}-{number}").exists():
            number += 1
        return f"{base}-{number}"

    @contextmanager
    def lock(self):
        """One launcher at a time installs into HOME; the OS drops the lock if we die."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / "launcher.lock", "a+")  # noqa: SIM115
        try:
            if sys.platform == "win32":
                import msvcrt

                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                except OSError as exc:
                    raise BusyError(self.root) from exc
            else:
                import fcntl

                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    raise BusyError(self.root) from exc
            yield
        finally:
            handle.close()


class BusyError(Exception):
    def __init__(self, root: Path) -> None:
        super().__init__(f"another AnimateDiff Studio launcher is installing into {root}; "
                         "wait for it to finish")
