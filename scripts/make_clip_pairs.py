"""Write benchmark pairs from the bundled music clips, as ``llm2fx bench --folder`` reads them.

Each bundled clip (``llm2fx_lab/examples``) with its demonstration chain from ``pairs.json``
(values chosen by hand, several off the sampler's grid: what a user's own chain looks like), and
``--per-length`` chains drawn by the official sampler for each length 1..9 (on its grid, as the
generated test pairs), the clips taken in turn. Writes ``NAME.flac`` (a copy of the clip) and
``NAME.json`` (the chain's tool calls); ``llm2fx bench`` renders the references.

Run: ``.venv/bin/python scripts/make_clip_pairs.py OUT [--per-length 2] [--seed 20261206]``, then
``llm2fx bench --planner analysis+search --folder OUT``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm2fx_lab.data.chains import sample_chain  # noqa: E402
from llm2fx_lab.examples import EXAMPLES_DIR  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new folder")
    parser.add_argument("--per-length", type=int, default=2, help="sampled chains per chain length 1..9")
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; give a new folder (nothing is overwritten)")
    if args.per_length < 0:
        raise SystemExit(f"--per-length must be >= 0, got {args.per_length}")
    demos = json.loads((EXAMPLES_DIR / "pairs.json").read_text())
    clips = list(demos)
    args.out.mkdir(parents=True)
    rng = np.random.default_rng(args.seed)
    written = []
    for clip, chain in demos.items():
        written.append((clip, clip, chain))
    for length in range(1, 10):
        for rep in range(args.per_length):
            clip = clips[(len(written) - len(demos)) % len(clips)]
            written.append((f"{clip}_sampled_{length}_{rep}", clip, sample_chain(length, rng).to_tool_calls()))
    for stem, clip, chain in written:
        shutil.copy(EXAMPLES_DIR / f"{clip}.flac", args.out / f"{stem}.flac")
        (args.out / f"{stem}.json").write_text(json.dumps(chain, indent=1))
    print(f"wrote {len(written)} pairs to {args.out} ({len(demos)} demonstration chains, "
          f"{len(written) - len(demos)} sampled; seed {args.seed})")


if __name__ == "__main__":
    main()
