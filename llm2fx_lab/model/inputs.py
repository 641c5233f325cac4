"""From dialogues to training batches: text rendering, placeholder expansion, labels, audio.

A :class:`Dialogue` is one training example: dry and reference audio (``(2, samples)``
float32; ``dry`` may be ``None`` for blind estimation), the instruction, the chain of
thought, the chain and the short response. :func:`encode` renders it in the dialogue format
of :mod:`llm2fx_lab.data.format` and expands the audio placeholder into
:func:`audio_layout`: ``"dry audio"`` + 32 pads + ``"reference audio"`` + 32 pads
(+ ``"comparison"`` + the pair-comparison pads when the model has them). The model writes
its audio embeddings over the pads, in that order. Labels cover only the assistant turn.

On disk (``llm2fx train --data DIR``): ``DIR/dialogues.jsonl``, one JSON object a line::

    {"dry": "audio/0001_dry.flac" | null, "reference": "audio/0001_ref.flac",
     "instruction": "...", "reasoning": "...", "tool_calls": [{"name": ..., "arguments": {...}}],
     "response": "...", "split": "train" | "val" | "test"}

with audio paths relative to ``DIR`` (read at the model's sample rate).

A folder written by ``llm2fx data generate`` (Parquet shards + ``manifest.json``) is read
directly too: the first turn of each dialogue, with the dry clip dropped for rows the
generator masked (blind estimation). :func:`iter_generated_dir` streams it in order;
:class:`GeneratedDialogues` is a map-style ``torch`` dataset over one split that decodes a
row's audio only when that row is asked for, so training holds no waveforms but a batch's.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from llm2fx_lab.audio.io import load_audio, resample
from llm2fx_lab.data.format import (
    AUDIO_PAD_TOKEN,
    AUDIO_PLACEHOLDER,
    N_AUDIO_TOKENS,
    assistant_message,
    audio_token_layout,
    default_tools,
    render_dialogue,
    split_prompt_target,
    user_message,
)
from llm2fx_lab.data.generate import SPLIT_CODES, decode_audio, iter_examples, load_dataset_dir
from llm2fx_lab.errors import AudioError, Llm2FxError, ParameterError, ToolCallError
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.fx.vectors import probe_targets
from llm2fx_lab.model.config import ModelConfig
from llm2fx_lab.model.encoders import EffectsEncoder, PairComparison, audio_features
from llm2fx_lab.model.measurements import measurement_messages, measurement_result, pair_measurements

DEFAULT_INSTRUCTION = "Estimate the audio effects chain that turns the dry audio into the reference audio."
COMPARISON_TEXT = "comparison"
IGNORE_INDEX = -100
#: The columns of a generated row that make its :class:`Dialogue` (the rest is metadata):
#: the text ones, and those :func:`~llm2fx_lab.data.generate.decode_audio` reads.
TEXT_COLUMNS = ["messages", "dry_masked", "chain", "evidence"]
AUDIO_COLUMNS = ["sample_rate", "dry_flac", "wet_flac", "dry_path", "wet_path"]


@dataclass(frozen=True)
class Dialogue:
    """One example. Audio is ``(2, samples)`` float32 at the model's sample rate."""

    reference: np.ndarray
    chain: Chain
    dry: np.ndarray | None = None
    instruction: str = DEFAULT_INSTRUCTION
    reasoning: str = ""
    response: str = ""
    #: Cached parameter-free encoder inputs of this example (:func:`attach_features`), or None.
    features: dict[str, torch.Tensor] | None = None
    #: The pair's measurement (:func:`~llm2fx_lab.model.measurements.measurement_result`): what
    #: a model with ``measurements_in_prompt`` reads in its prompt.
    measurements: dict[str, Any] | None = None


def n_pair_tokens(cfg: ModelConfig) -> int:
    return cfg.encoder.n_pair_queries if cfg.encoder.pair_tokens else 0


def audio_layout(cfg: ModelConfig, has_dry: bool) -> str:
    """The text that replaces the placeholder; each pad stands for one audio embedding."""
    extra = f"{COMPARISON_TEXT}{AUDIO_PAD_TOKEN * n_pair_tokens(cfg)}" if has_dry and n_pair_tokens(cfg) else ""
    return audio_token_layout(has_dry) + extra


