"""``llm2fx data generate OUT ...`` and ``llm2fx data stats DIR``: LP-Fx-style datasets.

``generate`` runs on this machine's cores (``--workers N``) or on a Dask cluster
(``--cluster tcp://HOST:PORT``, docs/cluster.md); either way it ends by checking the folder
(:func:`~llm2fx_lab.data.generate.verify`: every example of every split once), and ``stats``
reports the same check.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llm2fx_lab.errors import Llm2FxError


def _verify_lines(report: dict) -> list[str]:
    lines = []
    for split, r in report.items():
        if r["complete"]:
            lines.append(f"verified {split}: {r['examples']} of {r['expected']} examples, each index once")
        else:
            lines.append(f"incomplete {split}: {r['examples']} of {r['expected']} examples; {r['missing']} missing "
                         f"(first {r['first_missing']}), {r['repeated']} repeated, {r['unexpected']} out of place")
    return lines


def _cmd_generate(args: argparse.Namespace) -> int:
    from llm2fx_lab.data.cluster import ClusterConfig
    from llm2fx_lab.data.generate import GenerateConfig, generate, verify

    cfg = GenerateConfig(str(args.out), splits=tuple(args.splits), n_examples=args.n,
                         test_per_length=args.test_per_length, seed=args.seed, source=args.source,
                         shard_size=args.shard_size, audio=args.audio,
                         dry_mask_probability=args.dry_mask_probability, n_validation=args.n_validation,
                         exact_distance=args.exact_distance)
    if args.cluster and args.workers:
        raise Llm2FxError("--workers counts processes on this machine; with --cluster the cluster's workers do "
                          "the work: leave out one of the two")
    engine = ClusterConfig(address=args.cluster, workers=args.workers,
                           connect_timeout_seconds=args.connect_timeout_seconds)
    written = generate(cfg, progress=not args.quiet, cluster=engine)
    print(f"wrote {len(written)} shard(s) to {args.out} on {engine.describe()}")
    report = verify(args.out)
    print("\n".join(_verify_lines({s: r for s, r in report.items() if s in cfg.splits})))
    if not all(r["complete"] for s, r in report.items() if s in cfg.splits):
        raise Llm2FxError(f"{args.out} is incomplete after the run (see above): run the same command again to "
                          "redo what is missing")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from llm2fx_lab.data.generate import verify
    from llm2fx_lab.data.stats import format_stats, stats

    s = stats(args.dir)
    report = verify(args.dir) if (Path(args.dir) / "manifest.json").exists() else {}
    print(json.dumps(s | {"verify": report}, indent=2) if args.json
          else "\n".join([format_stats(s), *_verify_lines(report)]))
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
    g.add_argument("--workers", type=int, default=None, help="processes on this machine (default: all cores)")
    g.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run on the Dask cluster whose scheduler is at tcp://HOST:PORT (docs/cluster.md); the "
                        "shards are written here, identical to a run on this machine")
    g.add_argument("--connect-timeout-seconds", type=float, default=10.0,
                   help="with --cluster: how long to wait for the scheduler and its first worker")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)
    s = sub.add_parser("stats", help="counts per chain length and module, durations, size on disk")
    s.add_argument("dir", type=Path)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_stats)
    return p
