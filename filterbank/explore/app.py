"""The FastAPI app of ``filterbank explore``: the JSON API and the page's static files.

Safety rules kept here (the issue's list): no request names a file path (the static files are
a fixed set read from the package at start-up); request bodies are limited in bytes before
they are read (:class:`BodyLimit`) and images in pixels before they are decoded
(:mod:`filterbank.explore.preprocess`); every bad request is a JSON ``{"error": message}``
with a 4xx status; an unexpected failure is a JSON 500 without a traceback. Model work runs in
the thread pool and takes the session's lock, so concurrent requests take turns.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> from fastapi.testclient import TestClient
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)])
    >>> client = TestClient(create_app(model))
    >>> client.post("/api/predict", json={"pixels": [[0.5] * 4] * 4}).json()["predicted"] in (0, 1)
    True
    >>> r = client.post("/api/predict", json={"pixels": [[0.5] * 3] * 4})
    >>> r.status_code, r.json()["error"][:29]
    (400, 'pixels must have shape (4, 4)')
"""

# No "from __future__ import annotations": FastAPI must see the real Request class in routes.

import json
import logging
from importlib import resources
from pathlib import Path

from .preprocess import MAX_UPLOAD_BYTES, BadInput, check_pixels, decode_image
from .session import MODEL_FILE, ExploreSession

MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # the image plus multipart framing
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain",
}
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
log = logging.getLogger("filterbank.explore")


def resolve_model_path(path) -> tuple[Path, Path]:
    """(model file, run folder) for a model file or a run folder holding ``model.fbk``."""
    path = Path(path).expanduser()
    if path.is_dir():
        model = path / MODEL_FILE
        if not model.is_file():
            raise FileNotFoundError(
                f"{str(path)!r} holds no {MODEL_FILE}; pass a run folder "
                f"written by 'filterbank train' or a model file."
            )
        return model, path
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    return path, path.parent


def load_session(model_or_path) -> ExploreSession:
    """An :class:`ExploreSession` for a model object, a model file or a run folder."""
    if hasattr(model_or_path, "predict") and hasattr(model_or_path, "layers"):
        return ExploreSession(model_or_path)
    from ..saving import load_model

    model_path, run_dir = resolve_model_path(model_or_path)
    model = load_model(model_path, compile=False)
    return ExploreSession(model, run_dir=run_dir, model_path=model_path)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with a JSON 413.

    The Content-Length header is checked first; a body sent without it (chunked) is read up
    to ``limit`` bytes and refused there, so a 50 MB upload never reaches memory whole. A
    body within the limit is handed to the app as one message.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    return await _send_json(send, 400, "bad Content-Length header.")
                if size > self.limit:
                    return await _send_json(send, 413, _too_large(size, self.limit))
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.limit:
                return await _send_json(send, 413, _too_large(total, self.limit))
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the request body is {size:,}+ bytes; the limit is {limit:,} bytes "
        f"(image files up to {MAX_UPLOAD_BYTES:,} bytes)."
    )


