"""A small Hugging Face Hub stand-in on 127.0.0.1 for download tests and the benchmark.

It serves model folders in the Hub's URL layout, as much of it as huggingface_hub's download
code uses:

- GET /api/models/{repo}[/revision/{rev}]  -> JSON with `sha` and `siblings` (name, size)
- HEAD|GET /{repo}/resolve/{rev}/{path}    -> the file, with X-Repo-Commit and ETag headers;
  GET honours `Range: bytes=N-` (206 + Content-Range), which is how a dropped transfer resumes
- an unknown repo or file answers 404 with the Hub's X-Error-Code header.

Knobs for tests: `rate` (bytes per second, to make a transfer last), `drop_once` (paths whose
first GET is cut off half-way), `stall` (accept connections and never answer).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Repo:
    def __init__(self, repo_id: str, folder: Path) -> None:
        self.repo_id = repo_id
        self.files: dict[str, bytes] = {}
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                self.files[path.relative_to(folder).as_posix()] = path.read_bytes()
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(self.files):
            digest.update(name.encode() + self.files[name])
        self.commit = digest.hexdigest()
        self.etags = {name: hashlib.sha256(data).hexdigest() for name, data in self.files.items()}


class FakeHub:
    def __init__(self, repos: dict[str, Path], rate: float | None = None) -> None:
        self.repos = {repo_id: Repo(repo_id, folder) for repo_id, folder in repos.items()}
        self.rate = rate
        self.drop_once: set[str] = set()
        self.stall = False
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def file_requests(self, method: str = "GET") -> list[str]:
        return [path for m, path in self.requests if m == method and "/resolve/" in path]


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _error(self, status: int, code: str, commit: str | None = None) -> None:
        body = json.dumps({"error": code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        hub = self.hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append((self.command, path))
        if hub.stall:
            time.sleep(60)
            return
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = hub.repos.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self._error(404, "RepoNotFound")
            body = json.dumps(
                {
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "sha": repo.commit,
                    "private": False,
                    "siblings": [
                        {"rfilename": n, "size": len(d), "blobId": repo.etags[n][:40]}
                        for n, d in repo.files.items()
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = hub.repos.get(f"{parts[0]}/{parts[1]}")
            if repo is None:
                return self._error(404, "RepoNotFound")
            name = "/".join(parts[4:])
            if name not in repo.files:
                return self._error(404, "EntryNotFound", repo.commit)
            return self._send_file(repo, name)
        return self._error(404, "RepoNotFound")

    def _send_file(self, repo: Repo, name: str) -> None:
        hub = self.hub
        data = repo.files[name]
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and self.command == "GET":
            start = int(ranged[6:].split("-")[0] or 0)
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", f'"{repo.etags[name]}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return
        key = f"{repo.repo_id}/{name}"
        cut = len(body) // 2 if key in hub.drop_once else None
        if cut is not None:
            hub.drop_once.discard(key)
        chunk = 64 * 1024
        sent = 0
        started = time.monotonic()
        while sent < len(body):
            if cut is not None and sent >= cut:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            piece = body[sent : sent + chunk]
            try:
                self.wfile.write(piece)
            except OSError:
                self.close_connection = True
                return
            sent += len(piece)
            hub.bytes_sent += len(piece)
            if hub.rate:
                ahead = sent / hub.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

    do_GET = _route
    do_HEAD = _route
