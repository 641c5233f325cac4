"""Presence-guided decoding: the model's own presence head chooses the modules its text names.

A small model trained from scratch hears more than its greedy text says. The shipped mini's
chain probe (a head on its pooled audio tokens, trained with it:
:meth:`llm2fx_lab.model.llm.Llm2FxModel.probe`) gets 72.8 % module accuracy on the 270 dev
pairs at :data:`PRESENCE_THRESHOLD`; the modules of its greedy text get 58.4 % on the test pairs.
:class:`PresenceGuide` is a logits processor that holds the text to the head's module set
``S`` while the language model still writes every word:

- **selection clauses** (after a :data:`~llm2fx_lab.data.cot.SELECTION_HEADS` heading): a
  clause opens with the article (or, for distortion, the name) of a module of ``S`` that has
  no clause yet, then that name; names outside ``S`` or already given a clause are masked
  after an article, ``include`` or a list separator; while a module of ``S`` has no clause,
  the tokens that would close the list (a full stop that is not a decimal point, a newline)
  are masked, and once all have one, a further ``;`` is;
- **the summary** (``Selected: ...``, ``So the chain uses ...``, ``That gives N modules: ...``):
  each module of ``S`` once, ``N`` its size;
- **the signal flow** (the order step's first sentence): each module of ``S`` once; then, and
  in the parameter step (one clause per module of ``S``), no name outside ``S``;
- **tool calls**: a call's ``"name"`` is a module of ``S`` without a call yet; after a
  ``</tool_call>`` the next call is opened while one is missing, and none once all have one.

A mask never closes every token: the model's own choice among what is left is taken, so the
text stays the model's. :meth:`PresenceGuide.summary` reports what the guide did.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

import torch

from llm2fx_lab.data.cot import NICE, ORDER_HEADS, PARAM_HEADS, SELECTION_HEADS
from llm2fx_lab.data.format import THINK_END, TOOL_CALL_END, TOOL_CALL_START
from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.spec import MODULE_NAMES

#: The words that start a module's name in the training dialogues (:data:`llm2fx_lab.data.cot.NICE`,
#: ``SHORT``) and in tool calls (the toolset names).
NAME_WORDS: dict[str, tuple[str, ...]] = {
    "equalizer": ("equalizer", "EQ"), "compressor": ("compressor",), "stereo_widener": ("stereo", "widener"),
    "gain": ("gain",), "panner": ("panner",), "distortion": ("distortion",), "reverb": ("reverb",),
    "delay": ("delay",), "limiter": ("limiter",)}
#: The step headings the training dialogues use (one source: :mod:`llm2fx_lab.data.cot`).
STEP_HEADS = (("selection", tuple(SELECTION_HEADS)), ("order", tuple(ORDER_HEADS)),
              ("parameters", tuple(PARAM_HEADS)))
#: Summary openings of the selection step (:func:`llm2fx_lab.data.cot.chain_of_thought`).
SUMMARY_STARTS = ("That gives", "So the chain uses", "Selected:")
_MENTION = re.compile(r"\b(equalizer|EQ|compressor|widener|gain|panner|distortion|reverb|delay|limiter)\b")
_WORD_MODULE = {"equalizer": "equalizer", "EQ": "equalizer", "compressor": "compressor",
                "widener": "stereo_widener", "gain": "gain", "panner": "panner", "distortion": "distortion",
                "reverb": "reverb", "delay": "delay", "limiter": "limiter"}
#: The article each module's selection clause opens with (:data:`llm2fx_lab.data.cot.NICE`).
ARTICLES = {m: NICE[m].split()[0] if NICE[m].split()[0] in ("a", "an") else "" for m in MODULE_NAMES}
_CALL_NAME = re.compile(r'"name":\s*"([a-z_]+)"')
#: Where the items of a list of modules start: after these words or characters (summaries
#: ``Selected: a, b``; flows ``a -> b → c, then d``; parameter clauses ``; for the b``).
_LIST_WORDS = ("uses", "flows", "as", "then", "the", "modules:", "module:", "Selected:")
_LIST_CHARS = (";", ":", ",", ">", "\u2192", "(")
#: Where a module may be named inside a clause (``... that points to a gain stage``).
_ARTICLE_WORDS = frozenset({"a", "an", "A", "An", "include"})
#: Default presence threshold on the head's probability: within a point of the best module
#: accuracy on development pairs, and it names about as many modules as the chains hold (an
#: extra module costs render fidelity). The sweep and its command: docs/decisions.md.
PRESENCE_THRESHOLD = 0.4
#: Below this probability a module is never named; between it and the threshold the language
#: model decides.
PRESENCE_FLOOR = 0.4


def presence_set(probabilities: Mapping[str, float], threshold: float = PRESENCE_THRESHOLD) -> tuple[str, ...]:
    """The modules whose probability exceeds ``threshold`` (toolset order); the single most
    likely module when none does (every chain has at least one module).

    >>> presence_set({"gain": 0.9, "reverb": 0.2, "delay": 0.6})
    ('gain', 'delay')
    >>> presence_set({"gain": 0.1, "reverb": 0.3})
    ('reverb',)
    """
    unknown = sorted(set(probabilities) - set(MODULE_NAMES))
    if unknown:
        raise Llm2FxError(f"unknown modules {unknown}; allowed: {', '.join(MODULE_NAMES)}")
    if not probabilities:
        raise Llm2FxError("presence_set needs at least one module probability")
    if not 0.0 < threshold < 1.0:
        raise Llm2FxError(f"threshold must be in (0, 1), got {threshold}")
    chosen = tuple(m for m in MODULE_NAMES if probabilities.get(m, 0.0) > threshold)
    return chosen or (max(probabilities, key=probabilities.get),)


def optional_set(probabilities: Mapping[str, float], threshold: float = PRESENCE_THRESHOLD,
                 floor: float = PRESENCE_FLOOR) -> tuple[str, ...]:
    """The modules left to the language model: probability in ``(floor, threshold]``, less
    the one :func:`presence_set` requires when none passes ``threshold``.

    >>> optional_set({"gain": 0.9, "reverb": 0.2, "delay": 0.35}, 0.4, 0.1)
    ('reverb', 'delay')
    """
    if not 0.0 <= floor <= threshold:
        raise Llm2FxError(f"floor must be in [0, threshold={threshold}], got {floor}")
    required = presence_set(probabilities, threshold)
    return tuple(m for m in MODULE_NAMES if m not in required and floor < probabilities.get(m, 0.0) <= threshold)


def mentioned(text: str) -> list[str]:
    """The modules ``text`` names, in order of first mention.

    >>> mentioned("a stereo widener and a gain stage; the target gains harmonics")
    ['stereo_widener', 'gain']
    """
    out: list[str] = []
    for m in _MENTION.finditer(text):
        name = _WORD_MODULE[m.group(1)]
        if name not in out:
            out.append(name)
    return out


def _at_list_item(text: str) -> bool:
    """Whether the next word of ``text`` starts an item of a module list (see ``_LIST_WORDS``)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped.endswith(_LIST_CHARS) or stripped.endswith("->"):
        return True
    return stripped.split()[-1] in _LIST_WORDS


