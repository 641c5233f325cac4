"""Train the ``regression`` and ``multitask`` baselines (llm2fx_lab.planners.baselines).

Reads a folder written by ``llm2fx data generate`` (train and validation splits only; the
test split is never read), computes :func:`~llm2fx_lab.planners.baselines.feature_vector`
for every row (blind rows compare the reference with its pseudo-dry, as at inference),
caches them per shard, trains both MLPs with early stopping on the validation loss, tunes
the multitask presence threshold on validation, and writes
``llm2fx_lab/planners/models/{regression,multitask}.{safetensors,json}``.

Run: ``OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python scripts/train_baselines.py --data DATA`` (a folder written by ``llm2fx data generate``)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm2fx_lab.data.generate import decode_audio
from llm2fx_lab.fx.spec import ALL_PARAMS
from llm2fx_lab.fx.vectors import chain_vectors  # noqa: E402
from llm2fx_lab.planners.baselines import ORDER, BaselineNet, feature_facts, feature_vector, save_baseline

SPLITS = ("train", "validation")


def shard_features(shard: Path, cache_dir: Path) -> dict[str, np.ndarray]:
    """Features and targets of one Parquet shard, cached in ``cache_dir`` (keyed by shard size and mtime)."""
    st = shard.stat()
    key = json.dumps({"shard": shard.name, "size": st.st_size, "mtime": st.st_mtime_ns, "features": feature_facts()})
    cache = cache_dir / f"{shard.stem}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return {k: z[k] for k in z.files if k != "key"}
    cols = {k: [] for k in ("x", "presence", "params", "mask", "blind")}
    rows = pq.read_table(str(shard)).to_pylist()
    for row in tqdm(rows, desc=shard.name, leave=False):
        dry, wet, sr = decode_audio(row, shard.parent)
        blind = bool(row["dry_masked"])
        cols["x"].append(feature_vector(None if blind else dry, wet, sr))
        presence, params, mask = chain_vectors(row["chain"])
        cols["presence"].append(presence)
        cols["params"].append(params)
        cols["mask"].append(mask)
        cols["blind"].append(blind)
    out = {k: np.asarray(v) for k, v in cols.items()}
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, key=np.asarray(key), **out)
    return out


def split_features(data: Path, split: str, cache_dir: Path, max_shards: int | None = None
                   ) -> dict[str, np.ndarray]:
    """All shards of one split (or the first ``max_shards``), concatenated."""
    if split == "test":
        raise ValueError("the baselines are never trained or tuned on the test split")
    shards = sorted(data.glob(f"{split}-*.parquet"))[:max_shards]
    if not shards:
        raise FileNotFoundError(f"no {split}-*.parquet shards in {data}")
    parts = [shard_features(s, cache_dir) for s in shards]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _loss(net: BaselineNet, x: torch.Tensor, presence: torch.Tensor, params: torch.Tensor,
          mask: torch.Tensor) -> torch.Tensor:
    pred, logits = net(x)
    err = (pred - params).abs()
    if logits is None:  # regression: every parameter, absent modules towards their defaults
        return err.mean()
    reg = (err * mask).sum() / mask.sum().clamp_min(1.0)
    return reg + F.binary_cross_entropy_with_logits(logits, presence)


def train(train_set: dict[str, np.ndarray], val_set: dict[str, np.ndarray], kind: str, seed: int = 0,
          hidden: int = 192, dropout: float = 0.2, lr: float = 1e-3, weight_decay: float = 1e-3,
          batch_size: int = 128, max_epochs: int = 300, patience: int = 25, progress: bool = True
          ) -> tuple[BaselineNet, dict[str, Any]]:
    """Train one baseline with early stopping on the validation loss.

    Parameters
    ----------
    train_set, val_set : dict
        ``x (n, n_features)``, ``presence (n, 9)``, ``params (n, 26)``, ``mask (n, 26)``.
    kind : {"regression", "multitask"}

    Returns
    -------
    net : BaselineNet
        The best epoch's weights, in eval mode.
    facts : dict
        ``mean``/``std`` (feature standardisation), ``history`` (train and validation loss
        per epoch), ``best_epoch``, ``network``.
    """
    if kind not in ("regression", "multitask"):
        raise ValueError(f"kind must be 'regression' or 'multitask', got {kind!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = train_set["x"].mean(0)
    std = np.maximum(train_set["x"].std(0), 1e-3)

    def tensors(s):
        return [torch.from_numpy(((s["x"] - mean) / std).astype(np.float32))] + \
            [torch.from_numpy(s[k].astype(np.float32)) for k in ("presence", "params", "mask")]

    tr, va = tensors(train_set), tensors(val_set)
    net = BaselineNet(tr[0].shape[1], hidden, presence=kind == "multitask", dropout=dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, best_epoch, history = float("inf"), None, -1, []
    bar = tqdm(range(max_epochs), desc=kind, disable=not progress)
    for epoch in bar:
        net.train()
        order = rng.permutation(len(tr[0]))
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[i:i + batch_size])
            loss = _loss(net, *(t[idx] for t in tr))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            val = float(_loss(net, *va))
        history.append({"epoch": epoch, "train_loss": total / len(order), "val_loss": val})
        bar.set_postfix(train=f"{total / len(order):.4f}", val=f"{val:.4f}")
        if val < best - 1e-5:
            best, best_epoch = val, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    net.load_state_dict(best_state)
    return net.eval(), {"mean": mean, "std": std, "history": history, "best_epoch": best_epoch,
                        "network": {"hidden": hidden, "dropout": dropout}}


def predict(net: BaselineNet, facts: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(presence probabilities or None, normalised parameters) for feature rows ``x``."""
    with torch.no_grad():
        params, logits = net(torch.from_numpy(((x - facts["mean"]) / facts["std"]).astype(np.float32)))
    return (None if logits is None else torch.sigmoid(logits).numpy()), params.numpy()


