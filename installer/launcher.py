"""The launcher's command line: build the environment on first run, then start the app from it.

    AnimateDiffStudio-<version>-<os>-<arch> [options] [-- APP ARGS]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from installer.home import BusyError, Env, Home, default_home
from installer.install import (
    Cancelled,
    Installer,
    InstallError,
    Progress,
    Sources,
    child_environment,
    damage_text,
)
from installer.plan import ROOT, Plan, UsageError, bundle_dir, make_plan
from installer.qt_runtime import window_problem
from installer.records import damaged_packages, file_digest
from installer.targets import BACKENDS, project_version

APP_START = "import sys; from main import main; sys.exit(main())"


def build_info() -> dict:
    info_file = bundle_dir() / "build_info.json"
    if info_file.exists():
        return json.loads(info_file.read_text(encoding="utf-8"))
    version = project_version(ROOT / "pyproject.toml")  # from source: a wheel in dist/
    return {"version": version, "app_wheel": f"animatediff_studio-{version}-py3-none-any.whl"}


def app_wheel_path(info: dict) -> Path:
    for folder in (bundle_dir() / "app", ROOT / "dist"):
        if (folder / info["app_wheel"]).exists():
            return folder / info["app_wheel"]
    raise UsageError(f"the app wheel {info['app_wheel']} is not bundled; build the launcher with "
                     "scripts/build_installer.py")


def uv_path(home: Home, info: dict) -> str:
    """The uv binary: unpacked once from the launcher into HOME, or uv from the uv wheel/PATH.

    The unpacked binary is checked against the sha256 recorded at build time before every use,
    and unpacked again when it differs.
    """
    packed = bundle_dir() / "uv" / info.get("uv", "")
    if info.get("uv") and packed.is_file():
        name = "uv.exe" if sys.platform == "win32" else "uv"
        expected = info["uv_sha256"]
        target = home.root / "launcher" / f"uv-{expected[:16]}" / name
        if not target.exists() or file_digest(target).hex() != expected:
            import lzma

            data = lzma.decompress(packed.read_bytes())
            if hashlib.sha256(data).hexdigest() != expected:
                raise UsageError("the bundled uv is damaged (its sha256 is not the one recorded "
                                 "when the launcher was built); download the launcher again")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(name + ".part")
            tmp.write_bytes(data)
            tmp.chmod(0o755)
            os.replace(tmp, target)
        return str(target)
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise UsageError("the uv binary is not bundled and not on PATH")


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    app_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, app_args = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(
        prog="AnimateDiffStudio",
        description="Sets up AnimateDiff Studio on first run (the right PyTorch for your GPU) "
                    "and starts it. Everything after -- goes to the app.",
    )
    parser.add_argument("--unattended", action="store_true",
                        help="no setup window: plain progress lines, no questions")
    parser.add_argument("--backend", choices=["auto", *BACKENDS], default="auto",
                        help="which PyTorch build to install (auto: detect the GPU)")
    parser.add_argument("--home", type=Path, help="where environments go (default: the "
                        "platform's user data folder)")
    parser.add_argument("--python", help="a Python interpreter to build on (default: one "
                        "that uv downloads and manages)")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR",
                        help="a folder of wheels to install from (repeatable; UV_FIND_LINKS "
                        "and PIP_FIND_LINKS are honoured too)")
    parser.add_argument("--index-url", help="the package index to use instead of PyPI")
    parser.add_argument("--offline", action="store_true",
                        help="install only from uv's cache and --find-links folders")
    parser.add_argument("--no-launch", action="store_true", help="set up, but do not start")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (GPU, backend, lock, sizes) and install nothing")
    parser.add_argument("--repair", action="store_true",
                        help="rebuild the current environment from scratch")
    parser.add_argument("--rollback", action="store_true",
                        help="go back to the previous environment")
    parser.add_argument("--uninstall", action="store_true",
                        help="remove the environments and the launcher's data (asks first)")
    parser.add_argument("--desktop-entry", action="store_true",
                        help="Linux: add the app to the applications menu and let it open "
                        ".adsproj files")
    # Takes a picture of the setup window and closes it (README screenshots, tests).
    parser.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise SystemExit(int(exc.code or 0)) from None
    if sum([args.repair, args.rollback, args.uninstall]) > 1:
        raise UsageError("--repair, --rollback and --uninstall exclude each other")
    return args, app_args


def say(text: str) -> None:
    print(text, flush=True)


class Launcher:
    def __init__(self, args: argparse.Namespace, app_args: list[str]) -> None:
        self.args = args
        self.app_args = app_args
        self.home = Home(args.home or default_home())
        self.info = build_info()
        self.version = self.info["version"]

    # -- starting the app ----------------------------------------------------------------

    def launch(self, env: Env) -> int:
        if self.args.no_launch:
            say(f"Ready: {env.path}")
            return 0
        command = [str(env.python), "-I", "-c", APP_START, *self.app_args]
        process = subprocess.Popen(command, env=child_environment(self.home))
        try:
            code = process.wait()
        except KeyboardInterrupt:
            code = process.wait()
            return 130 if code in (-2, 130) else code
        return 128 - code if code < 0 else code

    def run(self) -> int:
        if self.args.uninstall:
            return self.uninstall()
        if self.args.rollback:
            return self.rollback()
        if self.args.desktop_entry:
            from installer.desktop import install_desktop_entry

            try:
                written = install_desktop_entry(launcher_command())
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            for path in written:
                say(f"Wrote {path}")
            if self.args.no_launch:
                return 0
        current = self.home.current()
        wanted = self.args.backend
        pinned = self.home.state()["pinned"] == self.version and wanted == "auto"
        if (current and not self.args.repair and not self.args.dry_run
                and (current.info.get("version") == self.version or pinned)
                and wanted in ("auto", current.info.get("backend"))):
            return self.launch(current)
        if current and wanted == "auto":  # a repair or an upgrade keeps the backend
            wanted = current.info.get("backend", "auto")
        plan = make_plan(self.home, wanted)
        if self.args.dry_run:
            for line in plan.lines():
                say(line)
            if current:
                say(f"Current environment: {current.name} ({current.path})")
            say("Dry run: nothing was installed.")
            return 0
        with self.home.lock():
            env = self.setup(plan)
        if self.args.screenshot:
            return 0 if self.args.screenshot.exists() else 1
        if env is None:
            return 1
        return self.launch(env)

    # -- installing ----------------------------------------------------------------------

    def python_choice(self) -> str | None:
        """--python, else the interpreter the current environment was built on (if not uv's)."""
        if self.args.python:
            return self.args.python
        current = self.home.current()
        request = current.info.get("python_request", "") if current else ""
        return None if not request or request.startswith("uv-managed") else request

    def installer(self, plan: Plan, on_progress, cancel: threading.Event) -> Installer:
        sources = Sources.from_environment(self.args.find_links, self.args.index_url,
                                           self.args.offline)
        return Installer(self.home, plan.lock, app_wheel_path(self.info),
                         uv_path(self.home, self.info),
                         self.version, sources, self.python_choice(), on_progress, cancel,
                         self.info.get("app_wheel_sha256"))

    def env_name_for(self, plan: Plan) -> str:
        """A pending environment of the same version and lock is resumed; else a new name."""
        state = self.home.state()
        pending = self.home.env(state["pending"])
        if (pending and not pending.verified and not self.args.repair
                and pending.info.get("version") == self.version
                and pending.info.get("lock_sha256") == plan.lock.sha256):
            return pending.name
        if pending and pending.name not in (state["current"], state["previous"]):
            shutil.rmtree(pending.path, ignore_errors=True)
        return self.home.new_env_name(self.version, plan.backend)

    def build(self, plan: Plan, on_progress, cancel: threading.Event) -> Env:
        """Builds beside the current environment; switches to it only once verified."""
        name = self.env_name_for(plan)
        self.home.set_state(pending=name)
        env = self.installer(plan, on_progress, cancel).build(name)
        state = self.home.state()
        old = state["current"]
        if self.args.repair:
            self.home.set_state(current=env.name, pending=None, pinned=None)
            if old and old not in (env.name, state["previous"]):
                shutil.rmtree(self.home.envs / old, ignore_errors=True)
        else:
            self.home.set_state(current=env.name, previous=old or state["previous"],
                                pending=None, pinned=None)
        self.prune()
        return env

    def prune(self) -> None:
        """Keeps the current and previous environments; older ones only take space."""
        state = self.home.state()
        keep = {state["current"], state["previous"], state["pending"]}
        if self.home.envs.is_dir():
            for path in self.home.envs.iterdir():
                if path.name not in keep:
                    shutil.rmtree(path, ignore_errors=True)

    def setup(self, plan: Plan) -> Env | None:
        if not self.args.unattended and has_display():
            problem = window_problem(bundle_dir(), self.home.root, self.info)
            if problem is None:
                from installer.window import run_setup_window

                return run_setup_window(self, plan, self.args.screenshot)
            say(f"Note: {problem}")
        for line in plan.lines():
            say(line)
        if not plan.enough_disk:
            say(f"Error: {plan.disk_message()}")
            return None
        last = {"message": ""}

        def on_progress(progress: Progress) -> None:
            if progress.message != last["message"]:
                last["message"] = progress.message
                say(progress.message)

        try:
            env = self.build(plan, on_progress, threading.Event())
        except (InstallError, OSError) as exc:
            say(f"Error: {exc}")
            self.say_still_current()
            return None
        except (KeyboardInterrupt, Cancelled):
            say("Interrupted: run the launcher again to finish the installation.")
            self.say_still_current()
            raise SystemExit(130) from None
        say(f"Installed and verified: {env.path}")
        return env

    def say_still_current(self) -> None:
        current = self.home.current()
        if current:
            say(f"The previous environment {current.name} is still the one that starts.")

    # -- rollback and uninstall ----------------------------------------------------------

    def rollback(self) -> int:
        with self.home.lock():
            current, previous = self.home.current(), self.home.previous()
            if previous is None:
                say("Error: there is no previous environment to roll back to")
                return 1
            damaged = damaged_packages(previous.path, hashes=False)
            if damaged:
                say("Error: " + damage_text(f"the previous environment {previous.name} is "
                                            "incomplete", damaged)
                    + ". It was not switched to; the current environment still starts.")
                return 1
            self.home.set_state(current=previous.name,
                                previous=current.name if current else None, pinned=self.version)
        say(f"Rolled back to {previous.name}")
        return self.launch(previous)

    def uninstall(self) -> int:
        from installer.desktop import desktop_files

        root = self.home.root
        ours = [root / name for name in ("envs", "cache", "python", "launcher", "state.json",
                                          "launcher.lock")]
        targets = [path for path in ours + desktop_files() if path.exists()]
        if not targets:
            say(f"Nothing to remove in {root}")
            return 0
        say("This removes:")
        for path in targets:
            say(f"  {path}")
        say("Models (the Hugging Face cache) and your projects are not touched.")
        if not self.args.unattended:
            try:
                answer = input("Remove them? [y/N] ").strip().lower()
            except EOFError:
                answer = ""
            if answer not in ("y", "yes"):
                say("Nothing was removed.")
                return 1
        with self.home.lock():
            for path in targets:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.name != "launcher.lock":
                    path.unlink()
        (root / "launcher.lock").unlink(missing_ok=True)
        try:
            root.rmdir()  # only when nothing else is in it
        except OSError:
            pass
        say("Uninstalled.")
        return 0


def launcher_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, str(ROOT / "installer" / "entry.py")]


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, app_args = parse_args(argv)
        return Launcher(args, app_args).run()
    except SystemExit as exc:
        return int(exc.code or 0)
    except UsageError as exc:
        print(f"AnimateDiffStudio: {exc}", file=sys.stderr)
        return 2
    except BusyError as exc:
        print(f"AnimateDiffStudio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
