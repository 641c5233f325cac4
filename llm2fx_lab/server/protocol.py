"""The OpenAI chat completions shapes ``llm2fx serve`` reads and writes, and its limits.

A request names a planner as its ``model`` and sends the pair in a user message as audio
content parts: ``input_audio`` parts, inline and base64-encoded, or ``file`` parts naming clips
uploaded before (``{"type": "file", "file": {"file_id": ...}}``, :mod:`.files`; nothing is
re-sent or decoded again). Two parts are the dry clip and the reference, in that order; one part
is the reference alone (blind estimation). A first request
is an estimate: its text is not read (the lab's planners estimate from the audio). A follow-up,
a user message after an assistant message with ``tool_calls`` (the chain so far), is a
conversation edit: its text is the instruction and those calls the chain it edits (the planner
takes a ``chain`` where it can; others read the instruction alone). The audio is the last that
was sent. The answer is the planner's reasoning (``reasoning_content``), its
short reply (``content``) and the chain as standard ``tool_calls``; streamed, the reasoning and
reply arrive as deltas and the tool calls in the last chunk, so a client never has to merge
revised calls. A conversation whose last message is the client's tool results (``role: tool``)
is finished: the answer is a closing sentence without tool calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from llm2fx_lab.audio.io import load_audio_bytes, resample
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.events import PlanResult
from llm2fx_lab.fx.chain import Chain

#: Audio formats an ``input_audio`` part may declare (and an uploaded file's name may end in).
AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg")
#: Content parts that carry a clip.
AUDIO_PARTS = ("input_audio", "file")
#: An uploaded clip by its id: ``(audio, sample_rate)``, or a :class:`RequestError` (404).
Resolver = Callable[[str], tuple[np.ndarray, float]]


class RequestError(Llm2FxError):
    """A request the server refuses: ``status`` is the HTTP status, the message says why."""

    def __init__(self, message: str, status: int = 400, param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.param, self.kind = status, param, kind

    def body(self) -> dict[str, Any]:
        """The OpenAI-style error object."""
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.status}}


@dataclass(frozen=True)
class Limits:
    """What one request may hold and take."""

    max_request_bytes: int = 64 * 2 ** 20
    max_audio_seconds: float = 60.0
    timeout_seconds: float = 300.0


@dataclass
class PlanRequest:
    """A parsed chat completion request: which planner, the pair, the instruction."""

    model: str
    dry: np.ndarray | None
    reference: np.ndarray | None
    sample_rate: float
    instruction: str | None  # a follow-up's text; None for a first estimate
    chain: Chain | None      # the chain a follow-up edits
    stream: bool
    include_usage: bool
    finished: bool  # the last message is the client's tool results
    history: tuple[Chain, ...] = ()  # the chains of the earlier answers, oldest first (a follow-up's "undo")


def parse_request(raw: bytes, limits: Limits, models: Sequence[str], files: Resolver | None = None) -> PlanRequest:
    """Read and check a ``POST /v1/chat/completions`` body for a server of ``models``;
    ``files`` finds the clips that ``file`` parts name (None: the server keeps no uploads).

    Raises
    ------
    RequestError
        Not JSON, no model or one not served (404), no user message, audio that is not inline
        base64 in a known format or an uploaded file's id, undecodable, too long, or more than two
        clips (the message says which).
    """
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, Mapping):
        raise RequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("'model' must name a planner (GET /v1/models lists them)", param="model")
    if model not in models:
        raise RequestError(f"model {model!r} is not served here; served: {', '.join(models)}", status=404,
                           param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, Mapping) for m in messages):
        raise RequestError("'messages' must be a non-empty list of message objects", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false", param="stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, Mapping) and options.get("include_usage"))
    finished = messages[-1].get("role") == "tool"
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        raise RequestError("the conversation has no user message", param="messages")
    # The client's tool results only close the turn: its audio is never read, so it is not
    # decoded (half of an estimate's request time is decoding base64 WAV).
    texts, clips = _user_parts(messages[users[-1]], limits, files, decode=not finished)
    heard = next((i for i in reversed(users[:-1]) if _audio_count(messages[i]) > 0), None)
    if not clips and heard is not None and not finished:  # a follow-up without audio: the pair sent before
        clips = _user_parts(messages[heard], limits, files)[1]
    if not clips and not finished:
        raise RequestError("a user message needs one or two audio parts (input_audio, or file with an uploaded "
                           "file_id): the dry clip and the reference, in that order, or the reference alone",
                           param="messages")
    instruction, chain, history = None, None, ()
    asked = [i for i, m in enumerate(messages[: users[-1]]) if m.get("role") == "assistant" and m.get("tool_calls")]
    if asked and not finished:
        instruction = "\n".join(t for t in texts if t.strip()) or None
        chain = _history_chain(messages[asked[-1]]["tool_calls"])
        history = tuple(_history_chain(messages[i]["tool_calls"]) for i in asked[:-1])
    dry = reference = None
    sample_rate = 44100.0
    if clips:
        reference, sample_rate = clips[-1]
        if len(clips) == 2:
            dry, dry_rate = clips[0]
            if dry_rate != sample_rate:
                dry = resample(dry, dry_rate, sample_rate)
    return PlanRequest(model, dry, reference, sample_rate, instruction, chain, stream, include_usage, finished,
                       history)


def _audio_count(message: Mapping[str, Any]) -> int:
    content = message.get("content")
    return sum(isinstance(p, Mapping) and p.get("type") in AUDIO_PARTS for p in content) \
        if isinstance(content, list) else 0


def _history_chain(tool_calls: Any) -> Chain:
    """The chain an assistant message's ``tool_calls`` set (a follow-up edits it)."""
    items = []
    for call in tool_calls if isinstance(tool_calls, list) else ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            raise RequestError("an assistant message's tool_calls need {\"function\": {\"name\", \"arguments\"}}",
                               param="messages")
        arguments = function.get("arguments") or {}
        try:
            arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        except json.JSONDecodeError:
            raise RequestError(f"the arguments of the earlier {function.get('name')!r} call are not JSON",
                               param="messages") from None
        items.append({"name": function.get("name"), "arguments": arguments})
    try:
        return Chain.from_tool_calls(items, "strict")
    except Llm2FxError as exc:
        raise RequestError(f"the chain in the conversation is not valid: {exc}", param="messages") from None


