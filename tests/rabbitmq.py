"""A real RabbitMQ broker for tests, on loopback, started and stopped by the test run.

Runs the server script that execs Erlang directly (not /usr/sbin/rabbitmq-server, which switches
to the rabbitmq user), with its data, logs and HOME (the Erlang cookie) in a temporary folder,
its own epmd on a private port, and the AMQP and distribution ports bound to 127.0.0.1. The
user and password come from the generated rabbitmq.conf.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "ads", "ads-test-secret"
VHOSTS = ("/", "idle")  # "idle" never gets a worker unless a test starts one there


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions() -> dict:
    permissions = {"configure": ".*", "write": ".*", "read": ".*"}
    return {
        "users": [{
            "name": USER,
            "password_hash": password_hash(PASSWORD),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["administrator"],
        }],
        "vhosts": [{"name": name} for name in VHOSTS],
        "permissions": [{"user": USER, "vhost": name, **permissions} for name in VHOSTS],
    }


def server_script() -> str | None:
    candidates = ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
    candidates += sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    for path in candidates:
        if os.path.exists(path) and shutil.which("epmd"):
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> bool:
    """A throwaway CA and a certificate for localhost/127.0.0.1 signed by it; False without
    openssl."""
    if not shutil.which("openssl"):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    commands = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=ads-test-ca"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"],
    ]
    for command in commands:
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return True


@dataclass
class Broker:
    root: Path
    amqp_port: int
    epmd: subprocess.Popen
    server: subprocess.Popen
    tls_port: int | None = None

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.pem"

    def tls_url(self, host: str = "localhost") -> str:
        return f"amqps://{USER}:{PASSWORD}@{host}:{self.tls_port}//"

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{PASSWORD}@127.0.0.1:{self.amqp_port}//"

    def url_with(self, password: str = PASSWORD, vhost: str = "/") -> str:
        path = "/" if vhost == "/" else vhost
        return f"amqp://{USER}:{password}@127.0.0.1:{self.amqp_port}/{path}"

    def log(self) -> str:
        parts = []
        for path in sorted(self.root.glob("log/*.log")) + [self.root / "server.out"]:
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        for process in (self.server, self.epmd):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def start_broker(root: Path, startup_timeout: float = 60.0, max_message_mb: int = 128) -> Broker:
    script = server_script()
    if script is None:
        raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    for sub in ("home", "mnesia", "log", "plugins"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    amqp_port, dist_port, epmd_port = free_port(), free_port(), free_port()
    tls_port = free_port() if make_certificates(root / "tls") else None
    tls_conf = ""
    if tls_port:
        tls = root / "tls"
        tls_conf = (
            f"listeners.ssl.1 = 127.0.0.1:{tls_port}\n"
            f"ssl_options.cacertfile = {tls / 'ca.pem'}\n"
            f"ssl_options.certfile = {tls / 'server.pem'}\n"
            f"ssl_options.keyfile = {tls / 'server.key'}\n"
            "ssl_options.verify = verify_none\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
        )
    (root / "definitions.json").write_text(json.dumps(definitions()))
    (root / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{amqp_port}\n"
        f"load_definitions = {root / 'definitions.json'}\n"
        "loopback_users = none\n"
        f"max_message_size = {max_message_mb * 1024 * 1024}\n"
        "log.console = false\n"
        "log.file.level = warning\n"
        + tls_conf
    )
    (root / "enabled_plugins").write_text("[].\n")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("RABBITMQ_", "ERL_"))
    }
    env.update(
        HOME=str(root / "home"),
        ERL_EPMD_PORT=str(epmd_port),
        ERL_EPMD_ADDRESS="127.0.0.1",
        RABBITMQ_NODENAME=f"ads-test-{amqp_port}@localhost",
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_DIST_PORT=str(dist_port),
        RABBITMQ_MNESIA_BASE=str(root / "mnesia"),
        RABBITMQ_LOG_BASE=str(root / "log"),
        RABBITMQ_CONFIG_FILE=str(root / "rabbitmq.conf"),
        RABBITMQ_ADVANCED_CONFIG_FILE=str(root / "advanced.config"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(root / "enabled_plugins"),
        RABBITMQ_PLUGINS_EXPAND_DIR=str(root / "plugins"),
        RABBITMQ_CONF_ENV_FILE=str(root / "rabbitmq-env.conf"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
    )
    (root / "rabbitmq-env.conf").write_text("")
    epmd = subprocess.Popen(
        ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    out = open(root / "server.out", "wb")  # noqa: SIM115 - the server writes to it until stopped
    server = subprocess.Popen(
        [script], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=root,
    )
    out.close()
    broker = Broker(root, amqp_port, epmd, server, tls_port)
    deadline = time.monotonic() + startup_timeout
    from kombu import Connection

    while True:
        if server.poll() is not None:
            log = broker.log()
            broker.stop()
            raise RuntimeError(f"rabbitmq-server exited with {server.returncode}:\n{log}")
        try:
            with Connection(broker.url, connect_timeout=1) as connection:
                connection.connect()
            return broker
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                log = broker.log()
                broker.stop()
                raise RuntimeError(f"rabbitmq-server did not start in {startup_timeout} s:\n{log}") from None
            time.sleep(0.3)
