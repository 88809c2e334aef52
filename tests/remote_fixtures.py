"""Fixtures for rendering on workers: one real RabbitMQ for the session and real worker
processes (`python main.py worker`) on the tiny model. Imported by the tests that need them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rabbitmq import server_script, start_broker

ROOT = Path(__file__).resolve().parents[1]
needs_rabbitmq = pytest.mark.skipif(
    server_script() is None, reason="rabbitmq-server is not installed (apt-get install rabbitmq-server)"
)


def env() -> dict[str, str]:
    values = dict(os.environ)
    values["HF_HUB_OFFLINE"] = "1"
    values["PYTHONPATH"] = str(ROOT)
    values.pop("ADS_BROKER_URL", None)
    return values


class WorkerProcess:
    """`python main.py worker` in its own process group, so a test can kill its whole tree."""

    def __init__(self, url: str, name: str, log: Path, *extra: str) -> None:
        self.url, self.name, self.log, self.extra = url, name, log, extra
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        handle = open(self.log, "ab")  # noqa: SIM115 - the child writes to it
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "worker", "--broker", self.url, "--name", self.name,
             "--device", "cpu", "--threads", "1", "--log-level", "INFO", *self.extra],
            cwd=ROOT, env=env(), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        return self

    @property
    def hostname(self) -> str:
        return self.name if "@" in self.name else f"{self.name}@{os.uname().nodename}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 180.0) -> WorkerProcess:
        deadline = time.monotonic() + timeout
        marker = f"worker {self.hostname} ready"
        while marker not in self.text():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} not ready in {timeout} s:\n{self.text()[-3000:]}")
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the whole process tree at once, as a power loss would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    if server_script() is None:
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    broker = start_broker(tmp_path_factory.mktemp("rabbitmq"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def render_workers(rabbitmq, demo_models, tmp_path_factory):
    """Two workers on the tiny model, each limited to one CPU thread. A test that kills one
    restarts it (see `revive`)."""
    logs = tmp_path_factory.mktemp("workers")
    workers = [
        WorkerProcess(rabbitmq.url, name, logs / f"{name}.log", "--max-result-mb", "0.5").start()
        for name in ("wa", "wb")
    ]
    try:
        for worker in workers:
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def revive(worker: WorkerProcess) -> WorkerProcess:
    if worker.process is None or worker.process.poll() is not None:
        worker.start().wait_ready()
    return worker
