"""The download path's overhead over a raw transfer of the same bytes from the same server.

A Hub stand-in on 127.0.0.1 (tests/hub_server.py) serves a repo of random files. The raw
baseline streams each file with plain http.client into a file; the measured path is
backend.downloads.download() (plan request, huggingface_hub's HEAD + GET per file, the
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
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def raw_transfer(port: int, repo, target: Path) -> int:
    """Plain HTTP GETs of every file, 1 MB reads, written to disk: the floor for these bytes."""
    total = 0
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for name in repo.files:
        connection.request("GET", f"/{repo.repo_id}/resolve/main/{name}")
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

    from backend import downloads

    _http.set_client_factory(_http.default_client_factory)
    downloads._installed = False  # the next download() puts its transport back
    for name in ref.files:
        hf_hub_download(ref.repo_id, name, cache_dir=cache, endpoint=endpoint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="total size of the served model")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from huggingface_hub import constants

    from backend import downloads
    from tests.hub_server import FakeHub

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
        with FakeHub({"bench/model": model}) as hub:
            os.environ["HF_ENDPOINT"] = hub.endpoint
            repo = hub.repos["bench/model"]
            ref = downloads.ModelRef("bench/model", "model", None, tuple(repo.files))
            size = sum(len(d) for d in repo.files.values())
            raw, plain, ours, reports = [], [], [], []
            for attempt in range(args.repeat):
                target = work / f"raw-{attempt}"
                target.mkdir()
                started = time.perf_counter()
                assert raw_transfer(hub.port, repo, target) == size
                raw.append(time.perf_counter() - started)
                shutil.rmtree(target)

                cache = work / f"plain-{attempt}"
                started = time.perf_counter()
                plain_hub_download(ref, cache, hub.endpoint)
                plain.append(time.perf_counter() - started)
                shutil.rmtree(cache)

                cache = work / f"cache-{attempt}"
                started = time.perf_counter()
                downloads.download([ref], on_progress=reports.append, cache_dir=cache)
                ours.append(time.perf_counter() - started)
                assert reports[-1].step == size
                shutil.rmtree(cache)
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
    print(f"backend.downloads.download: {ours_s:.3f} s  ({mb / ours_s:.0f} MB/s)")
    print(
        f"overhead: {ours_s - raw_s:+.3f} s, ratio {ours_s / raw_s:.2f}x the raw transfer "
        f"(huggingface_hub alone: {plain_s / raw_s:.2f}x; ours over it: {ours_s / plain_s:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