def _may_name(text: str) -> bool:
    """Whether a module name may come next: a list item, or after an article or ``include``."""
    stripped = text.rstrip()
    return _at_list_item(text) or (bool(stripped) and stripped.split()[-1] in _ARTICLE_WORDS)


def _decimal_point(text: str) -> bool:
    """Whether a ``.`` written after ``text`` would be a decimal point: it ends in digits
    that have none yet (``0`` and ``-12`` may go on, ``0.5`` may not).

    >>> _decimal_point("mix 0"), _decimal_point("mix 0.5"), _decimal_point("tails")
    (True, False, False)
    """
    number = re.search(r"[\d.]*\d$", text)
    return number is not None and "." not in number.group(0)


def _split_summary(body: str) -> tuple[str, str]:
    """A selection paragraph's (clauses, summary); the summary is "" until one starts."""
    at = [body.rfind(s) for s in SUMMARY_STARTS if s in body]
    return (body[:max(at)], body[max(at):]) if at else (body, "")


def _selection_clauses(think: str) -> str:
    """The clause part of the selection paragraph in ``think`` (before its summary), or ""."""
    starts = [think.find(h) for h in SELECTION_HEADS if h in think]
    if not starts:
        return ""
    return _split_summary(think[min(starts):].split("\n\n", 1)[0])[0]


def last_heading(think: str) -> tuple[str, int]:
    """(step, where its text starts) of the step heading (:data:`STEP_HEADS`) that comes last
    in ``think``; ``("", -1)`` without one."""
    best, step, end = -1, "", -1
    for name, heads in STEP_HEADS:
        for head in heads:
            at = think.rfind(head)
            if at > best:
                best, step, end = at, name, at + len(head)
    return step, end