def n_audio_slots(cfg: ModelConfig, has_dry: bool) -> int:
    """How many pads :func:`audio_layout` writes."""
    return N_AUDIO_TOKENS * (2 if has_dry else 1) + (n_pair_tokens(cfg) if has_dry else 0)


def _expand(prompt: str, cfg: ModelConfig, has_dry: bool) -> str:
    n = prompt.count(AUDIO_PLACEHOLDER)
    if n != 1:
        raise ToolCallError(f"the prompt must hold the audio placeholder {AUDIO_PLACEHOLDER!r} exactly once, found {n}")
    return prompt.replace(AUDIO_PLACEHOLDER, audio_layout(cfg, has_dry))


def _tools(cfg: ModelConfig):
    return None if cfg.llm.tool_schemas_in_prompt else []


def prompt_text(cfg: ModelConfig, instruction: str | None = None, has_dry: bool = True,
                measurements: Mapping[str, Any] | None = None) -> str:
    """The generation prompt (ends with ``<|im_start|>assistant\\n``), placeholder expanded;
    with ``cfg.llm.measurements_in_prompt``, the ``measure_pair`` call and its result
    (``measurements``, required then) come before it."""
    messages = [user_message(instruction or DEFAULT_INSTRUCTION)]
    if cfg.llm.measurements_in_prompt:
        if measurements is None:
            raise Llm2FxError("this model reads the pair's measurements in its prompt (measurements_in_prompt): "
                              "pass them (llm2fx_lab.model.measurements.pair_measurements)")
        messages += measurement_messages(measurements)
    text = render_dialogue(messages, tools=_tools(cfg), add_generation_prompt=True)
    return _expand(text, cfg, has_dry)


def target_text(d: Dialogue) -> str:
    """What the model must write: ``<think>...</think>``, tool calls, response, ``<|im_end|>``."""
    text = render_dialogue([user_message("x"), assistant_message(d.reasoning, d.chain, d.response)], tools=[])
    return split_prompt_target(text)[1].rstrip("\n")


def encode(d: Dialogue, tokenizer, cfg: ModelConfig, has_dry: bool | None = None) -> dict[str, list[int]]:
    """``{"input_ids", "labels"}`` for one dialogue (labels ``-100`` on the prompt)."""
    has_dry = d.dry is not None if has_dry is None else has_dry
    p = tokenizer(prompt_text(cfg, d.instruction, has_dry, d.measurements), add_special_tokens=False)["input_ids"]
    t = tokenizer(target_text(d), add_special_tokens=False)["input_ids"]
    return {"input_ids": p + t, "labels": [IGNORE_INDEX] * len(p) + t}


