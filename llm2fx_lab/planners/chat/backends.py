"""Where a chat planner's model runs: an OpenAI-compatible endpoint, or a local checkpoint.

Both backends take OpenAI-style ``messages`` and ``tools`` and stream one assistant turn as
:class:`Delta` objects (reasoning and answer text as they arrive), then one :class:`Turn`
(the whole texts, the tool calls, the token counts):

- :class:`OpenAIBackend`: any server that speaks the OpenAI chat completions API (Ollama at
  ``http://localhost:11434/v1``, vLLM, llama.cpp's ``llama-server --jinja``, LM Studio, a hosted
  API, ``llm2fx serve``), through the ``openai`` client, streamed;
- :class:`TransformersBackend`: a chat checkpoint in a local directory (transformers,
  ``apply_chat_template(tools=...)``), offline, on the CPU or a GPU.

An API key is read from the environment variable the user names, handed to the client for the
URL given and nowhere else; it is never printed, logged, stored or put in an error message.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import soundfile as sf

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.planners.chat.parsing import RawCall, ThinkSplitter, ToolCallAssembler, calls_in_text, read_arguments


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed reply: reasoning text, answer text, or both."""

    reasoning: str = ""
    content: str = ""


@dataclass
class Turn:
    """One whole assistant turn."""

    reasoning: str
    content: str
    calls: list[RawCall]
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    repairs: list[str] = field(default_factory=list)


def wav_bytes(audio: np.ndarray, sample_rate: float, subtype: str = "PCM_16") -> bytes:
    """A WAV file of ``(channels, samples)`` audio: 16-bit PCM by default (clipped to [-1, 1]),
    or ``"FLOAT"``, lossless."""
    buf = io.BytesIO()
    x = np.asarray(audio, np.float32)
    sf.write(buf, (x if subtype == "FLOAT" else np.clip(x, -1, 1)).T, int(round(sample_rate)), format="WAV",
             subtype=subtype)
    return buf.getvalue()


def wav_base64(audio: np.ndarray, sample_rate: float, subtype: str = "PCM_16") -> str:
    """:func:`wav_bytes`, base64-encoded (an ``input_audio`` part's data)."""
    return base64.b64encode(wav_bytes(audio, sample_rate, subtype)).decode("ascii")


