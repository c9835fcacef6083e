"""Dataset tests never touch the real internet: every test runs offline, with its own
filterbank home, and any URL points at a closed local port unless a test serves one itself."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    home = tmp_path / "fbhome"
    monkeypatch.setenv("FILTERBANK_HOME", str(home))
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    monkeypatch.setenv("FILTERBANK_DATASETS_ORIGIN", closed_port_url())
    yield home


@pytest.fixture
def home(_isolated_environment):
    """The per-test FILTERBANK_HOME folder (not created yet)."""
    return _isolated_environment


class _Server:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve(monkeypatch):
    """serve({name: bytes}) starts a local HTTP server, goes online and points the dataset
    origin at it; returns the server (its .requests lists the paths asked for)."""
    servers = []

    def start(files: dict[str, bytes]) -> _Server:
        server = _Server(files)
        servers.append(server)
        monkeypatch.delenv("FILTERBANK_OFFLINE", raising=False)
        monkeypatch.setenv("FILTERBANK_DATASETS_ORIGIN", server.url)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def stalled_url(monkeypatch):
    """A URL whose server accepts connections but never answers (a hung network)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    monkeypatch.delenv("FILTERBANK_OFFLINE", raising=False)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()