def fit_clip(x: np.ndarray, cfg: ModelConfig, name: str) -> np.ndarray:
    """Crop or zero-pad ``(2, samples)`` to ``clip_seconds``; refuse clips under ``min_seconds``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 2:
        raise AudioError(f"{name} must be (2, samples) stereo, got shape {x.shape}")
    sr = cfg.encoder.sample_rate
    if x.shape[1] < cfg.encoder.min_seconds * sr:
        raise AudioError(f"{name} is {x.shape[1] / sr:.3f} s long; the model needs at least "
                         f"{cfg.encoder.min_seconds:g} s at {sr} Hz")
    n = int(round(cfg.encoder.clip_seconds * sr))
    return np.ascontiguousarray(x[:, :n] if x.shape[1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[1]))))


def attach_features(cfg: ModelConfig, dialogues: Iterable[Dialogue], batch_size: int = 16,
                    progress: bool = True, keep_audio: bool = True, total: int | None = None) -> list[Dialogue]:
    """Copies of ``dialogues`` carrying their cached encoder inputs (``Dialogue.features``).

    The built-in encoder's spectra and the pair comparison have no parameters (they depend on
    ``cfg.encoder`` only), so training computes them once per example instead of at every
    step: the same numbers, several times faster on a CPU. ``dialogues`` may be a lazy
    iterable (:func:`iter_generated_dir`); with ``keep_audio=False`` the waveforms are
    replaced by zero-length arrays (``dry`` stays ``None`` on blind rows), which is what
    lets thousands of 10 s pairs fit in memory.
    """
    if cfg.encoder.kind != "builtin":
        raise Llm2FxError(f"cached audio features need the built-in encoder, not {cfg.encoder.kind!r}")
    encoder = EffectsEncoder(cfg.encoder)
    pair = PairComparison(cfg.encoder) if cfg.encoder.pair_tokens else None
    empty = np.zeros((2, 0), dtype=np.float32)
    out: list[Dialogue] = []
    items = iter(dialogues)
    with tqdm(total=total, desc="audio features", unit="ex", disable=not progress) as bar:
        while chunk := list(itertools.islice(items, batch_size)):
            refs = np.stack([fit_clip(d.reference, cfg, "reference") for d in chunk])
            drys = np.stack([fit_clip(d.dry, cfg, "dry") if d.dry is not None else np.zeros_like(refs[0])
                             for d in chunk])
            has_dry = torch.tensor([d.dry is not None for d in chunk])
            feats = audio_features(encoder, pair, torch.from_numpy(refs), torch.from_numpy(drys), has_dry)
            for i, d in enumerate(chunk):
                audio = {} if keep_audio else {"reference": empty, "dry": None if d.dry is None else empty}
                out.append(dataclasses.replace(d, features={k: v[i].clone() for k, v in feats.items()}, **audio))
            bar.update(len(chunk))
    return out


class Collator:
    """Turns a list of :class:`Dialogue` into a padded batch (dict of tensors).

    ``dry_mask_prob`` drops the dry clip of a training example with that probability (blind
    estimation, as the paper's robust training). When every dialogue carries cached
    ``features`` the batch holds ``audio_features`` instead of waveforms.
    """

    def __init__(self, tokenizer, cfg: ModelConfig, dry_mask_prob: float = 0.0, seed: int = 0):
        self.tokenizer, self.cfg = tokenizer, cfg
        self.dry_mask_prob = dry_mask_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, dialogues: Sequence[Dialogue]) -> dict[str, torch.Tensor]:
        rows, refs, drys, has_dry = [], [], [], []
        cached = all(d.features is not None for d in dialogues)
        for d in dialogues:
            keep = d.dry is not None and not (self.dry_mask_prob and self.rng.random() < self.dry_mask_prob)
            rows.append(encode(d, self.tokenizer, self.cfg, has_dry=keep))
            has_dry.append(keep)
            if not cached:
                refs.append(fit_clip(d.reference, self.cfg, "reference"))
                drys.append(fit_clip(d.dry, self.cfg, "dry") if keep else np.zeros_like(refs[-1]))
        n = max(len(r["input_ids"]) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), n), pad, dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            k = len(r["input_ids"])
            ids[i, :k] = torch.tensor(r["input_ids"])
            labels[i, :k] = torch.tensor(r["labels"])
            mask[i, :k] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels, "has_dry": torch.tensor(has_dry)}
        if self.cfg.train.aux_coef > 0:
            batch["chain_targets"] = torch.from_numpy(np.stack([probe_targets(d.chain) for d in dialogues]))
        if cached:
            batch["audio_features"] = {k: torch.stack([d.features[k] for d in dialogues])
                                       for k in dialogues[0].features}
        else:
            batch.update(reference=torch.from_numpy(np.stack(refs)), dry=torch.from_numpy(np.stack(drys)))
        return batch


class LengthGroupedBatches:
    """Batches of similar token length, shuffled anew at every pass (a ``batch_sampler``).

    Indices are shuffled, cut into windows of ``window`` batches, sorted by length inside a
    window and cut into batches whose order is shuffled again: little padding (dialogues run
    from ~150 to ~1100 tokens) while every epoch still sees a new mix.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, window: int = 50):
        if batch_size < 1:
            raise Llm2FxError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths, self.batch_size, self.window = np.asarray(lengths), batch_size, window
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(len(self.lengths))
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start:start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        for i in self.rng.permutation(len(batches)):
            yield batches[i]


def _generated_split(split: str | None) -> str | None:
    """The generator's name of ``split`` (``"val"`` is accepted for ``"validation"``)."""
    if split is None:
        return None
    name = {"val": "validation"}.get(split, split)
    if name not in SPLIT_CODES:
        raise ParameterError(f"unknown split {split!r}; allowed: {', '.join(SPLIT_CODES)} (or val)")
    return name