def _usage(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    get = raw.get if isinstance(raw, Mapping) else (lambda k: getattr(raw, k, None))
    return {k: int(get(k)) for k in ("prompt_tokens", "completion_tokens") if isinstance(get(k), int)}


def _field(obj: Any, name: str) -> Any:
    """A field of an openai object or dict, including the extra fields servers add
    (``reasoning_content``, ``reasoning``)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


class OpenAIBackend:
    """A model behind an OpenAI-compatible chat completions endpoint.

    Parameters
    ----------
    model : str
        The model name the server knows (``qwen3:8b`` in Ollama, a vLLM ``--served-model-name``).
    base_url : str
        ``http(s)://host:port/v1``.
    api_key_env : str or None
        The environment variable that holds the key; None or unset sends a placeholder (local
        servers ignore it). The key is only ever given to the client for ``base_url``.
    timeout_seconds : float
        Per request; a dead or slow endpoint fails after it with one clear line.
    max_tokens : int
        Upper bound of one reply's tokens.
    max_reply_chars : int
        A reply longer than this (text and tool call arguments) is cut off with an error: the
        client never reads without bound.
    temperature : float
    include_usage : bool
        Ask for token counts in the stream (``stream_options``); a server that refuses it is asked
        again without.
    """

    def __init__(self, model: str, base_url: str, api_key_env: str | None = None, timeout_seconds: float = 120.0,
                 max_tokens: int = 4096, max_reply_chars: int = 200_000, temperature: float = 0.0,
                 include_usage: bool = True) -> None:
        # the client is imported with the backend that needs it: the rest of the lab never does
        import openai

        if not isinstance(model, str) or not model.strip():
            raise PlannerError(f"the endpoint's model name must be a non-empty string, got {model!r}")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise PlannerError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.model, self.base_url = model.strip(), base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.max_tokens, self.max_reply_chars, self.temperature = int(max_tokens), int(max_reply_chars), temperature
        self.include_usage = include_usage
        self.name = f"llm:{self.model}@{self.base_url}"
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key_env and not key:
            raise PlannerError(f"the environment variable {api_key_env} that should hold the API key is not set")
        self._openai = openai
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key or "no-key", timeout=timeout_seconds,
                                     max_retries=0)

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def check(self) -> list[str]:
        """Ask the endpoint which models it serves (``GET /models``): the names, or one clear
        :class:`PlannerError` line when it cannot be reached or refuses the key."""
        try:
            return [m.id for m in self._client.models.list()]
        except self._openai.OpenAIError as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> PlannerError:
        """One line for a failed request: which endpoint, what went wrong; never the key."""
        openai = self._openai
        if isinstance(exc, openai.AuthenticationError):
            return PlannerError(f"{self.base_url} refused the API key"
                                + (f" from ${self.api_key_env}" if self.api_key_env else " (none was given)"))
        if isinstance(exc, openai.APIConnectionError):
            reason = "timed out" if isinstance(exc, openai.APITimeoutError) else "no answer"
            return PlannerError(f"cannot reach {self.base_url} ({reason}); is the server running?")
        if isinstance(exc, openai.APIStatusError):
            return PlannerError(f"{self.base_url} answered HTTP {exc.status_code}: {_status_message(exc)}")
        if isinstance(exc, openai.APIError):  # an error event inside a stream
            return PlannerError(f"{self.base_url} sent an error: {_status_message(exc)}")
        return PlannerError(f"{self.base_url}: {type(exc).__name__}")

    def upload(self, data: bytes, filename: str) -> str:
        """Upload a clip once (``POST /files``, the OpenAI Files API, purpose ``user_data``); its id,
        for ``{"type": "file", "file": {"file_id": ...}}`` content parts.

        Raises
        ------
        PlannerError
            The endpoint cannot be reached or refuses the upload (one line, never the key).
        """
        try:
            return self._client.files.create(file=(filename, data, "audio/wav"), purpose="user_data").id
        except self._openai.OpenAIError as exc:
            raise self._error(exc) from None

    def delete(self, file_id: str) -> None:
        """Delete an uploaded clip (``DELETE /files/ID``); a :class:`PlannerError` line when that fails."""
        try:
            self._client.files.delete(file_id)
        except self._openai.OpenAIError as exc:
            raise self._error(exc) from None

    def _create(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> Any:
        args = dict(model=self.model, messages=list(messages), stream=True, temperature=self.temperature,
                    max_tokens=self.max_tokens)
        if tools:
            args["tools"] = list(tools)
        if self.include_usage:
            args["stream_options"] = {"include_usage": True}
        try:
            return self._client.chat.completions.create(**args)
        except self._openai.BadRequestError as exc:
            if self.include_usage and "stream_options" in str(exc):
                self.include_usage = False
                args.pop("stream_options")
                return self._client.chat.completions.create(**args)
            raise

    def stream(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
               stop: threading.Event | None = None) -> Iterator[Delta | Turn]:
        """Stream one assistant turn: :class:`Delta` objects, then one :class:`Turn`.

        Raises
        ------
        PlannerError
            The endpoint cannot be reached, refuses the key, answers with an error, or sends more
            than ``max_reply_chars``: one line saying which, never the key.
        """
        openai = self._openai
        splitter, assembler = ThinkSplitter(), ToolCallAssembler()
        reasoning_field: list[str] = []
        usage: dict[str, int] = {}
        finish, size = None, 0
        try:
            stream = self._create(messages, tools)
            try:
                for chunk in stream:
                    usage = _usage(_field(chunk, "usage")) or usage
                    for choice in _field(chunk, "choices") or ():
                        delta = _field(choice, "delta")
                        finish = _field(choice, "finish_reason") or finish
                        extra = _field(delta, "reasoning_content") or _field(delta, "reasoning") or ""
                        text = _field(delta, "content") or ""
                        calls = _field(delta, "tool_calls")
                        size += len(extra) + len(text) + sum(len(str(c)) for c in calls or ())
                        if size > self.max_reply_chars:
                            raise PlannerError(f"{self.base_url} sent a reply longer than {self.max_reply_chars} "
                                               "characters; stopped reading")
                        assembler.feed(calls)
                        reasoning_field.append(extra)
                        r, c = splitter.feed(text)
                        if extra or r or c:
                            yield Delta(extra + r, c)
                    if stop is not None and stop.is_set():
                        break
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        except openai.OpenAIError as exc:
            raise self._error(exc) from None
        r, c = splitter.close()
        if r or c:
            yield Delta(r, c)
        text_calls, content, repairs = calls_in_text(splitter.content, len(assembler.calls()))
        yield Turn("".join(reasoning_field) + splitter.reasoning, content, assembler.calls() + text_calls, usage,
                   finish, repairs)


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, Mapping) else error
        if message:
            return str(message)[:300]
    return str(getattr(exc, "message", exc))[:300]


class TransformersBackend:
    """A chat checkpoint in a local directory, run with transformers (never downloaded).

    The tokenizer's own chat template renders the conversation with ``tools=``; the reply is
    streamed and its ``<think>`` and ``<tool_call>`` blocks read back (:mod:`.parsing`).

    Parameters
    ----------
    path : str or Path
        A directory with a tokenizer (with a chat template) and a causal LM.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    max_new_tokens : int
    """

    def __init__(self, path: str | Path, device: str = "cpu", max_new_tokens: int = 1024) -> None:
        # transformers is imported with the backend that needs it
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from llm2fx_lab.fx.torch_render import resolve_device

        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise PlannerError(f"hf:PATH needs a local checkpoint directory; {self.path} is not one")
        self.name = f"hf:{self.path}"
        self.device = resolve_device(device, warn_cpu_fallback=False)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True).to(self.device)
        except (OSError, ValueError) as exc:
            raise PlannerError(f"cannot load a chat checkpoint from {self.path}: {str(exc).splitlines()[0]}") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise PlannerError(f"the tokenizer in {self.path} has no chat template")
        self.model.eval()
        self.max_new_tokens = int(max_new_tokens)
        self._torch = torch

    @staticmethod
    def template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Messages as chat templates expect them: text content, arguments as objects."""
        out = []
        for m in messages:
            m = dict(m)
            if isinstance(m.get("content"), list):
                m["content"] = "\n".join(p.get("text", "") for p in m["content"] if p.get("type") == "text")
            if m.get("tool_calls"):
                m["tool_calls"] = [{**c, "function": {**c["function"],
                                                      "arguments": read_arguments(c["function"]["arguments"])[0] or {}}}
                                   for c in m["tool_calls"]]
            out.append(m)
        return out

    def stream(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
               stop: threading.Event | None = None) -> Iterator[Delta | Turn]:
        """Stream one assistant turn: :class:`Delta` objects, then one :class:`Turn`."""
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        from llm2fx_lab.model.generate import StopOnEvents, stream_in_thread

        torch = self._torch
        prompt = self.tokenizer.apply_chat_template(self.template_messages(messages), tools=list(tools) or None,
                                                    add_generation_prompt=True, tokenize=False)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=False)
        halt = threading.Event()  # the stream ended or its consumer left early: generation stops
        eos = [t for t in {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")}
               if isinstance(t, int) and t >= 0]
        result: dict[str, Any] = {}

        def work() -> None:
            with torch.no_grad():
                result["ids"] = self.model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, streamer=streamer,
                    eos_token_id=eos or None, pad_token_id=eos[0] if eos else None,
                    stopping_criteria=StoppingCriteriaList([StopOnEvents(halt, stop)]))

        splitter = ThinkSplitter()
        try:
            for text in stream_in_thread(work, streamer, halt, "llm2fx-chat-generate"):
                r, c = splitter.feed(_strip_end_tokens(text))
                if r or c:
                    yield Delta(r, c)
        except Exception as exc:  # noqa: BLE001 - any failure of the checkpoint becomes one line
            raise PlannerError(f"the checkpoint in {self.path} failed to generate: {exc}") from None
        r, c = splitter.close()
        if r or c:
            yield Delta(r, c)
        calls, content, repairs = calls_in_text(splitter.content)
        n_prompt = int(inputs["input_ids"].shape[1])
        n_new = int(result["ids"].shape[1]) - n_prompt if "ids" in result else 0
        yield Turn(splitter.reasoning, content, calls, {"prompt_tokens": n_prompt, "completion_tokens": n_new},
                   "tool_calls" if calls else "stop", repairs)


def _strip_end_tokens(text: str) -> str:
    for token in ("<|im_end|>", "<|endoftext|>"):
        text = text.replace(token, "")
    return text