async def _send_json(send, status: int, message: str):
    body = json.dumps({"error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package: name -> (bytes, content type)."""
    files = {}
    root = resources.files("filterbank.explore") / "static"
    for entry in root.iterdir():
        suffix = Path(entry.name).suffix
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


def create_app(model_or_path, *, allowed_hosts=None):
    """The FastAPI app serving one model (a model object, a model file or a run folder).

    ``allowed_hosts``: Host header values to accept (the CLI passes the loopback names when
    it binds a loopback address, which stops DNS-rebinding pages from reading the API); None
    accepts any.
    """
    try:
        from fastapi import FastAPI, Request
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import JSONResponse, Response
        from starlette.concurrency import run_in_threadpool
        from starlette.exceptions import HTTPException
    except ImportError as exc:
        raise ImportError(
            "filterbank explore needs FastAPI and uvicorn: pip install filterbank[explore]"
        ) from exc

    session = (
        model_or_path if isinstance(model_or_path, ExploreSession) else load_session(model_or_path)
    )
    static = _static_files()
    app = FastAPI(title="filterbank explore", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.session = session

    def error(status: int, message: str):
        return JSONResponse({"error": message, "status": status}, status_code=status)

    @app.exception_handler(BadInput)
    async def _bad_input(request, exc: BadInput):
        return error(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "bad request"
        if exc.status_code == 404:
            message = f"no such page or API route: {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:3]:
            where = ".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return error(422, "; ".join(parts))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has the details.")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        if allowed_hosts is not None:
            host = request.headers.get("host", "").rsplit(":", 1)[0]
            if host not in allowed_hosts:
                return error(
                    400,
                    f"unexpected Host header {host!r}; open the page at the "
                    "address 'filterbank explore' printed.",
                )
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    # ---- the page ----------------------------------------------------------------------
    def _file(name: str):
        if name not in static:
            raise BadInput(
                f"no static file {name!r}; the page's files are {', '.join(sorted(static))}.", 404
            )
        body, kind = static[name]
        return Response(body, media_type=kind, headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index():
        return _file("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str):
        return _file(name)

    # ---- the API -----------------------------------------------------------------------
    @app.get("/api/model")
    def model_info():
        return session.describe()

    async def read_input(request: Request) -> tuple:
        """(pixels in [0, 1], options, notes) from a JSON body or a multipart upload."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=8)
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise BadInput("send the image file as multipart field 'image'.", 400)
            data = await upload.read()
            options = {k: v for k, v in form.items() if isinstance(v, str)}
            options.update(request.query_params)
            frame = str(options.get("frame", "mnist")).lower() not in ("0", "false", "no", "none")
            pixels, notes = await run_in_threadpool(
                decode_image,
                data,
                session.input_shape,
                light_on_dark=session.data_info["light_on_dark"],
                frame=frame,
            )
            return pixels, options, notes
        if kind not in ("application/json", ""):
            raise BadInput(
                f'send JSON {{"pixels": [[...]]}} or a multipart image upload; '
                f"got content type {kind!r}.",
                415,
            )
        body = await request.body()
        try:
            payload = json.loads(body or b"null")
        except (ValueError, RecursionError):
            raise BadInput(
                'the request body is not valid JSON; send {"pixels": [[...]]}.', 400
            ) from None
        if not isinstance(payload, dict) or "pixels" not in payload:
            raise BadInput(
                'send a JSON object with "pixels": rows of numbers in [0, 1] of '
                f"the model's input size {tuple(session.input_shape)}.",
                400,
            )
        pixels = check_pixels(payload["pixels"], session.input_shape)
        options = {k: v for k, v in payload.items() if k != "pixels"}
        options.update(request.query_params)
        return pixels, options, []

    def flag(value) -> bool:
        return str(value).lower() in ("1", "true", "yes", "on")

    def encoding(options) -> str:
        value = str(options.get("encoding", "lists"))
        if value not in ("lists", "base64"):
            raise BadInput(f"encoding must be 'lists' or 'base64', got {value!r}.")
        return value

    @app.post("/api/predict")
    async def predict(request: Request):
        pixels, options, notes = await read_input(request)
        answer = await run_in_threadpool(
            session.predict, pixels, flag(options.get("activations", False)), encoding(options)
        )
        answer["notes"] = notes
        return answer

    @app.post("/api/explain")
    async def explain(request: Request):
        pixels, options, _ = await read_input(request)
        if "layer" not in options or "index" not in options:
            raise BadInput(
                'send "layer" (a layer name) and "index" ([row, column, '
                "channel] of its output, or [unit] for a dense layer)."
            )
        return await run_in_threadpool(
            session.explain, pixels, str(options["layer"]), options["index"]
        )

    @app.post("/api/overlay")
    async def overlay(request: Request):
        pixels, options, _ = await read_input(request)
        method = str(options.get("method", "saliency"))
        if method not in ("saliency", "grad_cam"):
            raise BadInput(f"method must be 'saliency' or 'grad_cam', got {method!r}.")
        target = options.get("class")
        if isinstance(target, str) and target.lstrip("-").isdigit():
            target = int(target)
        return await run_in_threadpool(session.overlay, pixels, method, target)

    @app.get("/api/filters/{layer}")
    def filters(layer: str):
        return session.filters(layer)

    @app.get("/api/history")
    def history():
        return session.history()

    @app.get("/api/samples")
    def samples(count: int = 12, seed: int = 0):
        return session.samples(count, seed)

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app


__all__ = ["BodyLimit", "create_app", "load_session", "resolve_model_path"]
