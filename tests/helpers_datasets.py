"""Shared by the datasets tests: tiny fake MNIST splits, md5s, and local HTTP servers on 127.0.0.1
(no test reaches the internet)."""
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from datasets import catalog, download
from datasets.idx import write_idx


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fake_split(seed, count=5):
    """A tiny split: uint8 (count, 28, 28) images and uint8 labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    return images, rng.integers(0, 10, size=count, dtype=np.uint8)


def write_split(directory, split, images, labels, suffix=".gz"):
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, array in zip(catalog.SPLITS[split], (images, labels)):
        write_idx(directory / (file_name + suffix), array)


def md5_of(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


class ScriptedServer:
    """Serve `files` (URL path -> bytes) on 127.0.0.1 over HTTP/1.0 (the connection closes after the body).

    `length[path]` replaces the Content-Length header: None leaves it out, a string is sent as it is.
    `agents` records the User-Agent of every request."""

    def __init__(self):
        self.files, self.length, self.agents = {}, {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.agents.append(self.headers.get("User-Agent"))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                announced = server.length.get(self.path, str(len(body)))
                if announced is not None:
                    self.send_header("Content-Length", announced)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A client that stops reading (a failing test) must not keep close() waiting for its handler.
        self.httpd.daemon_threads, self.httpd.block_on_close = True, False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a proxy that swallows traffic)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"

    def close(self):
        self.socket.close()


def isolate(tmp_path, monkeypatch, timeout=None):
    """No cache, root, offline setting or system folder of this machine's, and no remembered download
    failure: each test starts from nothing (call forget again after it). ``timeout`` shortens waits."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(catalog.ENV_VAR, raising=False)
    monkeypatch.delenv(catalog.OFFLINE_VAR, raising=False)
    monkeypatch.setattr(catalog, "SYSTEM_DIRS", [])
    if timeout is not None:
        monkeypatch.setattr(catalog, "TIMEOUT", timeout)
    download.forget_failure()