def _user_parts(message: Mapping[str, Any], limits: Limits, files: Resolver | None,
                decode: bool = True) -> tuple[list[str], list[tuple[np.ndarray, float]]]:
    content = message.get("content")
    if isinstance(content, str):
        return [content], []
    if not isinstance(content, list):
        raise RequestError("a user message's content must be text or a list of parts", param="messages")
    texts, clips = [], []
    n_audio = _audio_count(message)
    names = ("reference",) if n_audio == 1 else ("dry", "reference") if n_audio == 2 else ()
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind in AUDIO_PARTS:
            if n_audio > 2:
                raise RequestError(f"send at most two audio parts (dry, reference), got {n_audio}", param="messages")
            if kind == "file":
                clip = _uploaded(part.get("file"), files, index)  # checked even when not decoding
                if decode:
                    clips.append(clip)
            elif decode:
                clips.append(_decode_audio(part.get("input_audio"), names[len(clips)], len(clips), limits))
        elif kind in ("audio_url", "image_url"):
            raise RequestError(f"audio must be sent inline as an input_audio part with base64 data, or uploaded "
                               f"(POST /v1/files) and named by a file part, not as {kind!r} (the server never "
                               "reads a path or fetches a URL)", param="messages")
        else:
            raise RequestError(f"unknown content part {kind!r}; allowed: text, input_audio, file", param="messages")
    return texts, clips