def generated_dialogue(row: Mapping[str, Any], cfg: ModelConfig, path: str | Path,
                       audio: bool = True) -> Dialogue:
    """The :class:`Dialogue` of one row of a generated folder (its first turn).

    Parameters
    ----------
    row : mapping
        The row's :data:`TEXT_COLUMNS` (and :data:`AUDIO_COLUMNS` when ``audio``).
    cfg : ModelConfig
        Audio is resampled to ``cfg.encoder.sample_rate`` when the row's rate differs.
    path : str or Path
        The folder, for rows whose audio is stored as files (``audio="paths"``).
    audio : bool
        Decode the FLAC audio; ``False`` gives zero-length ``(2, 0)`` arrays instead (``dry``
        stays ``None`` on blind rows), for what reads only the text (token lengths, tokenizer).
    """
    messages = json.loads(row["messages"])
    user = next(m for m in messages if m["role"] == "user")
    answer = next(m for m in messages if m["role"] == "assistant")
    instruction = user["content"].replace(AUDIO_PLACEHOLDER, "").strip() or DEFAULT_INSTRUCTION
    response = answer["content"].rsplit("</tool_call>", 1)[-1].strip()
    if audio:
        dry, wet, rate = decode_audio(row, path)
        sr = cfg.encoder.sample_rate
        if rate != sr:
            dry, wet = resample(dry, rate, sr), resample(wet, rate, sr)
    else:
        dry = wet = np.zeros((2, 0), dtype=np.float32)
    evidence = json.loads(row["evidence"]) if row.get("evidence") else None
    return Dialogue(reference=wet, dry=None if row["dry_masked"] else dry,
                    chain=as_chain(row["chain"]), instruction=instruction,
                    reasoning=answer.get("reasoning_content", ""), response=response,
                    measurements=measurement_result(evidence) if evidence else None)


def iter_generated_dir(path: str | Path, cfg: ModelConfig, split: str | None = None) -> Iterator[Dialogue]:
    """Dialogues from a folder written by ``llm2fx data generate`` (first turn of each row), lazily.

    The generator names its splits ``train``/``validation``/``test``; ``"val"`` is accepted
    for ``"validation"``. Audio is resampled to the encoder's rate when it differs.
    """
    path = Path(path)
    for row in iter_examples(path, _generated_split(split), columns=TEXT_COLUMNS + AUDIO_COLUMNS):
        yield generated_dialogue(row, cfg, path)


def count_generated(path: str | Path, split: str | None = None) -> int:
    """How many examples :func:`iter_generated_dir` yields (from the manifest's shards)."""
    return sum(1 for _ in iter_examples(Path(path), _generated_split(split), columns=["chain"]))


class GeneratedDialogues(Dataset):
    """One split of a generated folder as a map-style dataset that decodes audio on access.

    ``dataset[i]`` is the :class:`Dialogue` that :func:`iter_generated_dir` yields i-th for
    the split, audio included; nothing else holds a waveform, so a process holds only the
    batches it is working on. Rows are read from the HF ``datasets`` Arrow cache of the
    folder (:func:`~llm2fx_lab.data.generate.load_dataset_dir`): the first use converts the
    shards into it, once (as big as the shards; ``HF_DATASETS_CACHE`` says where), and every
    process after that memory-maps the same file, so a random row costs its FLAC decoding.

    Parameters
    ----------
    path : str or Path
        A folder written by ``llm2fx data generate`` (``manifest.json`` and Parquet shards).
    cfg : ModelConfig
        The model's config (the encoder's sample rate).
    split : str
        ``"train"``, ``"validation"`` (or ``"val"``) or ``"test"``. A split the folder lacks
        gives an empty dataset.

    Examples
    --------
    >>> ds = GeneratedDialogues("data/lpfx", preset("qwen3-4b"), "train")  # doctest: +SKIP
    >>> ds[0].reference.shape, len(ds.text_dialogue(0).reference[0])      # doctest: +SKIP
    ((2, 441000), 0)
    """

    def __init__(self, path: str | Path, cfg: ModelConfig, split: str = "train"):
        self.path, self.cfg = Path(path), cfg
        self.split = _generated_split(split)
        missing = [name for name, found in (("manifest.json", (self.path / "manifest.json").is_file()),
                                            ("*.parquet shards", any(self.path.glob("*.parquet")))) if not found]
        if missing:
            raise Llm2FxError(f"{self.path} has no {' and no '.join(missing)}: a folder written by "
                              "`llm2fx data generate` holds both")
        table = load_dataset_dir(self.path).get(self.split)
        self._rows = None if table is None else table.select_columns(TEXT_COLUMNS + AUDIO_COLUMNS)
        self._text = None if table is None else table.select_columns(TEXT_COLUMNS)

    def __len__(self) -> int:
        return 0 if self._rows is None else self._rows.num_rows

    def _index(self, i: int) -> int:
        n = len(self)
        if not n:
            raise ParameterError(f"index {i}: {self.path} holds no {self.split} examples")
        if not -n <= int(i) < n:
            raise ParameterError(f"index {i} is out of range for the {n} {self.split} examples of {self.path}; "
                                 f"allowed: 0 to {n - 1}")
        return int(i) % n

    def __getitem__(self, i: int) -> Dialogue:
        return generated_dialogue(self._rows[self._index(i)], self.cfg, self.path)

    def __iter__(self) -> Iterator[Dialogue]:
        return (self[i] for i in range(len(self)))

    def text_dialogue(self, i: int) -> Dialogue:
        """``self[i]`` without its audio (zero-length arrays), reading only the text columns."""
        return generated_dialogue(self._text[self._index(i)], self.cfg, self.path, audio=False)

    def text_dialogues(self) -> Iterator[Dialogue]:
        """Every :meth:`text_dialogue`, in order."""
        return (generated_dialogue(row, self.cfg, self.path, audio=False) for row in (() if self._text is None else self._text))


