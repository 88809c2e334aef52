"""The download path's overhead over a raw transfer of the same bytes from the same server.

A Hub stand-in on 127.0.0.1 (tests/hub_server.py, in a process of its own so that its threads
do not share this one's GIL) serves a repo of random files. The raw baseline streams each file
with plain http.client into a file; huggingface_hub's plain `hf_hub_download` is shown too; the
measured path is
backend.hub.downloads.download() (plan request, huggingface_hub's HEAD + GET per file, the
cancellable transport, progress, the cache's blob/symlink layout). Each runs REPEAT times into a
fresh folder; medians are compared.

    python benchmarks/download_overhead.py [--mb 256] [--files 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(folder: str) -> None:
    """The server process: serve `folder` as bench/model, print the port, run until stdin ends."""
    from tests.hub_server import FakeHub

    hub = FakeHub({"bench/model": Path(folder)}).start()
    print(hub.port, flush=True)
    sys.stdin.read()
    hub.stop()


def raw_transfer(port: int, names: list[str], target: Path) -> int:
    """Plain HTTP GETs of every file, 1 MB reads, written to disk: the floor for these bytes."""
    total = 0
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for name in names:
        connection.request("GET", f"/bench/model/resolve/main/{name}")
        response = connection.getresponse()
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            while chunk := response.read(1024 * 1024):
                handle.write(chunk)
                total += len(chunk)
    connection.close()
    return total


def plain_hub_download(ref, cache: Path, endpoint: str) -> None:
    """huggingface_hub's own download, with its default client, no progress, no cancel."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import _http

    from backend.hub import downloads

    _http.set_client_factory(_http.default_client_factory)
    downloads._installed = False  # the next download() puts its transport back
    for name in ref.files:
        hf_hub_download(ref.repo_id, name, cache_dir=cache, endpoint=endpoint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="total size of the served model")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    from huggingface_hub import constants

    from backend.hub import downloads

    constants.HF_HUB_OFFLINE = False
    work = Path(tempfile.mkdtemp(prefix="download-bench-"))
    try:
        model = work / "model"
        model.mkdir()
        (model / "config.json").write_text('{"_class_name": "MotionAdapter"}')
        per_file = args.mb * 1024 * 1024 // args.files
        for index in range(args.files):
            name = (
                "diffusion_pytorch_model.safetensors" if index == 0 else f"part-{index}.safetensors"
            )
            (model / name).write_bytes(os.urandom(per_file))
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        try:
            port = int(server.stdout.readline())
            endpoint = f"http://127.0.0.1:{port}"
            os.environ["HF_ENDPOINT"] = endpoint
            names = sorted(p.name for p in model.iterdir())
            ref = downloads.ModelRef("bench/model", "model", None, tuple(names))
            size = sum((model / n).stat().st_size for n in names)
            raw, plain, ours, reports = [], [], [], []
            cpu = {"raw": [], "plain": [], "ours": []}
            timings = {"raw": raw, "plain": plain, "ours": ours}

            def run_raw(folder: Path) -> None:
                folder.mkdir()
                assert raw_transfer(port, names, folder) == size

            def run_plain(folder: Path) -> None:
                plain_hub_download(ref, folder, endpoint)

            def run_ours(folder: Path) -> None:
                downloads.download([ref], on_progress=reports.append, cache_dir=folder)
                assert reports[-1].step == size

            order = [("raw", run_raw), ("plain", run_plain), ("ours", run_ours)]
            for attempt in range(args.repeat):
                # Each method goes first as often as the others (disk writeback, caches).
                turn = order[attempt % 3 :] + order[: attempt % 3]
                for name, method in turn:
                    folder = work / f"{name}-{attempt}"
                    started, cpu_started = time.perf_counter(), time.process_time()
                    method(folder)
                    timings[name].append(time.perf_counter() - started)
                    cpu[name].append(time.process_time() - cpu_started)
                    shutil.rmtree(folder)
        finally:
            server.stdin.close()
            server.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_s, ours_s, plain_s = (
        statistics.median(raw),
        statistics.median(ours),
        statistics.median(plain),
    )
    mb = size / 1024 / 1024
    print(f"payload: {args.files} files, {mb:.0f} MB, {args.repeat} runs each (medians)")
    print(f"raw http.client transfer:  {raw_s:.3f} s  ({mb / raw_s:.0f} MB/s)")
    print(f"hf_hub_download, plain:    {plain_s:.3f} s  ({mb / plain_s:.0f} MB/s)")
    print(f"backend.hub.downloads.download: {ours_s:.3f} s  ({mb / ours_s:.0f} MB/s)")
    print(
        f"overhead: {ours_s - raw_s:+.3f} s, ratio {ours_s / raw_s:.2f}x the raw transfer "
        f"(huggingface_hub alone: {plain_s / raw_s:.2f}x; ours over it: {ours_s / plain_s:.2f}x)"
    )
    # CPU seconds of this (client) process: steadier than wall time on a busy machine.
    c = {name: statistics.median(values) for name, values in cpu.items()}
    print(
        f"cpu: raw {c['raw']:.3f} s, plain {c['plain']:.3f} s, ours {c['ours']:.3f} s -> "
        f"ours {c['ours'] / c['raw']:.2f}x raw, {c['ours'] / c['plain']:.2f}x plain huggingface_hub"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
