"""What the client and the render workers agree on: the Celery app's settings, queue names,
how frames travel, and a quick broker check.

Only Celery/kombu here, never torch: the command line checks the broker with this module before
it pays for importing torch, so a wrong URL or password is reported within a few seconds.

Safety: every message is JSON (`accept_content=["json"]`), so a message cannot make a worker or
a client unpickle anything. Frames travel as base64 PNG (lossless).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import time
from typing import Any

import numpy as np

from backend.core.errors import InputError, StudioError, redact_urls

BROKER_ENV = "ADS_BROKER_URL"
CA_ENV = "ADS_BROKER_CA"  # a CA bundle for amqps when the broker's certificate is your own
TASK_NAME = "animatediff_studio.render"
RENDER_QUEUE = "ads.render"
CANCEL_EXCHANGE = "ads.cancel"
MODEL_QUEUE_PREFIX = "ads.model."
# Workers that consume a model queue and are running a job each hold one consumer on that
# model's busy queue (nothing is ever published there); clients read its consumer count.
BUSY_QUEUE_PREFIX = "ads.busy."
# A job routed to a worker that has its models loaded waits this long for it; then the broker
# moves it to the shared queue, where any worker takes it ("prefer", never "require").
MODEL_QUEUE_WAIT_MS = 15_000
MODEL_QUEUE_EXPIRES_MS = 24 * 3600 * 1000
# RabbitMQ 4's default max_message_size; 3.x allows 128 MiB. Workers refuse larger results with
# a message instead of having the broker drop the connection.
DEFAULT_MAX_RESULT_MB = 16.0
CONNECT_TIMEOUT = 3.0


# Celery's package is a lazy module; two threads importing from it at once (the window's broker
# check and a job) can see it half-built. One import at a time.
_celery_import = threading.Lock()


class BrokerError(StudioError):
    """The broker cannot be reached or refuses us."""


def broker_url(option: str | None) -> str:
    """The URL from the option, else from ADS_BROKER_URL; bad input when neither is given."""
    url = (option or os.environ.get(BROKER_ENV, "")).strip()
    if not url:
        raise InputError(
            f"no broker URL: pass one (e.g. amqp://user:password@host:5672//) or set {BROKER_ENV}"
        )
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("amqp", "amqps", "pyamqp"):
        raise InputError(
            f"broker URL {safe_url(url)!r}: expected amqp://… or amqps://… (RabbitMQ)"
        )
    return url


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


def tls_options(url: str) -> dict[str, Any] | None:
    """For amqps: verify the broker's certificate and host name (py-amqp checks the name only
    when told it), against ADS_BROKER_CA or the system's CAs. None for plain amqp."""
    import ssl
    from urllib.parse import urlsplit

    if not url.lower().startswith("amqps://"):
        return None
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": urlsplit(url).hostname}
    ca = os.environ.get(CA_ENV)
    if ca:
        if not os.path.isfile(ca):
            raise InputError(f"{CA_ENV}={ca!r}: no such file")
        options["ca_certs"] = ca
    return options


def check_broker(url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Connect once and close; BrokerError with a plain message when that fails."""
    from amqp.exceptions import AccessRefused, NotAllowed
    from kombu import Connection

    started = time.monotonic()
    tls = tls_options(url)
    connection = Connection(
        url, connect_timeout=timeout, ssl=tls or False, transport_options={"max_retries": 0}
    )
    try:
        connection.connect()
    except AccessRefused:
        raise BrokerError(
            f"the broker at {safe_url(url)} refused the user name or password"
        ) from None
    except NotAllowed as exc:
        raise BrokerError(f"the broker at {safe_url(url)} refused access: {redact_urls(str(exc))}") from None
    except (TimeoutError, OSError) as exc:
        waited = time.monotonic() - started
        raise BrokerError(
            f"cannot reach the broker at {safe_url(url)} ({_reason(exc)}, after {waited:.1f} s); "
            "is RabbitMQ running there and the port open?"
        ) from None
    except Exception as exc:  # noqa: BLE001 - amqp raises many kinds; all mean "not usable"
        raise BrokerError(f"cannot use the broker at {safe_url(url)}: {_reason(exc)}") from None
    finally:
        connection.release()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact_urls(text.splitlines()[0])


def make_app(url: str, name: str = "animatediff_studio"):
    """The Celery app both sides use. The settings that make a lost worker's job come back:
    acknowledge late, reject (requeue) when the worker process is lost, one job per worker."""
    with _celery_import:
        from celery import Celery
    from kombu import Exchange, Queue

    app = Celery(name, broker=url, backend="rpc://", set_as_current=False)
    tls = tls_options(url)
    if tls:
        app.conf.broker_use_ssl = tls
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_default_queue=RENDER_QUEUE,
        task_queues=[Queue(RENDER_QUEUE, Exchange(RENDER_QUEUE, type="direct"), routing_key=RENDER_QUEUE)],
        task_routes={TASK_NAME: {"queue": RENDER_QUEUE}},
        result_persistent=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=CONNECT_TIMEOUT,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_heartbeat=10,
    )
    return app


def model_key(base_model: str, motion_adapter: str) -> str:
    digest = hashlib.sha1(f"{base_model}\n{motion_adapter}".encode()).hexdigest()
    return digest[:16]


def model_queue(key: str):
    """The queue of jobs for a worker that has these models loaded. Its messages expire into
    the shared render queue after MODEL_QUEUE_WAIT_MS, and so does a job requeued from a lost
    worker (a requeued message keeps its original expiry)."""
    from kombu import Exchange, Queue

    name = MODEL_QUEUE_PREFIX + key
    return Queue(
        name,
        Exchange(name, type="direct"),
        routing_key=name,
        queue_arguments={
            "x-message-ttl": MODEL_QUEUE_WAIT_MS,
            "x-dead-letter-exchange": RENDER_QUEUE,
            "x-dead-letter-routing-key": RENDER_QUEUE,
            "x-expires": MODEL_QUEUE_EXPIRES_MS,
        },
    )


def busy_queue(model_queue_name: str):
    """The busy marker queue of a model queue: its consumer count is how many of that queue's
    workers are running a job now, which a passive declare of the model queue cannot tell
    (a job being run is unacknowledged, not waiting)."""
    from kombu import Exchange, Queue

    name = BUSY_QUEUE_PREFIX + model_queue_name[len(MODEL_QUEUE_PREFIX):]
    return Queue(name, Exchange(name, type="direct"), routing_key=name, durable=False,
                 queue_arguments={"x-expires": MODEL_QUEUE_EXPIRES_MS})


def queue_counts(connection, name: str) -> tuple[int, int] | None:
    """(messages waiting, consumers) of a queue, or None when it does not exist. A passive
    declare: one round trip, creates nothing."""
    channel = connection.channel()
    try:
        _, messages, consumers = channel.queue_declare(queue=name, passive=True)
        return int(messages), int(consumers)
    except Exception:  # noqa: BLE001 - a missing queue closes the channel with 404
        return None
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - already closed by the broker
            pass


def encode_png(frame: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image.convert("RGB"))


def encode_frames(frames: np.ndarray) -> list[str]:
    return [encode_png(frame) for frame in frames]


def decode_frames(items: list[str]) -> np.ndarray:
    if not items:
        raise StudioError("the worker returned no frames")
    return np.stack([decode_png(item) for item in items])


def payload_bytes(value: Any) -> int:
    """The size of a JSON message body, roughly as the broker will see it."""
    import json

    return len(json.dumps(value, separators=(",", ":")).encode("utf-8"))