def text_only(dialogues: Sequence[Dialogue] | GeneratedDialogues) -> Iterable[Dialogue]:
    """What token lengths and the tokenizer corpus read: a :class:`GeneratedDialogues`'
    :meth:`~GeneratedDialogues.text_dialogues` (no audio decoded), any other sequence as is."""
    return dialogues.text_dialogues() if isinstance(dialogues, GeneratedDialogues) else dialogues


def read_generated_dir(path: str | Path, cfg: ModelConfig, split: str | None = None) -> list[Dialogue]:
    """All of :func:`iter_generated_dir` in a list (audio in memory: fine for a few hundred)."""
    out = list(iter_generated_dir(path, cfg, split))
    if not out and split in (None, "train"):
        raise Llm2FxError(f"{path} holds no {split or ''} examples".replace("  ", " "))
    return out


def read_dialogue_dir(path: str | Path, cfg: ModelConfig, split: str | None = None) -> list[Dialogue]:
    """Read ``DIR/dialogues.jsonl`` (format in the module docstring) or a generated Parquet
    folder (:func:`read_generated_dir`), optionally one ``split``."""
    path = Path(path)
    index = path / "dialogues.jsonl"
    if not index.is_file() and (path / "manifest.json").is_file() and any(path.glob("*.parquet")):
        return read_generated_dir(path, cfg, split)
    if not index.is_file():
        raise Llm2FxError(f"no dialogues.jsonl or generated *.parquet shards in {path} "
                          "(see llm2fx_lab.model.inputs for the format; `llm2fx data generate` writes one)")
    out = []
    for line_no, line in enumerate(index.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as e:
            raise Llm2FxError(f"{index}:{line_no}: not JSON ({e})") from None
        if split is not None and rec.get("split", "train") != split:
            continue
        sr = cfg.encoder.sample_rate
        ref, _ = load_audio(path / rec["reference"], sample_rate=sr)
        dry = load_audio(path / rec["dry"], sample_rate=sr)[0] if rec.get("dry") else None
        measured = pair_measurements(dry, ref, sr) if cfg.llm.measurements_in_prompt else None
        out.append(Dialogue(reference=ref, dry=dry, chain=as_chain(rec["tool_calls"]),
                            instruction=rec.get("instruction") or DEFAULT_INSTRUCTION,
                            reasoning=rec.get("reasoning", ""), response=rec.get("response", ""),
                            measurements=measured))
    return out


def corpus_texts(dialogues: Sequence[Dialogue] | GeneratedDialogues, cfg: ModelConfig) -> list[str]:
    """Texts to train the tokenizer on: every prompt and target, plus the tool schemas."""
    texts = [prompt_text(cfg, d.instruction, measurements=d.measurements) + target_text(d)
             for d in text_only(dialogues)]

    texts.append(json.dumps(default_tools()))
    return texts