def _paragraph(think: str) -> tuple[str, str]:
    """(step, its text so far) of the reasoning paragraph being written: ``"selection"``,
    ``"order"`` or ``"parameters"`` after that step's heading, ``""`` before any heading or
    after a finished parameters paragraph."""
    step, end = last_heading(think)
    if not step:
        return "", ""
    body = think[end:]
    if "\n\n" in body.rstrip(" "):
        return "", ""
    return step, body


class PresenceGuide:
    """A logits processor (transformers' signature) that holds one row's text to ``modules``.

    Parameters
    ----------
    tokenizer
        The model's tokenizer (names are looked up in its vocabulary).
    modules : iterable of str
        The modules the text must name (non-empty, toolset names).
    optional : iterable of str
        Modules the text may name or leave out (the model decides, as unguided); any other
        module is never named. ``S`` below is ``modules`` plus the optional ones the
        selection clauses named.
    """

    def __init__(self, tokenizer, modules: Iterable[str], optional: Iterable[str] = ()):
        self.required = tuple(dict.fromkeys(modules))
        if not self.required:
            raise Llm2FxError("PresenceGuide needs at least one module")
        self.optional = tuple(m for m in dict.fromkeys(optional) if m not in self.required)
        bad = [m for m in self.required + self.optional if m not in MODULE_NAMES]
        if bad:
            raise Llm2FxError(f"unknown modules {bad}; allowed: {', '.join(MODULE_NAMES)}")
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab()
        missing = [t for t in (TOOL_CALL_START, THINK_END, "Ċ", "Ġ", ";", ",", ".") if t not in vocab]
        if missing:
            raise Llm2FxError(f"this tokenizer lacks the tokens {missing} the presence guide needs")

        def ids(forms: Iterable[str]) -> set[int]:
            return {vocab[f] for w in forms for f in (w, "Ġ" + w, w.capitalize(), "Ġ" + w.capitalize()) if f in vocab}

        self.name_ids = {m: ids(NAME_WORDS[m][:1] if m == "stereo_widener" else NAME_WORDS[m])
                         for m in MODULE_NAMES}
        self.article_ids = {a: ids([a]) for a in ("a", "an")}
        self.call_ids = {m: {vocab[tokenizer.tokenize(m)[0]]} for m in MODULE_NAMES}
        # every token that holds the punctuation (e.g. ``).`` and ``);`` as well as ``.``)
        self.stop_ids = {i for t, i in vocab.items() if "." in t or "Ċ" in t}
        self.semicolon_ids = {i for t, i in vocab.items() if ";" in t}
        self.comma_ids = {i for t, i in vocab.items() if "," in t}
        self.open_id, self.newline_id, self.space_id = vocab[TOOL_CALL_START], vocab["Ċ"], vocab["Ġ"]
        self.digit_ids = {str(d): vocab[str(d)] for d in range(10) if str(d) in vocab}
        self.with_ids = ids(["with"])  # "With a single module (...)": only for one module
        self.n_logits = len(tokenizer)
        self.text = ""
        self.n_seen = 0
        self.steered = 0

    # ---- what the next token may be ----------------------------------------------------------

    @property
    def modules(self) -> tuple[str, ...]:
        """``S``: the required modules, then the optional ones the selection clauses named."""
        clauses = _selection_clauses(self.text.split(THINK_END, 1)[0])
        named = mentioned(clauses)
        return self.required + tuple(m for m in named if m in self.optional)

    def _names_except(self, allowed: Iterable[str]) -> set[int]:
        allowed = set(allowed)
        return {i for m in MODULE_NAMES if m not in allowed for i in self.name_ids[m]}

    def _list(self, text: str, listed: list[str], closes: set[int]) -> set[int]:
        """Mask for a list of the modules of S: items from the missing ones only, and the list
        closes (``closes``) only once none is missing; then no further item (``,``)."""
        missing = [m for m in self.modules if m not in listed]
        ban = self._names_except(missing) if _at_list_item(text) else set()
        if missing and not _decimal_point(text):
            ban |= closes
        if not missing:
            ban |= self.comma_ids
        return ban

    def _selection(self, body: str) -> tuple[set[int], int | None]:
        summary = _split_summary(body)[1]
        if summary:  # the summary: a list of S
            if summary == "That gives":
                return set(), self.space_id
            if summary == "That gives ":
                return set(), self.digit_ids.get(str(len(self.modules)))
            head = summary.split(":", 1)[1] if ":" in summary else summary[len("So the chain uses"):]
            return self._list(self.text, mentioned(head), self.stop_ids), None
        # the clauses: each opens with the name of a required or optional module without one
        said = mentioned(body)
        missing = [m for m in self.required if m not in said]
        open_ = missing + [m for m in self.optional if m not in said]
        clause = body.rsplit(";", 1)[-1]
        if not clause.strip():  # a clause starts: its article, or the name itself
            if not open_:
                return set(), None
            allow = {i for m in open_ for i in (self.article_ids[ARTICLES[m]] if ARTICLES[m]
                                                 else self.name_ids[m])}
            return {i for i in range(self.vocab_size) if i not in allow}, None
        if clause.strip() in ("a", "A", "an", "An"):  # ... then the name
            article = clause.strip().lower()
            allow = {i for m in open_ if ARTICLES[m] == article for i in self.name_ids[m]}
            if allow:
                return {i for i in range(self.vocab_size) if i not in allow}, None
        ban = self._names_except(open_) if _may_name(self.text) else set()
        if missing and not _decimal_point(self.text):
            ban |= self.stop_ids
        if not open_:
            ban |= self.semicolon_ids
        return ban, None

    def _think(self) -> tuple[set[int], int | None]:
        step, body = _paragraph(self.text)
        if step == "selection":
            return self._selection(body)
        if step == "order":
            first = body.split(". ", 1)
            if len(first) == 1 and len(self.modules) > 1:  # the flow: every module of S once
                ban = self._list(self.text, mentioned(body), self.stop_ids)
                if not body.strip():
                    ban |= self.with_ids
                return ban, None
        if step == "parameters":  # one clause per module of S, each opening with its name
            said = mentioned(" ".join(c.strip()[:40] for c in body.split(";")))
            missing = [m for m in self.modules if m not in said]
            clause = body.rsplit(";", 1)[-1]
            ban = set()
            if not clause.strip() or clause.rstrip().endswith("for the"):
                ban |= self._names_except(missing)
            if missing and not _decimal_point(self.text):
                ban |= self.stop_ids
            if not missing:
                ban |= self.semicolon_ids
            return ban, None
        return (self._names_except(self.modules) if _at_list_item(self.text) else set()), None

    def _calls(self, calls: str) -> tuple[set[int], int | None]:
        called = _CALL_NAME.findall(calls)
        missing = [m for m in self.modules if m not in called]
        if calls.endswith('"name": "'):  # only a module of S without a call yet
            allow = {i for m in missing for i in self.call_ids[m]}
            if allow:
                return {i for i in range(self.vocab_size) if i not in allow}, None
        if calls.endswith(TOOL_CALL_END):
            return set(), self.newline_id if missing else None
        if calls.endswith(TOOL_CALL_END + "\n"):
            return (set(), self.open_id) if missing else ({self.open_id}, None)
        return set(), None

    def next_token_rule(self) -> tuple[set[int], int | None]:
        """(token ids to mask, a forced token id or None) after the text so far."""
        if THINK_END in self.text:
            return self._calls(self.text.split(THINK_END, 1)[1])
        return self._think()

    @property
    def vocab_size(self) -> int:
        """Token ids a rule ranges over: the tokenizer's, or the model's logits if wider."""
        return max(len(self.tokenizer), self.n_logits)

    def summary(self) -> list[str]:
        """What the guide did, in words (one line; for ``Final.repairs``)."""
        left = (f" and left {', '.join(self.optional)} to the model, which named "
                f"{', '.join(m for m in self.modules if m in self.optional) or 'none of them'}"
                if self.optional else "")
        return [f"presence guide: the presence head required {', '.join(self.required)}{left}; "
                f"{self.steered} token{'s' if self.steered != 1 else ''} steered away from the model's first choice"]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != 1:
            raise Llm2FxError(f"PresenceGuide steers one row; got {input_ids.shape[0]}")
        self.n_logits = scores.shape[1]
        ids = input_ids[0].tolist()
        if len(ids) > self.n_seen:
            self.text += self.tokenizer.decode(ids[self.n_seen:])
            self.n_seen = len(ids)
        ban, forced = self.next_token_rule()
        top = int(scores[0].argmax())
        if forced is not None:
            if forced != top:
                self.steered += 1
            keep = scores[0, forced].clone()
            scores[0] = float("-inf")
            scores[0, forced] = keep if torch.isfinite(keep) else 0.0
            return scores
        ban = {i for i in ban if i < scores.shape[1]}
        if ban and len(ban) < scores.shape[1]:
            if top in ban:
                self.steered += 1
            scores[0, torch.tensor(sorted(ban), device=scores.device)] = float("-inf")
        return scores
