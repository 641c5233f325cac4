"""``llm2fx serve``: the lab's planners behind an OpenAI-compatible API (FastAPI + uvicorn).

``GET /v1/models`` lists the planners served; ``POST /v1/chat/completions`` runs one on the pair
a request sends (:mod:`.protocol`), streamed as server-sent events or in one answer; ``/v1/files``
keeps clips a client uploads once and names by id (:mod:`.files`, the OpenAI Files API's shape). A planner runs
in a worker thread, never on the event loop, one request at a time per planner (a model's
decoder keeps state between steps), so concurrent requests never share audio or chains.

Safety: the server binds 127.0.0.1 unless told otherwise, and refuses another address without an
API key (``Authorization: Bearer KEY``, the key read from an environment variable the operator
names); it limits the request size and each clip's length, reads audio only from the request or
an upload (never a path or a URL), keeps a bounded number of uploads for a bounded time, stops a
planner that runs past the time limit, and answers every bad request with a 4xx status and an
OpenAI-style JSON error that says what is wrong.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator, Sequence

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import Final, Response, Thinking, collect
from llm2fx_lab.planners.edits import plan_turn
from llm2fx_lab.planners.registry import get_planner
from llm2fx_lab.server.files import ClipStore, FileLimits
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
from llm2fx_lab.threads import start_background

log = logging.getLogger(__name__)

#: What a finished conversation (the client's tool results came back) is answered with.
CLOSING = "The chain above is the estimate."
#: While a planner streams its reasoning, the text is sent at most this often (what it wrote in
#: between goes as one chunk); anything else (the reply, the tool calls, an error) goes at once.
#: A chunk per token cost the client about 0.1 ms each to read and slowed the planner beside it
#: (docs/decisions.md).
REASONING_INTERVAL_SECONDS = 0.025


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
    files : FileLimits
        How many uploaded clips are kept, and how long.
    """

    planners: tuple[str, ...] = ("analysis", "analysis+refine")
    host: str = "127.0.0.1"
    port: int = 8000
    api_key_env: str | None = None
    limits: Limits = field(default_factory=Limits)
    files: FileLimits = field(default_factory=FileLimits)

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
    uploads = ClipStore(config.files)
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
        parsed = parse_request(await read_body(request), limits, tuple(served.planners), _resolver(uploads))
        planner = served.planners[parsed.model]
        cid = completion_id()
        if parsed.finished:
            if parsed.stream:
                return StreamingResponse(_closing_stream(parsed, cid), media_type="text/event-stream")
            return JSONResponse(completion(parsed.model, None, cid, CLOSING))
        if parsed.stream:
            stop = threading.Event()
            events = _event_stream(planner, served.locks[parsed.model], parsed, cid, limits, stop)
            return StreamingResponse(_merged(events, parsed.model, cid, stop), media_type="text/event-stream")
        result = await run_in_threadpool(_run, planner, served.locks[parsed.model], parsed, limits)
        return JSONResponse(completion(parsed.model, result, cid))

    @app.post("/v1/files")
    async def upload(request: Request) -> JSONResponse:
        check_key(request)
        body = await read_body(request)
        kind = request.headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            raise RequestError(f"upload a clip as multipart/form-data with the fields 'file' and 'purpose' (as "
                               f"client.files.create does), got content type {kind or 'none'!r}")
        form = await _form(request, body, limits)
        file, purpose = form.get("file"), form.get("purpose", "user_data")
        if not isinstance(file, UploadFile):
            raise RequestError("the upload has no 'file' field holding a file", param="file")
        data = await file.read()
        clip = await run_in_threadpool(uploads.add, data, file.filename or "clip", str(purpose), limits)
        return JSONResponse(clip.info())

    @app.get("/v1/files")
    async def list_files(request: Request) -> JSONResponse:
        check_key(request)
        return JSONResponse({"object": "list", "data": [c.info() for c in uploads.list()]})

    @app.get("/v1/files/{file_id}")
    async def file_info(file_id: str, request: Request) -> JSONResponse:
        check_key(request)
        return JSONResponse(uploads.get(file_id).info())

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str, request: Request) -> JSONResponse:
        check_key(request)
        uploads.delete(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def unknown(path: str) -> JSONResponse:
        raise RequestError(f"no endpoint /{path}; this server has GET /v1/models, POST /v1/chat/completions, "
                           "POST and GET /v1/files, GET and DELETE /v1/files/ID", status=404)

    return app


def _resolver(uploads: ClipStore):
    def resolve(file_id: str) -> tuple[Any, float]:
        clip = uploads.get(file_id)
        return clip.audio, clip.sample_rate
    return resolve


async def _form(request: Request, body: bytes, limits: Limits) -> Any:
    """The multipart form of an upload whose ``body`` was read within the size limit (so the
    parser never reads past it), held in memory."""
    async def once():
        yield body

    parser = MultiPartParser(request.headers, once(), max_files=1, max_fields=4)
    parser.spool_max_size = limits.max_request_bytes
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise RequestError(f"the upload is not a valid multipart form: {exc.message}") from None


def _turn(planner: Any, req: PlanRequest, stop: threading.Event) -> Iterator[Any]:
    """One turn's events: an estimate, or a follow-up's edit of the chain of the answer before
    (:func:`~llm2fx_lab.planners.edits.plan_turn`: the grammar unless the planner edits with a
    model, the earlier answers as the history "undo" goes back through)."""
    return plan_turn(planner, req.dry, req.reference, req.sample_rate, instruction=req.instruction, chain=req.chain,
                     stop=stop, history=req.history)


def _run(planner: Any, lock: threading.Lock, req: PlanRequest, limits: Limits) -> Any:
    """Run a planner to its end in this (worker) thread, within the time limit."""
    stop = threading.Event()
    with lock:
        timer = _timer(stop, limits.timeout_seconds)
        try:
            result = collect(_turn(planner, req, stop))
        except Llm2FxError as exc:
            raise RequestError(f"the planner cannot take this request: {exc}") from None
        finally:
            timer.cancel()
    if result.stopped:
        raise RequestError(f"the planner did not finish within {limits.timeout_seconds:g} s", status=504,
                           kind="timeout")
    return result


@dataclass(frozen=True)
class _Reasoning:
    """A piece of streamed reasoning, not yet written (:func:`_merged` joins neighbours)."""

    text: str


def _event_stream(planner: Any, lock: threading.Lock, req: PlanRequest, cid: str, limits: Limits,
                  stop: threading.Event) -> Iterator[str | _Reasoning]:
    """Server-sent events of one planner run, reasoning as :class:`_Reasoning` pieces (a sync
    generator that :func:`_merged` runs in a worker thread, off the event loop); ``stop`` ends
    the planner at its next check."""
    yield chunk(req.model, cid, {"role": "assistant", "content": ""})
    with lock:
        timer = _timer(stop, limits.timeout_seconds)
        try:
            for event in _turn(planner, req, stop):
                if isinstance(event, Thinking):
                    yield _Reasoning(event.text)
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
    yield "data: [DONE]\n\n"


async def _merged(events: Iterator[str | _Reasoning], model: str, cid: str, stop: threading.Event,
                  interval_seconds: float = REASONING_INTERVAL_SECONDS) -> AsyncIterator[str]:
    """Run ``events`` to its end in one worker thread and write what it made as it comes:
    neighbouring reasoning pieces as one chunk, at most ``interval_seconds`` after they were
    made; the first piece and any other event at once. The planner never waits for the writes
    and wakes the event loop only for what must go at once (a generator that Starlette advanced
    item by item paused the planner at every chunk); a client that leaves sets ``stop``."""
    loop = asyncio.get_running_loop()
    pending: collections.deque = collections.deque()  # appended in the worker, emptied here
    urgent = asyncio.Event()
    end = object()

    def work() -> None:  # in the worker thread
        first = True
        try:
            for item in events:
                pending.append(item)
                if first or not isinstance(item, _Reasoning):
                    first = isinstance(item, str)  # the role chunk comes before the first reasoning
                    loop.call_soon_threadsafe(urgent.set)
        except RuntimeError:  # the loop closed under us (the server is stopping)
            stop.set()
        finally:
            pending.append(end)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(urgent.set)

    loop.run_in_executor(None, work)
    try:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(urgent.wait(), interval_seconds)
            urgent.clear()
            out: list[str] = []
            text: list[str] = []
            finished = False
            while pending:
                item = pending.popleft()
                if item is end:
                    finished = True
                    break
                if isinstance(item, _Reasoning):
                    text.append(item.text)
                    continue
                if text:
                    out.append(chunk(model, cid, {"reasoning_content": "".join(text)}))
                    text = []
                out.append(item)
            if text:
                out.append(chunk(model, cid, {"reasoning_content": "".join(text)}))
            if out:
                yield "".join(out)
            if finished:
                return
    finally:
        stop.set()  # a client that left ends the planner at its next check


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
    thread = start_background(server.run, name=f"llm2fx-serve-{port}", stop=lambda: setattr(server, "should_exit", True))
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