def _uploaded(part: Any, files: Resolver | None, index: int) -> tuple[np.ndarray, float]:
    """The clip a ``file`` content part names by ``file_id`` (inline ``file_data`` is not read)."""
    if files is None:
        raise RequestError("this server keeps no uploaded files: send the audio inline as input_audio parts",
                           param="messages")
    if not isinstance(part, Mapping) or not isinstance(part.get("file_id"), str) or not part["file_id"]:
        raise RequestError(f"content part {index + 1}: a file part must name an uploaded clip, "
                           "{\"type\": \"file\", \"file\": {\"file_id\": ...}} (upload it with POST /v1/files; "
                           "inline file_data is not read: send inline audio as input_audio)", param="messages")
    return files(part["file_id"])


def _decode_audio(part: Any, name: str, index: int, limits: Limits) -> tuple[np.ndarray, float]:
    if not isinstance(part, Mapping) or not isinstance(part.get("data"), str):
        raise RequestError(f"input_audio part {index + 1} needs {{\"data\": base64, \"format\": ...}}", param="messages")
    fmt = part.get("format", "wav")
    if fmt not in AUDIO_FORMATS:
        raise RequestError(f"input_audio format must be one of {', '.join(AUDIO_FORMATS)}, got {fmt!r}",
                           param="messages")
    try:
        data = base64.b64decode(part["data"], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"input_audio part {index + 1} is not valid base64", param="messages") from None
    return decode_clip(data, f"{name}.{fmt}", f"the {name} audio", limits, "messages")


def decode_clip(data: bytes, filename: str, what: str, limits: Limits, param: str) -> tuple[np.ndarray, float]:
    """A clip's bytes decoded (as ``filename`` says they are) and checked against ``limits``;
    ``what`` names the clip in the errors ("the dry audio", "the uploaded file 'dry.wav'").

    Raises
    ------
    RequestError
        400 for audio that does not decode (or is silent, NaN, ...), 413 for a clip too long.
    """
    try:
        audio, sr = load_audio_bytes(data, filename)
    except Llm2FxError as exc:
        raise RequestError(f"{what}: {exc}", param=param) from None
    seconds = audio.shape[1] / sr
    if seconds > limits.max_audio_seconds:
        raise RequestError(f"{what} is {seconds:.1f} s long; this server takes at most "
                           f"{limits.max_audio_seconds:g} s per clip", status=413, param=param)
    return audio, sr


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def tool_calls_json(result_chain: Any) -> list[dict[str, Any]]:
    """A chain as OpenAI ``tool_calls`` (arguments as JSON strings)."""
    return [{"id": f"call_{i}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for i, c in enumerate(result_chain.to_tool_calls())]


def _usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}


def completion(model: str, result: PlanResult | None, cid: str, closing: str | None = None) -> dict[str, Any]:
    """A whole ``chat.completion`` object for a planner's result (or a closing sentence)."""
    if result is None:
        message: dict[str, Any] = {"role": "assistant", "content": closing or ""}
        finish, tokens = "stop", 0
    else:
        calls = tool_calls_json(result.chain)
        message = {"role": "assistant", "content": result.response, "reasoning_content": result.reasoning}
        if calls:
            message["tool_calls"] = calls
        finish, tokens = ("tool_calls" if calls else "stop"), result.timings.tokens
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": _usage(tokens)}


def chunk(model: str, cid: str, delta: Mapping[str, Any], finish: str | None = None) -> str:
    """One server-sent event carrying a ``chat.completion.chunk``."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


def usage_chunk(model: str, cid: str, tokens: int) -> str:
    """The last chunk when the client asked for ``stream_options.include_usage``: no choices."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [], "usage": _usage(tokens)}
    return f"data: {json.dumps(body)}\n\n"


def error_event(error: RequestError | Exception) -> str:
    body = error.body() if isinstance(error, RequestError) else {
        "error": {"message": str(error), "type": "server_error", "param": None, "code": 500}}
    return f"data: {json.dumps(body)}\n\n"
