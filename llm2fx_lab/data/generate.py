"""The generator: sharded, resumable, deterministic LP-Fx-style datasets.

:func:`generate` writes ``{out}/{split}-{shard:05d}.parquet`` files (HF datasets / Arrow)
plus ``{out}/manifest.json``. Every example is a pure function of ``(seed, split, index)``
and the dry source, so the same seed gives the same shards whatever the number of workers or
machines (local processes or a Dask cluster: :mod:`llm2fx_lab.data.cluster`; this process writes
every file), an interrupted run resumes by skipping the shards already on disk, and
:func:`verify` checks a folder against its manifest (every index of every split once).

Per example: a dry 10 s segment (sources share one rendered MIDI piece between
``segments_per_unit`` consecutive examples), a chain of the scheduled length sampled as the
official code does, rendered and clipped to [-1, 1] (the stored FLAC is what is measured);
chains that the official MR-STFT similarity filter rejects are redrawn (same length, same
segment) up to ``max_filter_tries`` times; then Evidence, the grounded dialogue, and FLAC
audio (inline bytes, or files with ``audio="paths"``). The filter stops measuring as soon as
a chain is certain to pass (:func:`llm2fx_lab.analysis.mrstft.similarity_filter`): the stored
``mrstft_distance`` is then a lower bound at or above the threshold and ``mrstft_exact`` is
false; ``exact_distance=True`` measures every chain in full (slower; same chains and audio).

Splits: ``train`` (official length proportions 10000//n), ``validation`` (official test
proportions 100//n) and ``test`` (exactly ``test_per_length`` examples of each length 1..9);
each split draws its dry material from its own seeds (MIDI) or hashed song folders.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from llm2fx_lab.analysis import compare
from llm2fx_lab.analysis.mrstft import ClipSpectra
from llm2fx_lab.audio.fxnorm import pseudo_dry
from llm2fx_lab.data import dialogue as dl
from llm2fx_lab.data import format as fmt
from llm2fx_lab.data.chains import balanced_schedule, length_schedule, offline_length_counts, sample_chain
from llm2fx_lab.data.cluster import ClusterConfig, map_units
from llm2fx_lab.data.cot import chain_of_thought, response_text
from llm2fx_lab.data.similarity import similarity_filter
from llm2fx_lab.data.sources import make_source
from llm2fx_lab.errors import AudioError, Llm2FxError
from llm2fx_lab.fx.render import render

log = logging.getLogger(__name__)
SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
#: The manifest's format tag. v2 (this version): ``mrstft_distance`` may be a lower bound, with
#: the ``mrstft_exact`` column saying which; v1 shards always held the exact distance.
FORMAT = "llm2fx-lab lp-fx v2"
#: Rows per Parquet row group (about 150 MB of inline audio).
SHARD_ROW_GROUP = 100


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate. ``n_examples`` is per split (``n_validation``, when given, sizes the
    validation split instead); ``test`` defaults to 100 per length (900)."""

    out_dir: str
    splits: tuple[str, ...] = ("train",)
    n_examples: int = 1000
    test_per_length: int = 100
    seed: int = 0
    source: str = "midi"
    shard_size: int = 500
    audio: str = "inline"
    #: Probability that an example masks its dry clip (blind estimation). The paper masks the dry
    #: audio "with a probability" its public code does not state; 0.3 is ours.
    dry_mask_probability: float = 0.3
    style_probability: float = 0.15
    refinement_probability: float = 0.1
    segments_per_unit: int = 6
    max_filter_tries: int = 20
    flac_subtype: str = "PCM_16"
    n_validation: int | None = None
    exact_distance: bool = False

    def __post_init__(self) -> None:
        bad = [s for s in self.splits if s not in SPLIT_CODES]
        if bad:
            raise Llm2FxError(f"unknown split {bad[0]!r}; allowed: {', '.join(SPLIT_CODES)}")
        if self.audio not in ("inline", "paths"):
            raise Llm2FxError(f"audio must be 'inline' or 'paths', got {self.audio!r}")
        if self.shard_size < 1 or self.n_examples < 0 or self.segments_per_unit < 1:
            raise Llm2FxError("shard_size and segments_per_unit must be >= 1 and n_examples >= 0")
        if self.n_validation is not None and self.n_validation < 0:
            raise Llm2FxError(f"n_validation must be >= 0, got {self.n_validation}")
        p = self.dry_mask_probability + self.style_probability + self.refinement_probability
        if not 0 <= p <= 1:
            raise Llm2FxError(f"task probabilities must sum to at most 1, got {p:g}")

    def split_size(self, split: str) -> int:
        if split == "test":
            return 9 * self.test_per_length
        if split == "validation" and self.n_validation is not None:
            return self.n_validation
        return self.n_examples

    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the content (not the out folder)."""
        d = dataclasses.asdict(self)
        d.pop("out_dir")
        d.pop("splits")
        if d["n_validation"] is None:  # absent from manifests written before the option existed
            d.pop("n_validation")
        if not d["exact_distance"]:  # the same content either way but for the stored distance
            d.pop("exact_distance")
        return d


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def schedule(cfg: GenerateConfig, split: str) -> list[int]:
    """Chain lengths of every example of ``split``, in index order."""
    rng = _rng("schedule", cfg.seed, split)
    if split == "test":
        return balanced_schedule(cfg.test_per_length, rng)
    counts = offline_length_counts(100 if split == "validation" else 10000)
    return length_schedule(cfg.split_size(split), rng, counts)


def _flac(audio: np.ndarray, sr: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1.0, 1.0).T, sr, format="FLAC", subtype=subtype)
    return buf.getvalue()


def _evidence_json(ev) -> str:
    d = ev.as_dict()
    d = {k: (None if isinstance(v, float) and not np.isfinite(v) else (bool(v) if isinstance(v, (bool, np.bool_)) else v))
         for k, v in d.items()}
    d["sentences"] = dict(ev.sentences)
    d["notable"] = list(ev.notable)
    return json.dumps(d)


def _pick_task(cfg: GenerateConfig, rng: np.random.Generator) -> str:
    u = rng.random()
    if u < cfg.refinement_probability:
        return "refinement"
    u -= cfg.refinement_probability
    if u < cfg.dry_mask_probability:
        return "blind"
    u -= cfg.dry_mask_probability
    return "style" if u < cfg.style_probability else "reverse_engineering"


def make_example(cfg: GenerateConfig, split: str, index: int, n_modules: int, segment) -> dict[str, Any]:
    """One example (a row) from a prepared dry segment; deterministic in ``(seed, split, index)``."""
    rng = np.random.default_rng([cfg.seed, SPLIT_CODES[split], index])
    dry, sr = segment.audio, segment.sample_rate
    dry_spec = ClipSpectra(dry)  # computed block by block as the filter needs it, kept across tries
    best = None
    tries = 0
    for tries in range(1, cfg.max_filter_tries + 1):
        chain = sample_chain(n_modules, rng)
        wet = np.clip(render(dry, sr, chain), -1.0, 1.0).astype(np.float32)
        if float(np.max(np.abs(wet))) < 1e-6:
            continue
        decision = similarity_filter(wet, dry_spec, n_modules, exact=cfg.exact_distance)
        if best is None or decision.distance > best[2].distance:
            best = (chain, wet, decision)
        if decision.passed:
            break
    if best is None:
        raise AudioError(f"{split}#{index}: every sampled chain silenced the segment")
    chain, wet, decision = best

    task = _pick_task(cfg, rng)
    instrument = segment.instruments[0] if len(segment.instruments) == 1 else "mix"
    if task == "blind":
        evidence = compare(pseudo_dry(wet, sr), wet, sr)
    else:
        evidence = compare(dry, wet, sr)
    text, inst_claims = dl.instruction(task, rng, instrument, evidence)
    reasoning = chain_of_thought(chain, evidence, rng, index=index, blind=task == "blind")
    response = response_text(chain, rng)
    messages = dl.build_messages(text, reasoning.text, chain, response)
    claims = [c.as_dict() | {"turn": 1, "evidence": "pair"} for c in list(inst_claims) + list(reasoning.claims)]
    chains = [chain]
    edit_evidence = None
    if task == "refinement":
        edits = dl.propose_edits(chain)
        edit = edits[int(rng.integers(len(edits)))]
        wet2 = np.clip(render(dry, sr, edit.chain), -1.0, 1.0).astype(np.float32)
        edit_evidence = compare(wet, wet2, sr)
        r_text, r_resp, r_claims = dl.refinement_turn(edit, edit_evidence, rng)
        messages += [{"role": "user", "content": edit.request},
                     fmt.assistant_message(r_text, edit.chain, r_resp)]
        claims += [c.as_dict() | {"turn": 2, "evidence": "edit"} for c in r_claims]
        chains.append(edit.chain)
    final = chains[-1]
    row: dict[str, Any] = {
        "id": f"{split}-{index:07d}", "split": split, "index": index, "seed": cfg.seed, "task": task,
        "dry_masked": task == "blind", "instruction": text,
        "messages": json.dumps(messages), "text": fmt.render_dialogue(messages),
        "chain": chain.to_json(), "final_chain": final.to_json(), "chains": json.dumps([c.to_tool_calls() for c in chains]),
        "n_modules": len(chain), "modules": list(chain.names),
        "evidence": _evidence_json(evidence), "edit_evidence": _evidence_json(edit_evidence) if edit_evidence else "",
        "claims": json.dumps(claims), "mrstft_distance": float(decision.distance), "mrstft_exact": bool(decision.exact),
        "similarity_passed": bool(decision.passed),
        "filter_tries": int(tries), "source": segment.source, "source_id": segment.source_id,
        "group": segment.group, "instruments": list(segment.instruments), "sample_rate": int(sr),
        "seconds": dry.shape[1] / sr,
    }
    row["_dry"], row["_wet"] = dry, wet
    return row


def _units_of_shard(cfg: GenerateConfig, split: str, shard: int) -> list[tuple[int, int]]:
    """(unit, first index) pairs: units of ``segments_per_unit`` consecutive indices in the shard."""
    total = cfg.split_size(split)
    lo, hi = shard * cfg.shard_size, min((shard + 1) * cfg.shard_size, total)
    k = cfg.segments_per_unit
    return [(u, u * k) for u in range(lo // k, (hi - 1) // k + 1)] if hi > lo else []


_SOURCE_CACHE: dict[tuple[str, int], Any] = {}


def _source(cfg: GenerateConfig):
    key = (cfg.source, cfg.seed)
    if key not in _SOURCE_CACHE:
        _SOURCE_CACHE[key] = make_source(cfg.source, cfg.seed)
    return _SOURCE_CACHE[key]


def _unit_job(cfg: GenerateConfig, split: str, unit: int, examples: tuple[tuple[int, int], ...]
              ) -> list[dict[str, Any]]:
    """The rows of one unit: ``examples`` are its ``(index, chain length)`` pairs (those of one
    shard). Pure in its arguments, so a unit redone after its worker died gives the same rows;
    runs on a worker, so it writes nothing (:func:`_store_audio` does, where the shards are)."""
    source = _source(cfg)
    k = cfg.segments_per_unit
    segments: list = []
    attempt = 0
    while len(segments) < k:
        key = unit if attempt == 0 else unit + attempt * 10_000_019
        got = source.segments(split, key, k - len(segments))
        segments.extend(got)
        attempt += 1
        if attempt > 50:
            raise AudioError(f"source {cfg.source!r} gave no usable (non-silent) segments for {split} unit {unit}")
    rows = [make_example(cfg, split, i, n_modules, segments[i - unit * k]) for i, n_modules in examples]
    for row in rows:
        dry, wet = row.pop("_dry"), row.pop("_wet")
        sr = row["sample_rate"]
        row.update(dry_flac=_flac(dry, sr, cfg.flac_subtype), wet_flac=_flac(wet, sr, cfg.flac_subtype),
                   dry_path="", wet_path="")
    return rows


def _store_audio(cfg: GenerateConfig, row: dict[str, Any]) -> dict[str, Any]:
    """With ``audio="paths"``, move the row's FLAC bytes to files under ``out_dir/audio``
    (each written atomically), where the shards are: workers need no shared folder."""
    if cfg.audio == "inline":
        return row
    for kind in ("dry", "wet"):
        rel = f"audio/{row['split']}/{row['id']}_{kind}.flac"
        path = Path(cfg.out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(row[f"{kind}_flac"])
        os.replace(tmp, path)
        row[f"{kind}_path"], row[f"{kind}_flac"] = rel, None
    return row


def features():
    """The HF ``datasets.Features`` of a shard."""
    from datasets import Features, Sequence, Value

    s, i, f, b = Value("string"), Value("int64"), Value("float64"), Value("bool")
    return Features({
        "id": s, "split": s, "index": i, "seed": i, "task": s, "dry_masked": b, "instruction": s,
        "messages": s, "text": s, "chain": s, "final_chain": s, "chains": s, "n_modules": i,
        "modules": Sequence(s), "evidence": s, "edit_evidence": s, "claims": s, "mrstft_distance": f,
        "mrstft_exact": b, "similarity_passed": b, "filter_tries": i, "source": s, "source_id": s, "group": s,
        "instruments": Sequence(s), "sample_rate": i, "seconds": f,
        "dry_flac": Value("binary"), "wet_flac": Value("binary"), "dry_path": s, "wet_path": s,
    })


def shard_path(out_dir: str | os.PathLike, split: str, shard: int) -> Path:
    return Path(out_dir) / f"{split}-{shard:05d}.parquet"


def _shard_complete(path: Path, expected: int) -> bool:
    if not path.exists():
        return False
    try:
        return pq.ParquetFile(str(path)).metadata.num_rows == expected
    except Exception:  # a torn file from an interrupted run: regenerate it
        return False


def _write_shard(cfg: GenerateConfig, split: str, shard: int, rows: list[dict[str, Any]]) -> Path:
    """Write one shard atomically (a ``.tmp`` file renamed into place).

    Written with pyarrow under the HF ``datasets`` features (kept in the schema metadata as
    ``datasets`` itself does, so ``load_dataset("parquet", ...)`` reads the same features back).
    The FLAC columns are neither compressed again nor dictionary-encoded: both only cost CPU
    on already compressed audio (about 4x less CPU per shard than ``Dataset.to_parquet``,
    measured in the throughput benchmark's run, and the generating workers share the cores).
    """
    rows = sorted(rows, key=lambda r: r["index"])
    path = shard_path(cfg.out_dir, split, shard)
    tmp = path.with_suffix(".parquet.tmp")
    feats = features()
    schema = feats.arrow_schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": feats.to_dict()}})})
    table = pa.Table.from_pylist(rows, schema=schema)
    audio = {n for n in table.column_names if n.endswith("_flac")}
    pq.write_table(table, str(tmp), row_group_size=SHARD_ROW_GROUP,
                   compression={n: "NONE" if n in audio else "SNAPPY" for n in table.column_names},
                   use_dictionary=[n for n in table.column_names if n not in audio])
    os.replace(tmp, path)
    return path


def _check_manifest(cfg: GenerateConfig) -> None:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.json"
    fp = cfg.fingerprint()
    if manifest.exists():
        old = json.loads(manifest.read_text())
        old_fp = old.get("config", {})
        if old_fp != fp:
            diff = sorted(k for k in set(fp) | set(old_fp) if old_fp.get(k) != fp.get(k))
            raise Llm2FxError(f"{out} holds a dataset made with other settings ({', '.join(diff)}); "
                              "use another folder or the same settings to resume")
        if old.get("format") != FORMAT and any(out.glob("*.parquet")):
            if any(pending_shards(cfg, split) for split in cfg.splits):
                raise Llm2FxError(f"{out} holds shards of another dataset format ({old.get('format')!r}; "
                                  f"this generator writes {FORMAT!r}, which adds the mrstft_exact column) "
                                  "and resuming would mix the two; use another folder, or delete the "
                                  "shards to regenerate them")
            return  # complete: nothing to write, the manifest stays as it is
    splits = set(cfg.splits) | set(json.loads(manifest.read_text()).get("splits", []) if manifest.exists() else [])
    manifest.write_text(json.dumps({"format": FORMAT, "config": fp, "splits": sorted(splits, key=SPLIT_CODES.get)},
                                   indent=2) + "\n")


def pending_shards(cfg: GenerateConfig, split: str) -> list[int]:
    total = cfg.split_size(split)
    n_shards = (total + cfg.shard_size - 1) // cfg.shard_size
    out = []
    for s in range(n_shards):
        expected = min(cfg.shard_size, total - s * cfg.shard_size)
        if not _shard_complete(shard_path(cfg.out_dir, split, s), expected):
            out.append(s)
    return out


def generate(cfg: GenerateConfig, workers: int | None = None, progress: bool = True,
             max_shards: int | None = None, cluster: str | ClusterConfig | None = None) -> list[Path]:
    """Generate (or resume) every split of ``cfg``; returns the shards written now.

    Parameters
    ----------
    cfg : GenerateConfig
        What to generate, and where.
    workers : int, optional
        Processes on this machine (default: all cores; 1 runs in this process).
    progress : bool
        A progress bar of examples (a widget in a notebook).
    max_shards : int, optional
        Stop after that many shards (used to test resuming).
    cluster : str or ClusterConfig, optional
        A Dask scheduler address (``tcp://host:port``) to run the units on, or a full
        :class:`~llm2fx_lab.data.cluster.ClusterConfig` (then ``workers`` is its own). The
        shards are written here, by this process, whatever runs the units: the same seed gives
        the same shards on one process, several, or a cluster, and a unit whose worker died is
        redone (:func:`~llm2fx_lab.data.cluster.map_units`). An interrupted run resumes from
        the shards on disk; :func:`verify` checks that no example is missing or repeated.
    """
    engine = cluster if isinstance(cluster, ClusterConfig) else ClusterConfig(
        address=cluster, workers=None if workers is None else max(int(workers), 1))
    _check_manifest(cfg)
    written: list[Path] = []
    units: list[tuple] = []
    unit_shard: list[tuple[str, int]] = []
    shard_rows: dict[tuple[str, int], int] = {}
    for split in cfg.splits:
        lengths = schedule(cfg, split)
        total = cfg.split_size(split)
        for shard in pending_shards(cfg, split):
            if max_shards is not None and len(shard_rows) >= max_shards:
                break
            lo, hi = shard * cfg.shard_size, min((shard + 1) * cfg.shard_size, total)
            shard_rows[(split, shard)] = hi - lo
            k = cfg.segments_per_unit
            for unit, first in _units_of_shard(cfg, split, shard):
                examples = tuple((i, lengths[i]) for i in range(max(first, lo), min(first + k, hi)))
                units.append((cfg, split, unit, examples))
                unit_shard.append((split, shard))
    buffers: dict[tuple[str, int], list] = {key: [] for key in shard_rows}
    for i, rows in map_units(_unit_job, units, engine, weights=[len(u[3]) for u in units], progress=progress,
                             desc="examples", unit="ex"):
        key = unit_shard[i]
        buffers[key].extend(_store_audio(cfg, row) for row in rows)
        if len(buffers[key]) == shard_rows[key]:
            written.append(_write_shard(cfg, key[0], key[1], buffers.pop(key)))
    return written


def verify(out_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Check a generated folder against its manifest: per split, every index once.

    Reads only the ``index`` column of each shard. A split counts when the manifest lists it
    (folders written before splits were listed: when it has shards).

    Returns
    -------
    dict
        ``{split: {"expected", "examples", "missing", "repeated", "unexpected", "complete"}}``:
        examples the settings call for and rows found; how many indices are missing, present
        more than once, or outside the split or their shard (with ``first_missing``, up to 10
        missing indices, to look for); ``complete`` when all three are 0.

    Raises
    ------
    Llm2FxError
        No ``manifest.json`` in the folder.
    """
    out = Path(out_dir)
    manifest = out / "manifest.json"
    if not manifest.exists():
        raise Llm2FxError(f"{out} has no manifest.json: not a folder written by llm2fx data generate")
    meta = json.loads(manifest.read_text())
    splits = meta.get("splits") or [s for s in SPLIT_CODES if any(out.glob(f"{s}-*.parquet"))]
    cfg = GenerateConfig(str(out), splits=tuple(splits), **meta["config"])
    report = {}
    for split in splits:
        expected = cfg.split_size(split)
        counts: collections.Counter = collections.Counter()
        unexpected = 0
        for path in sorted(out.glob(f"{split}-*.parquet")):
            shard = int(path.stem.rsplit("-", 1)[1])
            for index in pq.read_table(str(path), columns=["index"]).column("index").to_pylist():
                counts[index] += 1
                unexpected += not (0 <= index < expected and index // cfg.shard_size == shard)
        missing = [i for i in range(expected) if i not in counts]
        repeated = sum(1 for c in counts.values() if c > 1)
        report[split] = {"expected": expected, "examples": sum(counts.values()), "missing": len(missing),
                         "first_missing": missing[:10], "repeated": repeated, "unexpected": unexpected,
                         "complete": not missing and not repeated and not unexpected}
    return report


def iter_examples(out_dir: str | os.PathLike, split: str | None = None, columns: list[str] | None = None
                  ) -> Iterator[dict[str, Any]]:
    """Rows of a generated dataset, shard by shard, in index order."""
    pattern = f"{split}-*.parquet" if split else "*.parquet"
    for path in sorted(Path(out_dir).glob(pattern)):
        yield from pq.read_table(str(path), columns=columns).to_pylist()


def load_dataset_dir(out_dir: str | os.PathLike):
    """The generated folder as a ``datasets.DatasetDict`` (one entry per split present)."""
    from datasets import load_dataset

    files = {s: sorted(str(p) for p in Path(out_dir).glob(f"{s}-*.parquet")) for s in SPLIT_CODES}
    return load_dataset("parquet", data_files={k: v for k, v in files.items() if v})


def decode_audio(row: dict[str, Any], out_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(dry, wet, sample_rate)`` of a row, float32 ``(2, samples)``, inline or from paths."""
    def read(kind: str) -> np.ndarray:
        data = row.get(f"{kind}_flac")
        src: Any = io.BytesIO(data) if data else Path(out_dir or ".") / row[f"{kind}_path"]
        x, _ = sf.read(src, dtype="float32", always_2d=True)
        return np.ascontiguousarray(x.T)

    return read("dry"), read("wet"), int(row["sample_rate"])
