"""What a generated dataset holds: counts per split, task, chain length and module; hours; bytes."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pyarrow.parquet as pq

from llm2fx_lab.errors import Llm2FxError


def stats(out_dir: str | os.PathLike) -> dict:
    """Counts per split, task, chain length and module; audio duration; size on disk."""
    out = Path(out_dir)
    files = sorted(out.glob("*.parquet"))
    if not files:
        raise Llm2FxError(f"{out} holds no dataset shards (*.parquet)")
    per_split: collections.Counter = collections.Counter()
    per_length: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    per_module: collections.Counter = collections.Counter()
    per_task: collections.Counter = collections.Counter()
    seconds, rejected = 0.0, 0
    for f in files:
        t = pq.read_table(str(f), columns=["split", "task", "n_modules", "modules", "seconds", "similarity_passed"])
        for r in t.to_pylist():
            per_split[r["split"]] += 1
            per_length[r["split"]][r["n_modules"]] += 1
            per_module.update(r["modules"])
            per_task[r["task"]] += 1
            seconds += 2 * r["seconds"]  # dry + wet
            rejected += not r["similarity_passed"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"examples": dict(per_split), "chain_lengths": {s: dict(sorted(c.items())) for s, c in per_length.items()},
            "modules": dict(per_module.most_common()), "tasks": dict(per_task), "audio_hours": seconds / 3600,
            "below_similarity_threshold": rejected, "bytes_on_disk": size, "shards": len(files)}


def format_stats(s: dict) -> str:
    lines = [f"examples: {s['examples']} in {s['shards']} shards",
             f"size on disk: {s['bytes_on_disk'] / 1e6:.1f} MB "
             f"({s['bytes_on_disk'] / max(sum(s['examples'].values()), 1) * 1000 / 1e9:.2f} GB per 1,000 examples)",
             f"audio: {s['audio_hours']:.2f} h (dry + wet)", f"tasks: {s['tasks']}"]
    for split, c in s["chain_lengths"].items():
        lines.append(f"chain lengths ({split}): " + ", ".join(f"{n}: {k}" for n, k in c.items()))
    lines.append("modules: " + ", ".join(f"{m}: {k}" for m, k in s["modules"].items()))
    lines.append(f"kept below the similarity threshold after all retries: {s['below_similarity_threshold']}")
    return "\n".join(lines)
