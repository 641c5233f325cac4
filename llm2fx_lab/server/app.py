"""``llm2fx serve``: the lab's planners behind an OpenAI-compatible API (FastAPI + uvicorn).

``GET /v1/models`` lists the planners served; ``POST /v1/chat/completions`` runs one on the pair
a request sends (:mod:`.protocol`), streamed as server-sent events or in one answer. A planner runs
in a worker thread, never on the event loop, one request at a time per planner (a model's
decoder keeps state between steps), so concurrent requests never share audio or chains.

Safety: the server binds 127.0.0.1 unless told otherwise, and refuses another address without an
API key (``Authorization: Bearer KEY``, the key read from an environment variable the operator
names); it limits the request size and each clip's length, reads audio only inline, stops a
planner that runs past the time limit, and answers every bad request with a 4xx status and an
OpenAI-style JSON error that says what is wrong.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import Final, Response, Thinking, collect, takes_chain
from llm2fx_lab.planners.registry import get_planner
from llm2fx_lab.server.protocol import (
    Limits,
    PlanRequest,
    RequestError,
    chunk,
    completion,
    completion_id,
    error_event,
    parse_request,
    tool_calls_json,
    usage_chunk,
)

log = logging.getLogger(__name__)

#: What a finished conversation (the client's tool results came back) is answered with.
CLOSING = "The chain above is the estimate."


@dataclass(frozen=True)
class ServeConfig:
    """How ``llm2fx serve`` runs.

    Parameters
    ----------
    planners : tuple of str
        Registry names served as models (each may end in ``+refine``).
    host, port
        Where to listen; anything but a loopback address needs ``api_key_env``.
    api_key_env : str or None
        The environment variable holding the key clients must send as ``Authorization: Bearer``.
    limits : Limits
    """

    planners: tuple[str, ...] = ("analysis", "analysis+refine")
    host: str = "127.0.0.1"
    port: int = 8000
    api_key_env: str | None = None
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not self.planners:
            raise Llm2FxError("serve at least one planner, e.g. --planner analysis")
        if not 0 <= int(self.port) <= 65535:
            raise Llm2FxError(f"port must be in [0, 65535], got {self.port}")
        if not _is_loopback(self.host) and not self.key():
            raise Llm2FxError(f"refusing to listen on {self.host} without an API key: set one in an environment "
                              "variable and pass --api-key-env VAR (or listen on 127.0.0.1)")

    def key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise Llm2FxError(f"the environment variable {self.api_key_env} that should hold the API key is not set")
        return key


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Served:
    """The planners a server runs, each with a lock (one request at a time per planner)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.planners: dict[str, Any] = {}
        self.locks: dict[str, threading.Lock] = {}
        for name in names:
            self.planners[name] = get_planner(name)
            self.locks[name] = threading.Lock()


