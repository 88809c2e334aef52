"""`python main.py models list|download|delete|scan`: the model manager on the command line.

Downloads show tqdm bars on stderr (overall bytes, with the current file in the description);
the same bar class serves `generate` when its models are not cached yet.
"""

from __future__ import annotations

import argparse
import json
import sys

from backend.core.units import format_bytes
from backend.hub.downloads import DownloadProgress


def add_parser(commands) -> None:
    models = commands.add_parser("models", help="list, download, delete or scan models")
    actions = models.add_subparsers(dest="action", required=True, parser_class=type(models))
    listing = actions.add_parser(
        "list", help="models in the Hugging Face cache and in your model folders"
    )
    listing.add_argument("--json", action="store_true")
    download = actions.add_parser(
        "download", help="download models from the Hugging Face Hub into its cache"
    )
    download.add_argument("ids", nargs="+", metavar="ID", help="a catalog id or any Hub id")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    delete = actions.add_parser("delete", help="remove a model from the Hugging Face cache")
    delete.add_argument("id", metavar="ID")
    scan = actions.add_parser(
        "scan", help="classify every .safetensors in a folder from its header"
    )
    scan.add_argument("folder")
    scan.add_argument("--json", action="store_true")
    scan.add_argument(
        "--add",
        action="store_true",
        help="also remember the folder: the app's model fields offer its models",
    )


class DownloadBar:
    """tqdm on stderr for download progress reports."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, progress: DownloadProgress) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=progress.total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="downloading",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        if progress.total != self.bar.total:
            self.bar.total = progress.total
        name = progress.file.rsplit("/", 1)[-1]
        if name:
            self.bar.set_description(
                f"{progress.files_done}/{progress.files_total} {name[:32]}", refresh=False
            )
        self.bar.update(progress.step - self.bar.n)
        if progress.phase == "downloaded":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    return {"list": run_list, "download": run_download, "delete": run_delete, "scan": run_scan}[
        args.action
    ](args)


def run_list(args: argparse.Namespace) -> int:
    from backend.hub.catalog import cached_models, find_entry
    from backend.hub.scan import local_models

    cached = cached_models()
    local = local_models()
    if args.json:
        rows = [m.to_dict() for m in cached] + [{**m.to_dict(), "source": "local"} for m in local]
        print(json.dumps(rows, indent=2))
        return 0
    if not cached and not local:
        print(
            "no models yet: `models download ID` fetches one, `models scan FOLDER --add` adds a folder"
        )
        return 0
    for model in cached:
        entry = find_entry(model.repo_id)
        state = "" if model.complete else "  (incomplete: download it again)"
        name = f"  {entry.name}" if entry else ""
        print(
            f"{model.repo_id:<60} {model.kind:<15} {format_bytes(model.size_on_disk):>10}{name}{state}"
        )
    for model in local:
        note = f"  ({model.note})" if model.note else ""
        print(f"{model.path:<60} {model.kind:<15} {format_bytes(model.size):>10}{note}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from backend.hub.catalog import ref_for_id
    from backend.hub.downloads import download_plans, plan_download

    plans = [plan_download(ref_for_id(model_id)) for model_id in args.ids]
    needed = sum(plan.missing_bytes for plan in plans)
    files = sum(len(plan.missing) for plan in plans)
    if not files:
        print("already downloaded: " + ", ".join(args.ids), file=sys.stderr)
        return 0
    print(f"downloading {files} files, {format_bytes(needed)}", file=sys.stderr)
    bar = DownloadBar()
    try:
        download_plans(plans, on_progress=None if args.quiet else bar)
    finally:
        bar.close()
    print("downloaded: " + ", ".join(args.ids), file=sys.stderr)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from backend.hub.catalog import delete_model

    freed = delete_model(args.id)
    print(f"deleted {args.id} ({format_bytes(freed)} freed)", file=sys.stderr)
    return 0


def run_scan(args: argparse.Namespace) -> int:
    from backend.hub.scan import add_folder, scan_folder

    models = scan_folder(args.folder)
    if args.add:
        add_folder(args.folder)
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return 0
    for model in models:
        usable = "" if model.usable else "  not usable here"
        note = f" ({model.note})" if model.note else ""
        print(f"{model.label:<28} {format_bytes(model.size):>10}  {model.path}{usable}{note}")
    if not models:
        print(f"no models (.safetensors files or diffusers folders) in {args.folder}", file=sys.stderr)
    return 0
