"""The worker/client agreement without a broker: JSON only, the settings that make a lost job
come back, broker URLs, lossless frames, and the bad-input exits of the remote commands."""

from __future__ import annotations

import ssl
import subprocess
import sys

import numpy as np
import pytest

from backend.core.errors import InputError
from backend.remote.transport import (
    broker_url,
    decode_frames,
    encode_frames,
    make_app,
    model_key,
    model_queue,
    safe_url,
    tls_options,
)
from tests.remote_fixtures import ROOT, env


def test_app_accepts_json_only_and_requeues_lost_jobs():
    conf = make_app("amqp://u:p@127.0.0.1:1//").conf
    assert list(conf.accept_content) == ["json"] and list(conf.result_accept_content) == ["json"]
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.worker_concurrency == 1
    assert conf.result_backend == "rpc://"


def test_broker_url_from_option_or_environment(monkeypatch):
    monkeypatch.delenv("ADS_BROKER_URL", raising=False)
    with pytest.raises(InputError, match="ADS_BROKER_URL"):
        broker_url(None)
    monkeypatch.setenv("ADS_BROKER_URL", "amqps://u:secret@host:5671//")
    assert broker_url("") == "amqps://u:secret@host:5671//"
    assert broker_url("amqp://a:b@c//") == "amqp://a:b@c//"
    with pytest.raises(InputError, match="amqp"):
        broker_url("redis://u:secret@host/0")
    assert "secret" not in safe_url("amqps://u:secret@host:5671//")


def test_tls_verifies_certificate_and_host_name(monkeypatch, tmp_path):
    monkeypatch.delenv("ADS_BROKER_CA", raising=False)
    assert tls_options("amqp://u:p@host//") is None
    options = tls_options("amqps://u:p@broker.example:5671//")
    assert options == {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "broker.example"}
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("ADS_BROKER_CA", str(ca))
    assert tls_options("amqps://u:p@h//")["ca_certs"] == str(ca)
    assert make_app("amqps://u:p@h//").conf.broker_use_ssl["server_hostname"] == "h"


def test_frames_travel_losslessly():
    frames = np.random.default_rng(0).integers(0, 256, (3, 24, 40, 3), dtype=np.uint8)
    assert np.array_equal(decode_frames(encode_frames(frames)), frames)


def test_model_queue_moves_waiting_jobs_to_the_shared_queue():
    queue = model_queue(model_key("base", "adapter"))
    assert queue.name.startswith("ads.model.")
    assert queue.queue_arguments["x-dead-letter-exchange"] == "ads.render"
    assert queue.queue_arguments["x-message-ttl"] > 0
    assert model_key("base", "adapter") != model_key("base", "other")


@pytest.mark.parametrize("args, message", [
    (["worker", "--broker", "redis://localhost//"], "expected amqp"),
    (["worker", "--broker", "amqp://u:p@h//", "--device", "tpu"], "--device"),
    (["batch", "--prompt", "x", "--output-dir", "out", "--seeds", "9:1"], "--seeds"),
    (["batch", "--prompt", "x", "--output-dir", "out"], "--seeds A:B, --prompts FILE or --requests FILE"),
    (["generate", "--prompt", "x", "--output", "o.gif", "--remote", "http://host"], "expected amqp"),
])
def test_bad_remote_arguments_exit_2(args, message, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=tmp_path, env=env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_generate_remote_without_url_uses_environment(tmp_path):
    environment = env()
    environment.pop("ADS_BROKER_URL", None)
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--prompt", "x",
                           "--output", "o.gif", "--remote"], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "ADS_BROKER_URL" in done.stderr
