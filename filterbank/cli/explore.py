"""``filterbank explore``: serve the explore page for a trained model on this machine.

Which model: the argument (a model file or a run folder holding ``model.fbk``); without one,
``runs/main``, else the newest run folder under ``runs/``, else a message saying how to train
one. The server binds 127.0.0.1 unless ``--host`` says otherwise (with a warning: anyone who
can reach the address can use the page). Ctrl-C stops it.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     find_model(None, root)
    ... except CLIError as exc:
    ...     print(str(exc)[:60])
    no trained model to explore: runs/main/model.fbk does not ex
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from . import report
from .common import CLIError, one_line, warn

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def find_model(arg, runs: Path = Path("runs")) -> Path:
    """The model file to serve (the module docstring's rule)."""
    if arg is not None:
        path = Path(arg).expanduser()
        if path.is_dir():
            model = path / report.MODEL_FILE
            if not model.is_file():
                raise CLIError(
                    f"{str(path)!r} holds no {report.MODEL_FILE}; pass a run folder "
                    "written by 'filterbank train' or a model file."
                )
            return model
        if not path.is_file():
            raise CLIError(f"model file {str(path)!r} does not exist.")
        return path
    main = runs / "main" / report.MODEL_FILE
    if main.is_file():
        return main
    found = (
        sorted(
            (p for p in runs.glob(f"*/{report.MODEL_FILE}") if p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if runs.is_dir()
        else []
    )
    if found:
        return found[-1]
    raise CLIError(
        f"no trained model to explore: runs/main/{report.MODEL_FILE} does not exist "
        f"and no run folder under {str(runs.resolve())!r} holds a "
        f"{report.MODEL_FILE}. Train one first: filterbank train --out runs/main "
        "(or: make run), or pass a model file."
    )


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_installed() -> None:
    """FastAPI, uvicorn and python-multipart, checked before anything starts."""
    from importlib.util import find_spec

    wanted = (
        (("fastapi",), "fastapi"),
        (("uvicorn",), "uvicorn"),
        (("python_multipart", "multipart"), "python-multipart"),
        (("PIL",), "pillow"),
    )
    missing = [
        package for modules, package in wanted if not any(find_spec(m) is not None for m in modules)
    ]
    if missing:
        raise CLIError(
            f"filterbank explore needs {', '.join(missing)}: pip install filterbank[explore]"
        )


def run(args) -> int:
    check_installed()
    import uvicorn

    from ..explore.app import create_app

    model_path = find_model(args.model)
    if not is_loopback(args.host):
        warn(
            f"serving on {args.host}, not 127.0.0.1: anyone who can reach this address can "
            "use the page and its API (there is no login)."
        )
    try:
        app = create_app(
            model_path,
            allowed_hosts=(
                {"127.0.0.1", "localhost", "[::1]", "::1"} if is_loopback(args.host) else None
            ),
        )
    except ValueError as exc:
        raise CLIError(f"cannot explore {str(model_path)!r}: {one_line(exc)}") from exc
    try:  # a clear message beats uvicorn's traceback when the port is taken
        with socket.create_server((args.host.strip("[]"), args.port)):
            pass
    except OSError as exc:
        raise CLIError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port."
        ) from exc
    shown = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else shown}:{args.port}/"
    print(f"Exploring {model_path} at {url}  (Ctrl-C stops)", flush=True)
    if args.open:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(
        app, host=args.host.strip("[]"), port=args.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    print("Stopped.", file=sys.stderr)
    return 0


__all__ = ["find_model", "is_loopback", "run"]