def tune_threshold(probs: np.ndarray, presence: np.ndarray) -> tuple[float, float]:
    """The presence threshold (0.05..0.95) with the best mean presence accuracy; ties go nearest 0.5."""
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    accs = [float(((probs >= t) == (presence > 0.5)).mean()) for t in grid]
    best = max(range(len(grid)), key=lambda i: (round(accs[i], 6), -abs(grid[i] - 0.5)))
    return float(grid[best]), accs[best]


def scores(presence_pred: np.ndarray, params_pred: np.ndarray, s: dict[str, np.ndarray]) -> dict[str, float]:
    """Validation Acc (presence over 9 modules) and MAE (normalised params of modules in both)."""
    acc = float((presence_pred == (s["presence"] > 0.5)).mean())
    module_of = np.array([ORDER.index(p.module) for p in ALL_PARAMS])
    both = s["mask"] * presence_pred[:, module_of]
    mae = float((np.abs(params_pred - s["params"]) * both).sum() / max(both.sum(), 1.0))
    return {"acc": round(acc, 4), "mae": round(mae, 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="folder written by `llm2fx data generate`")
    parser.add_argument("--cache", type=Path, default=None,
                        help="feature cache folder (default ~/.cache/llm2fx-lab/baseline-features/<DATA name>)")
    parser.add_argument("--out", type=Path, default=None, help="models folder (default: the package's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--only", choices=("regression", "multitask"), default=None)
    parser.add_argument("--train-shards", type=int, default=None, help="use only the first N train shards")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cache = args.cache or Path.home() / ".cache" / "llm2fx-lab" / "baseline-features" / args.data.resolve().name
    sets = {s: split_features(args.data, s, cache, args.train_shards if s == "train" else None) for s in SPLITS}
    n = {s: int(len(v["x"])) for s, v in sets.items()}
    print(f"features: {n}, {sets['train']['x'].shape[1]} per example", flush=True)
    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    for kind in ([args.only] if args.only else ["regression", "multitask"]):
        net, facts = train(sets["train"], sets["validation"], kind, seed=args.seed, hidden=args.hidden,
                           max_epochs=args.max_epochs, patience=args.patience)
        probs, params = predict(net, facts, sets["validation"]["x"])
        threshold = None
        if probs is None:
            kept = np.ones_like(sets["validation"]["presence"], dtype=bool)
        else:
            threshold, _ = tune_threshold(probs, sets["validation"]["presence"])
            kept = probs >= threshold
        val = scores(kept, params, sets["validation"])
        history = facts["history"]
        training = {"data": str(args.data), "examples": n, "seed": args.seed, "command": command,
                    "train_shards": sorted(p.name for p in args.data.glob("train-*.parquet"))[:args.train_shards],
                    "blind_share_train": round(float(sets["train"]["blind"].mean()), 3),
                    "best_epoch": facts["best_epoch"], "epochs_run": len(history),
                    "val_loss": round(history[facts["best_epoch"]]["val_loss"], 5), "validation_scores": val,
                    "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        meta = {"threshold": threshold, "network": facts["network"], "mean": facts["mean"].round(6).tolist(),
                "std": facts["std"].round(6).tolist(), "training": training}
        paths = save_baseline(net, meta, kind, args.out)
        print(f"{kind}: best epoch {facts['best_epoch']}, validation {val}, threshold {threshold}; "
              f"wrote {', '.join(map(str, paths))}", flush=True)


if __name__ == "__main__":
    main()
