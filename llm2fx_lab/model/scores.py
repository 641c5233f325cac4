"""How sure was the model? Teacher-forced digit probabilities, and what its audio tokens carry.

:func:`digit_probabilities` runs one forward pass over prompt + assistant text, with the audio
embeddings spliced in exactly as in :func:`llm2fx_lab.model.generate.estimate_stream`, and
returns a :class:`DigitScore` for every digit of every numeric argument value inside each
``<tool_call>`` block: the module, the parameter, the digit's place in the number, the digit
written, its probability (softmax over the whole vocabulary), the top-3 tokens at that
position and the distribution restricted to the ten digit tokens.

:func:`presence_probabilities` reads the model's chain probe (a head on the same audio tokens
the language model reads, trained with it): the probability of each module, set beside the
modules its text names, shows how much more the model hears than it says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from llm2fx_lab.data.format import THINK_END, TOOL_CALL_END, TOOL_CALL_START
from llm2fx_lab.errors import Llm2FxError, ToolCallError
from llm2fx_lab.fx.spec import MODULE_NAMES
from llm2fx_lab.model.generate import _as_batch
from llm2fx_lab.model.inputs import prompt_text
from llm2fx_lab.model.measurements import prompt_measurements
from llm2fx_lab.model.ntl import digit_token_ids

DIGITS = "0123456789"
_BLOCK = re.compile(re.escape(TOOL_CALL_START) + r"(.*?)(?:" + re.escape(TOOL_CALL_END) + r"|$)", re.S)
_NAME = re.compile(r"""["']name["']\s*:\s*["']([^"']+)["']""")
_NUMBER = re.compile(r"""["']([A-Za-z_][A-Za-z0-9_]*)["']\s*:\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)""")


@dataclass(frozen=True)
class DigitScore:
    """One digit of one parameter value, as scored by the model.

    Attributes
    ----------
    call : int
        Index of the ``<tool_call>`` block (0 = first).
    module, parameter : str
    value : str
        The number as written, e.g. ``"-0.35"``.
    position : int
        Index of this digit among the number's digits (0 = first digit written).
    place : int
        Power of ten of the digit in the mantissa: ``2`` for the "1" of ``150``, ``-1`` for the
        "3" of ``0.35``.
    char : int
        Character offset of the digit in the assistant text.
    token : str
        The digit written.
    token_id : int
    probability : float
        Softmax probability of ``token`` over the full vocabulary.
    top : tuple of (str, float)
        The three most probable tokens at this position, best first.
    digit_probs : tuple of 10 floats
        Probabilities of ``"0"``..``"9"`` renormalised over the digit tokens (sums to 1).
    digit_mass : float
        Total (unnormalised) probability the model put on the ten digit tokens.
    """

    call: int
    module: str
    parameter: str
    value: str
    position: int
    place: int
    char: int
    token: str
    token_id: int
    probability: float
    top: tuple[tuple[str, float], ...]
    digit_probs: tuple[float, ...]
    digit_mass: float

    @property
    def digit_probability(self) -> float:
        """Probability of the written digit among the ten digits only."""
        return self.digit_probs[DIGITS.index(self.token)]

    @property
    def is_argmax(self) -> bool:
        """Whether the written digit was the model's most probable token."""
        return bool(self.top) and self.top[0][0] == self.token

    def as_row(self) -> dict[str, Any]:
        """A flat dict for tables (top alternatives as ``"0" 0.91`` strings)."""
        return {"call": self.call, "module": self.module, "parameter": self.parameter, "value": self.value,
                "position": self.position, "place": self.place, "digit": self.token,
                "p": self.probability, "p (digits only)": self.digit_probability, "digit mass": self.digit_mass,
                **{f"top{i + 1}": f"{t!r} {p:.3f}" for i, (t, p) in enumerate(self.top)}}


def _places(value: str) -> list[int]:
    """Power of ten of each digit of ``value`` (mantissa only), in writing order."""
    mant = re.split(r"[eE]", value)[0].lstrip("-")
    k = len(mant.split(".")[0]) - 1
    out = []
    for ch in mant:
        if ch == ".":
            k = -1
            continue
        out.append(k)
        k -= 1
    return out


def value_digits(text: str) -> list[tuple[int, str, str, str, int, int, int]]:
    """Every digit of every numeric tool-call argument in ``text``.

    Returns ``(call, module, parameter, value, position, place, char)`` tuples, ``char`` being
    the digit's offset in ``text``. Only text after ``</think>`` is searched when present.
    Raises :class:`ToolCallError` when there is no ``<tool_call>`` block.
    """
    if not isinstance(text, str):
        raise ToolCallError(f"model output must be text, got {type(text).__name__}")
    start = text.index(THINK_END) + len(THINK_END) if THINK_END in text else 0
    blocks = list(_BLOCK.finditer(text, start))
    if not blocks:
        raise ToolCallError(f"no {TOOL_CALL_START} block in the text, so no parameter digits to score: "
                            f"{text[:80]!r}{'...' if len(text) > 80 else ''}")
    out = []
    for call, b in enumerate(blocks):
        body, off = b.group(1), b.start(1)
        m = _NAME.search(body)
        module = m.group(1) if m else "?"
        args_at = body.find("arguments")
        for n in _NUMBER.finditer(body, max(args_at, 0)):
            if n.group(1) in ("name", "arguments"):
                continue
            value = n.group(2)
            places = _places(value)
            mant_len = len(re.split(r"[eE]", value)[0])
            pos = 0
            for i, ch in enumerate(value[:mant_len]):
                if ch.isdigit():
                    out.append((call, module, n.group(1), value, pos, places[pos], off + n.start(2) + i))
                    pos += 1
    return out


def _char_spans(tokenizer, ids: list[int]) -> tuple[str, list[int]]:
    """The decoded text and, for each token, the character offset where it ends."""
    ends = []
    for k in range(1, len(ids) + 1):
        ends.append(len(tokenizer.decode(ids[:k], skip_special_tokens=False, clean_up_tokenization_spaces=False)))
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    return text, ends


def digit_probabilities(model, dry: Any, reference: Any, sample_rate: float | None = None,
                        text: str | None = None, instruction: str | None = None, *,
                        max_new_tokens: int = 1024, top_k: int = 3) -> list[DigitScore]:
    """Probability of each digit the model wrote (or would write) for each parameter value.

    Parameters
    ----------
    model : Llm2FxModel
    dry, reference, sample_rate, instruction
        As for :func:`llm2fx_lab.model.generate.estimate_stream`.
    text : str, optional
        The assistant text to score (everything after the prompt, e.g. ``Final`` text or a
        training target). ``None``: generate it greedily first (and score exactly the tokens
        generated, so each written digit is the argmax).
    max_new_tokens : int
        Generation length when ``text`` is ``None``.

    Returns
    -------
    list of DigitScore
        In writing order; one per digit of every numeric argument of every tool call.

    Raises
    ------
    ToolCallError
        If the text has no ``<tool_call>`` block.
    Llm2FxError
        If a digit is not a single token of its own (the format's tokenizers always split digits).
    """
    tok = model.tokenizer
    ref = _as_batch(reference, model, sample_rate, "reference")
    dry_t = _as_batch(dry, model, sample_rate, "dry")
    has_dry = dry_t is not None
    measured = prompt_measurements(model.cfg, dry, reference)
    prompt = tok(prompt_text(model.cfg, instruction, has_dry, measured), add_special_tokens=False,
                 return_tensors="pt")
    p_ids = prompt["input_ids"].to(model.device)
    flag = torch.tensor([has_dry])
    with torch.no_grad():
        audio = model.audio_embeddings(ref, dry_t, flag)
        if text is None:
            embeds = model.inputs_embeds(p_ids, audio, flag)
            out = model.llm.generate(inputs_embeds=embeds, attention_mask=torch.ones_like(p_ids),
                                     max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                     top_p=None, top_k=None, eos_token_id=model.eos_id,
                                     pad_token_id=tok.pad_token_id)
            gen = out[0].tolist()
            if gen[:p_ids.shape[1]] == p_ids[0].tolist():  # some versions return the prompt too
                gen = gen[p_ids.shape[1]:]
        else:
            if not isinstance(text, str):
                raise ToolCallError(f"text must be a string, got {type(text).__name__}")
            gen = tok(text, add_special_tokens=False)["input_ids"]
    decoded, ends = _char_spans(tok, gen)
    digits = value_digits(decoded)  # raises ToolCallError without a tool call
    if not digits:
        return []
    full = torch.cat([p_ids, torch.tensor([gen], dtype=p_ids.dtype, device=p_ids.device)], 1)
    with torch.no_grad():
        embeds = model.inputs_embeds(full, audio, flag)
        logits = model.llm(inputs_embeds=embeds, attention_mask=torch.ones_like(full)).logits[0]
    probs = torch.softmax(logits.float(), -1)
    digit_ids = digit_token_ids(tok)
    P = p_ids.shape[1]
    scores = []
    for call, module, param, value, pos, place, char in digits:
        k = next(i for i, e in enumerate(ends) if e > char)  # the token covering this character
        start = ends[k - 1] if k else 0
        token = decoded[start:ends[k]]
        if token not in DIGITS or len(token) != 1:
            raise Llm2FxError(f"digit at character {char} of {value!r} is inside the token {token!r}; "
                              "digit scores need single-digit tokens")
        dist = probs[P + k - 1]  # logits at t-1 predict the token at t
        top = torch.topk(dist, top_k)
        d = dist[digit_ids]
        mass = float(d.sum())
        scores.append(DigitScore(
            call=call, module=module, parameter=param, value=value, position=pos, place=place, char=char,
            token=token, token_id=int(gen[k]), probability=float(dist[gen[k]]),
            top=tuple((tok.decode([int(i)], skip_special_tokens=False, clean_up_tokenization_spaces=False),
                       float(p)) for p, i in zip(top.values, top.indices)),
            digit_probs=tuple(float(x) for x in (d / d.sum()).tolist()) if mass > 0 else (0.1,) * 10,
            digit_mass=mass))
    return scores


def presence_probabilities(model, dry: Any, reference: Any, sample_rate: float | None = None) -> dict[str, float]:
    """The model's chain probe on one pair: ``{module: probability it is in the chain}``.

    The probe reads the pooled audio tokens the language model is given (dry, reference and
    their comparison), so this is what those tokens carry, independently of the text the model
    writes. The presence guide (:class:`~llm2fx_lab.model.guide.PresenceGuide`) decodes from
    these probabilities.

    Parameters
    ----------
    model : Llm2FxModel
        One trained with a chain probe (``TrainConfig.aux_coef > 0``, e.g. the shipped mini).
    dry, reference, sample_rate
        As for :func:`llm2fx_lab.model.generate.estimate_stream` (``dry`` may be ``None``).

    Returns
    -------
    dict
        The nine toolset modules in toolset order, each a probability in [0, 1].

    Raises
    ------
    Llm2FxError
        If the model has no chain probe.
    AudioError
        For audio the model cannot take (wrong sample rate, NaN, too short, ...).
    """
    if getattr(model, "chain_probe", None) is None:
        raise Llm2FxError("this model has no chain probe (it was trained with TrainConfig.aux_coef = 0), "
                          "so it gives no presence probabilities")
    ref = _as_batch(reference, model, sample_rate, "reference")
    dry_t = _as_batch(dry, model, sample_rate, "dry")
    with torch.no_grad():
        _, presence = model.audio_embeddings_and_presence(ref, dry_t, torch.tensor([dry_t is not None]))
    return dict(zip(MODULE_NAMES, (float(p) for p in presence[0].tolist())))
