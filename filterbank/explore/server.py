"""Run the explore app on uvicorn in a background thread (tests, the load benchmark).

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> from filterbank.explore.app import create_app
    >>> import httpx
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)])
    >>> with serve_in_thread(create_app(model)) as url:
    ...     httpx.get(url + "api/model").json()["input_shape"]
    [4, 4, 1]
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int | None = None, timeout: float = 20.0):
    """Serve ``app`` on ``host:port`` (a free port by default); yields the base URL."""
    import uvicorn

    port = port or free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="explore-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the explore server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout)


__all__ = ["free_port", "serve_in_thread"]
