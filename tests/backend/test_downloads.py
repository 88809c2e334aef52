"""Model downloads through huggingface_hub's real download code, against a Hub stand-in on
127.0.0.1 (tests/hub_server.py) serving the tiny demo model in the Hub's URL layout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from backend.core.errors import Cancelled
from backend.core.request import ModelSpec
from backend.hub import downloads
from backend.hub.downloads import DownloadError, HubUnreachable, ModelRef
from tests.hub_server import FakeHub

BASE = ModelRef("demo/base", "base model", "model_index.json")
ADAPTER = ModelRef("demo/adapter", "motion adapter", "config.json")
UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def hub(demo_models, monkeypatch):
    """The Hub stand-in, with huggingface_hub pointed at it and online for this test (the suite
    runs with HF_HUB_OFFLINE=1 otherwise)."""
    from huggingface_hub import constants

    server = FakeHub(
        {
            "demo/base": demo_models.base,
            "demo/adapter": demo_models.motion_adapter,
            "demo/lora": demo_models.motion_lora,
        }
    ).start()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    yield server
    server.stop()


def source_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def assert_same_files(snapshot: Path, folder: Path, names) -> None:
    for name in names:
        assert (snapshot / name).read_bytes() == (folder / name).read_bytes(), name


def partial_files(cache: Path) -> list[Path]:
    return list(cache.rglob("*.incomplete"))


def test_download_reports_bytes_up_to_the_total_and_files_are_identical(hub, demo_models, tmp_path):
    cache = tmp_path / "hub"
    reports = []
    plans = [
        downloads.plan_download(BASE, cache_dir=cache),
        downloads.plan_download(ADAPTER, cache_dir=cache),
    ]
    expected = sum(p.missing_bytes for p in plans)
    assert expected > 7_000_000  # the unet alone is several MB
    snapshots = downloads.download_plans(plans, on_progress=reports.append, cache_dir=cache)

    assert reports[-1].phase == "downloaded"
    assert reports[-1].step == reports[-1].total == expected
    steps = [r.step for r in reports]
    assert steps == sorted(steps)
    assert reports[-1].files_done == reports[-1].files_total == sum(len(p.missing) for p in plans)
    assert any(r.file == UNET and r.file_total > 4_000_000 for r in reports)
    assert_same_files(snapshots[0], demo_models.base, [f.path for f in plans[0].files])
    assert_same_files(snapshots[1], demo_models.motion_adapter, [f.path for f in plans[1].files])
    # Only what the app loads: no README, no fp16 copies.
    assert "model_index.json" in {f.path for f in plans[0].files}
    assert downloads.complete_snapshot(BASE, cache) == snapshots[0]
    assert downloads.complete_snapshot(ADAPTER, cache) == snapshots[1]
    assert partial_files(cache) == []

    # Complete files are never fetched again.
    gets = len(hub.file_requests("GET"))
    again = downloads.plan_download(BASE, cache_dir=cache)
    assert again.missing == []
    downloads.download_plans([again], cache_dir=cache)
    assert len(hub.file_requests("GET")) == gets


def test_cancel_mid_file_stops_within_a_second_and_leaves_no_partial_files(
    hub, demo_models, tmp_path
):
    cache = tmp_path / "hub"
    hub.rate = 1_500_000  # bytes/s: the 4.4 MB unet takes about 3 s
    cancel = threading.Event()
    cancelled_at = []

    def on_progress(progress) -> None:
        if progress.file == UNET and not cancel.is_set():

            def later():
                cancelled_at.append(time.monotonic())
                cancel.set()

            threading.Timer(0.6, later).start()

    with pytest.raises(Cancelled):
        downloads.download([BASE], on_progress=on_progress, cancel=cancel, cache_dir=cache)
    stopped = time.monotonic() - cancelled_at[0]
    assert stopped < 1.0, f"cancel took {stopped:.2f} s"
    time.sleep(0.3)  # the transfer thread has let go of its file by now
    assert partial_files(cache) == []
    snapshot = downloads.cached_snapshot("demo/base", cache)
    assert snapshot is None or not (snapshot / UNET).exists()
    assert downloads.complete_snapshot(BASE, cache) is None

    hub.rate = None
    before = set(hub.file_requests("GET"))
    snapshots = downloads.download([BASE], cache_dir=cache)
    fetched = [p for p in hub.file_requests("GET") if p not in before or p.endswith(UNET)]
    assert any(p.endswith(UNET) for p in fetched)
    assert source_files(demo_models.base)[UNET] == (snapshots[0] / UNET).read_bytes()
    assert downloads.complete_snapshot(BASE, cache) is not None
    assert partial_files(cache) == []


def test_a_connection_dropped_mid_file_is_retried(hub, demo_models, tmp_path):
    cache = tmp_path / "hub"
    hub.drop_once.add(f"demo/base/{UNET}")
    snapshots = downloads.download([BASE], cache_dir=cache)
    unet_gets = [p for p in hub.file_requests("GET") if p.endswith(UNET)]
    assert len(unet_gets) == 2  # cut off half-way, then resumed
    assert (snapshots[0] / UNET).read_bytes() == (demo_models.base / UNET).read_bytes()
    assert partial_files(cache) == []


def test_leftovers_of_a_killed_download_are_removed(hub, tmp_path):
    cache = tmp_path / "hub"
    blobs = downloads.repo_folder("demo/base", cache) / "blobs"
    blobs.mkdir(parents=True)
    stale = blobs / "0123abcd.1a2b3c4d.incomplete"
    stale.write_bytes(b"half a file")
    downloads.download([BASE], cache_dir=cache)
    assert not stale.exists()
    assert partial_files(cache) == []


def test_uncached_model_with_the_hub_gone_is_said_within_two_seconds(hub, tmp_path):
    hub.stop()
    spec = ModelSpec(base_model="demo/base", motion_adapter="demo/adapter")
    started = time.monotonic()
    with pytest.raises(HubUnreachable) as caught:
        downloads.prepare_models(spec, cache_dir=tmp_path / "hub")
    assert time.monotonic() - started < 2.0
    message = str(caught.value)
    assert "demo/base" in message and "cannot be reached" in message
    assert "models download demo/base" in message


def test_a_hub_that_never_answers_is_a_timeout_not_a_hang(hub, tmp_path):
    hub.stall = True
    started = time.monotonic()
    with pytest.raises(HubUnreachable, match="cannot be reached"):
        downloads.plan_download(BASE, cache_dir=tmp_path / "hub")
    assert time.monotonic() - started < downloads.CONNECT_TIMEOUT + 1.0


def test_offline_mode_is_said_at_once(demo_models, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    started = time.monotonic()
    with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE"):
        downloads.prepare_models(
            ModelSpec(base_model="demo/base", motion_adapter=str(demo_models.motion_adapter)),
            cache_dir=tmp_path / "hub",
        )
    assert time.monotonic() - started < 0.5


def test_not_enough_free_space_is_refused_before_any_byte(hub, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DownloadError, match="not enough free disk space"):
        downloads.download([BASE], cache_dir=tmp_path / "hub")
    assert hub.file_requests("GET") == []


def test_unknown_repo_is_a_clear_input_error(hub, tmp_path):
    with pytest.raises(downloads.InputError, match="no such model on the Hugging Face Hub"):
        downloads.plan_download(
            ModelRef("demo/nothing", "base model", "model_index.json"), cache_dir=tmp_path
        )


def test_a_cached_hub_id_loads_from_its_snapshot_folder(hub, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from backend.models.sources import resolve_source

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert resolve_source("demo/adapter", "motion adapter", marker="config.json").kind == "hub"
    downloads.download([ADAPTER])
    source = resolve_source("demo/adapter", "motion adapter", marker="config.json")
    assert source.kind == "folder" and Path(source.location) == downloads.cached_snapshot(
        "demo/adapter"
    )
    assert source.label == "demo/adapter"


def test_select_files_picks_what_diffusers_loads():
    names = [
        "model_index.json",
        "README.md",
        "v1-5-pruned.safetensors",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "vae/config.json",
        "vae/diffusion_pytorch_model.bin",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
        "safety_checker/model.safetensors",
    ]
    chosen = downloads.select_files(BASE, names)
    assert set(chosen) == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.bin",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    }
    single = ModelRef(
        "ByteDance/AnimateDiff-Lightning",
        "motion adapter",
        "config.json",
        ("animatediff_lightning_4step_diffusers.safetensors",),
    )
    assert downloads.select_files(
        single, ["animatediff_lightning_4step_diffusers.safetensors", "x"]
    ) == ["animatediff_lightning_4step_diffusers.safetensors"]


def test_a_full_disk_mid_file_is_said_clearly_and_leaves_nothing_that_looks_complete(
    hub, tmp_path, monkeypatch
):
    import errno

    cache = tmp_path / "hub"
    real_add = downloads._Tracker.add

    def add(self, count):
        # The disk fills up while the unet arrives: the write fails as a full disk fails it.
        if self.file == UNET and self.file_done + count > 1_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_add(self, count)

    monkeypatch.setattr(downloads._Tracker, "add", add)
    with pytest.raises(DownloadError, match="the disk is full"):
        downloads.download([BASE], cache_dir=cache)
    assert partial_files(cache) == []
    snapshot = downloads.cached_snapshot("demo/base", cache)
    assert snapshot is None or not (snapshot / UNET).exists()
    assert downloads.complete_snapshot(BASE, cache) is None
    monkeypatch.setattr(downloads._Tracker, "add", real_add)
    downloads.download([BASE], cache_dir=cache)
    assert downloads.complete_snapshot(BASE, cache) is not None


def test_a_hub_that_drops_every_connection_is_unreachable(hub, tmp_path):
    from tests.backend.test_cli_models import ConnectionCounter

    hub.stop()
    with ConnectionCounter(hub.port) as attempts:
        with pytest.raises(HubUnreachable, match="cannot be reached"):
            downloads.plan_download(BASE, cache_dir=tmp_path / "hub")
    assert attempts.count >= 1
