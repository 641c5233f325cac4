"""``llm2fx train --preset NAME --data DIR --out DIR``: two-stage training.

Multi-GPU: ``accelerate launch -m llm2fx_lab.cli train --preset qwen3-4b ...``.
"""

from __future__ import annotations

import argparse
import json
import logging

from llm2fx_lab.model.config import PRESETS


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``train`` to an ``argparse`` sub-parser set; returns the new parser."""
    p = subparsers.add_parser("train", help="train the model (two stages) on a dialogue directory",
                              description="Train encoder/adapter (stage 1), then LoRA or the full LLM (stage 2).")
    p.add_argument("--preset", required=True, choices=sorted(PRESETS), help="model and training preset")
    p.add_argument("--data", required=True, help="directory with dialogues.jsonl (see llm2fx_lab.model.inputs)")
    p.add_argument("--out", required=True, help="output directory (checkpoint, state/, log.csv)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--stage1-steps", type=int, help="override the preset's stage-1 steps")
    p.add_argument("--stage2-steps", type=int, help="override the preset's stage-2 steps")
    p.add_argument("--batch-size", type=int, help="override the per-device batch size")
    p.add_argument("--grad-accum", type=int, help="override gradient accumulation steps")
    p.add_argument("--llm-path", help="local Qwen3 checkpoint directory (never downloaded)")
    p.add_argument("--encoder-weights", help="local Fx-Encoder++ weights (.safetensors or .pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)
    return p


def run_train(args: argparse.Namespace) -> int:
    from llm2fx_lab.model.train import train_from_dir

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train, llm, encoder = {}, {}, {}
    for key, name in (("stage1_steps", "stage1_steps"), ("stage2_steps", "stage2_steps"),
                      ("batch_size", "batch_size"), ("grad_accum", "grad_accum")):
        if getattr(args, key) is not None:
            train[name] = getattr(args, key)
    if args.llm_path:
        llm["path"] = args.llm_path
    if args.encoder_weights:
        encoder["weights_path"] = args.encoder_weights
    overrides = {k: v for k, v in (("train", train), ("llm", llm), ("encoder", encoder)) if v}
    summary = train_from_dir(args.preset, args.data, args.out, resume=args.resume,
                             progress=not args.no_progress, **overrides)
    print(json.dumps(summary, indent=2, default=str))
    return 0