def _timer(stop: threading.Event, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return timer


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application of ``llm2fx serve`` (every planner loaded once, here).

    Raises
    ------
    PlannerError
        A planner that cannot load (the message names it).
    """
    config = config or ServeConfig()
    served = _Served(config.planners)
    key = config.key()
    limits = config.limits
    app = FastAPI(title="llm2fx-lab", version="1", docs_url=None, redoc_url=None)

    def check_key(request: Request) -> None:
        if key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise RequestError("missing or wrong API key (send Authorization: Bearer KEY)", status=401,
                               kind="authentication_error")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_request_bytes:
            raise RequestError(f"the request is {int(declared)} bytes; this server takes at most "
                               f"{limits.max_request_bytes} bytes", status=413)
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > limits.max_request_bytes:
                raise RequestError(f"the request is larger than {limits.max_request_bytes} bytes", status=413)
        return bytes(body)

    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        check_key(request)
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "llm2fx-lab"} for name in served.planners]})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        check_key(request)
        parsed = parse_request(await read_body(request), limits, tuple(served.planners))
        planner = served.planners[parsed.model]
        cid = completion_id()
        if parsed.finished:
            if parsed.stream:
                return StreamingResponse(_closing_stream(parsed, cid), media_type="text/event-stream")
            return JSONResponse(completion(parsed.model, None, cid, CLOSING))
        if parsed.stream:
            return StreamingResponse(_event_stream(planner, served.locks[parsed.model], parsed, cid, limits),
                                     media_type="text/event-stream")
        result = await run_in_threadpool(_run, planner, served.locks[parsed.model], parsed, limits)
        return JSONResponse(completion(parsed.model, result, cid))

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def unknown(path: str) -> JSONResponse:
        raise RequestError(f"no endpoint /{path}; this server has GET /v1/models and POST /v1/chat/completions",
                           status=404)

    return app


def _turn(planner: Any, req: PlanRequest, stop: threading.Event) -> dict[str, Any]:
    """The keywords of one ``plan`` call: a follow-up's instruction, and its chain where the
    planner takes one."""
    kwargs: dict[str, Any] = {"instruction": req.instruction, "stop": stop}
    if req.chain is not None and takes_chain(planner):
        kwargs["chain"] = req.chain
    return kwargs


def _run(planner: Any, lock: threading.Lock, req: PlanRequest, limits: Limits) -> Any:
    """Run a planner to its end in this (worker) thread, within the time limit."""
    stop = threading.Event()
    with lock:
        timer = _timer(stop, limits.timeout_seconds)
        try:
            result = collect(planner.plan(req.dry, req.reference, req.sample_rate, **_turn(planner, req, stop)))
        except Llm2FxError as exc:
            raise RequestError(f"the planner cannot take this request: {exc}") from None
        finally:
            timer.cancel()
    if result.stopped:
        raise RequestError(f"the planner did not finish within {limits.timeout_seconds:g} s", status=504,
                           kind="timeout")
    return result


def _event_stream(planner: Any, lock: threading.Lock, req: PlanRequest, cid: str, limits: Limits) -> Iterator[str]:
    """Server-sent events of one planner run (a sync generator: Starlette iterates it in a worker
    thread, off the event loop)."""
    stop = threading.Event()
    yield chunk(req.model, cid, {"role": "assistant", "content": ""})
    with lock:
        timer = _timer(stop, limits.timeout_seconds)
        try:
            for event in planner.plan(req.dry, req.reference, req.sample_rate, **_turn(planner, req, stop)):
                if isinstance(event, Thinking):
                    yield chunk(req.model, cid, {"reasoning_content": event.text})
                elif isinstance(event, Response):
                    yield chunk(req.model, cid, {"content": event.text})
                elif isinstance(event, Final):
                    if event.stopped:
                        yield error_event(RequestError(f"the planner did not finish within "
                                                       f"{limits.timeout_seconds:g} s", status=504, kind="timeout"))
                        break
                    calls = tool_calls_json(event.chain)
                    if calls:
                        yield chunk(req.model, cid, {"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
                    yield chunk(req.model, cid, {}, "tool_calls" if calls else "stop")
                    if req.include_usage:
                        yield usage_chunk(req.model, cid, event.timings.tokens)
        except Llm2FxError as exc:
            yield error_event(RequestError(f"the planner cannot take this request: {exc}"))
        except Exception as exc:  # noqa: BLE001 - the client gets an error event, the log the traceback
            log.exception("planner %s failed", req.model)
            yield error_event(exc)
        finally:
            timer.cancel()
            stop.set()  # a client that left ends the planner at its next check
    yield "data: [DONE]\n\n"


def _closing_stream(req: PlanRequest, cid: str) -> Iterator[str]:
    yield chunk(req.model, cid, {"role": "assistant", "content": ""})
    yield chunk(req.model, cid, {"content": CLOSING})
    yield chunk(req.model, cid, {}, "stop")
    yield "data: [DONE]\n\n"


def serve(config: ServeConfig) -> None:
    """Run the server until interrupted (uvicorn)."""
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info", timeout_keep_alive=5)


@contextlib.contextmanager
def in_background(app: FastAPI, start_timeout_seconds: float = 30.0) -> Iterator[str]:
    """Run ``app`` on a free 127.0.0.1 port in a daemon thread, for as long as the ``with``
    block: yields its ``http://127.0.0.1:PORT/v1``. For notebooks, tests and benchmarks that
    talk to a server they start themselves.

    >>> with in_background(create_app(ServeConfig(planners=("analysis",)))) as url:  # doctest: +SKIP
    ...     planner = get_planner(f"llm:analysis@{url}", attach_audio=True)
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name=f"llm2fx-serve-{port}")
    thread.start()
    deadline = time.monotonic() + start_timeout_seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise Llm2FxError(f"the server on 127.0.0.1:{port} did not start within {start_timeout_seconds:g} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


__all__ = ["CLOSING", "ServeConfig", "create_app", "in_background", "serve"]
