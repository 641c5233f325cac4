"""``llm2fx data ...``: generate LP-Fx-style datasets and inspect them.

Wire into the main CLI with :func:`add_data_parser`; standalone:
``python -m llm2fx_lab.data.cli generate OUT --n 1000`` and ``... stats OUT``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path


def stats(out_dir: str | os.PathLike) -> dict:
    """Counts per split, task, chain length and module; audio duration; size on disk."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    files = sorted(out.glob("*.parquet"))
    if not files:
        from llm2fx_lab.errors import Llm2FxError

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


def _cmd_generate(args: argparse.Namespace) -> int:
    from llm2fx_lab.data.generate import GenerateConfig, generate

    cfg = GenerateConfig(str(args.out), splits=tuple(args.splits), n_examples=args.n,
                         test_per_length=args.test_per_length, seed=args.seed, source=args.source,
                         shard_size=args.shard_size, audio=args.audio,
                         dry_mask_probability=args.dry_mask_probability, n_validation=args.n_validation,
                         exact_distance=args.exact_distance)
    written = generate(cfg, workers=args.workers, progress=not args.quiet)
    print(f"wrote {len(written)} shard(s) to {args.out}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    s = stats(args.dir)
    print(json.dumps(s, indent=2) if args.json else format_stats(s))
    return 0


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` (with ``generate`` and ``stats``) to an argparse subparsers object."""
    p = subparsers.add_parser("data", help="generate and inspect LP-Fx-style synthetic datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    g = sub.add_parser("generate", help="generate (or resume) a sharded dataset")
    g.add_argument("out", type=Path, help="output folder (parquet shards + manifest.json)")
    g.add_argument("--n", type=int, default=1000, help="examples per train/validation split (default 1000)")
    g.add_argument("--n-validation", type=int, default=None,
                   help="examples in the validation split (default: --n)")
    g.add_argument("--splits", nargs="+", default=["train", "validation", "test"],
                   choices=["train", "validation", "test"])
    g.add_argument("--test-per-length", type=int, default=100, help="test examples per chain length 1..9 (default 100)")
    g.add_argument("--source", default="midi", help="'midi' (FluidSynth GM, default), 'examples', or a folder of audio")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--shard-size", type=int, default=500)
    g.add_argument("--audio", choices=["inline", "paths"], default="inline",
                   help="FLAC bytes inside the shards, or FLAC files under OUT/audio")
    g.add_argument("--dry-mask-probability", type=float, default=0.3)
    g.add_argument("--exact-distance", action="store_true",
                   help="store every chain's full MR-STFT distance (slower); by default the similarity "
                        "filter stops once a chain is certain to pass and stores that lower bound")
    g.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)
    s = sub.add_parser("stats", help="counts per chain length and module, durations, size on disk")
    s.add_argument("dir", type=Path)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_stats)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m llm2fx_lab.data.cli ...``: the main CLI's ``llm2fx data ...`` (``data`` optional)."""
    from llm2fx_lab.cli import main as llm2fx_main

    argv = list(sys.argv[1:] if argv is None else argv)
    return llm2fx_main(argv if argv[:1] == ["data"] else ["data", *argv])

if __name__ == "__main__":
    sys.exit(main())
