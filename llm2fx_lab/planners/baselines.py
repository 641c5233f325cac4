"""Baselines of the paper's kind: a parameter regressor and a multi-task classifier+regressor.

LLM2Fx-Tools compares its model with two learned baselines that see the same audio
features but answer in a fixed configuration ("regression methods use fixed configurations
that cannot dynamically select effects"). Ours:

- ``regression``: always the 9 modules in the toolset's official order, all 26 parameters
  regressed (min-max normalised through :mod:`llm2fx_lab.fx.spec`). For modules absent from
  a training chain the target is the module's default, so an unneeded module is pushed
  towards its spec default (neutral where the spec has a neutral value).
- ``multitask``: a presence classifier (9 sigmoid outputs) beside the parameter regressor;
  modules whose probability reaches a threshold tuned on the validation split are kept, in
  the same fixed order. Its regressor is trained only on modules present in the chain.

Both are small MLPs over :func:`feature_vector`: the parameter-free hand-made features of the
model's built-in encoder (:meth:`~llm2fx_lab.model.encoders.EffectsEncoder.features` of dry
and reference, :meth:`~llm2fx_lab.model.encoders.PairComparison.features` of the pair),
per-frame features pooled over time. Blind mode (``dry=None``) compares the reference with
its pseudo-dry (:func:`llm2fx_lab.audio.fxnorm.pseudo_dry`), as in training, and says so in a
flag feature. Weights are ``models/<name>.safetensors`` with ``models/<name>.json`` (feature
standardisation, threshold, training facts), written by ``scripts/train_baselines.py``.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn as nn

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.audio.fxnorm import pseudo_dry
from llm2fx_lab.audio.io import resample
from llm2fx_lab.errors import AudioError, PlannerError
from llm2fx_lab.events import Event, Final, Response, StreamClock, Thinking, ToolCallEvent
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES, TOOLSET
from llm2fx_lab.fx.vectors import denormalized_params
from llm2fx_lab.model.config import EncoderConfig
from llm2fx_lab.model.encoders import EffectsEncoder, PairComparison

BASELINE_NAMES: tuple[str, ...] = ("regression", "multitask")

#: Where the shipped weights live.
MODELS_DIR = Path(__file__).resolve().parent / "models"

#: The baselines' own feature settings (independent of the model presets, which may change).
FEATURE_CONFIG = EncoderConfig(kind="builtin", sample_rate=44100, min_seconds=0.5, clip_seconds=10.0,
                               n_ffts=(512, 2048), hop_samples=1024, n_bands=24)
#: Per-frame features are pooled over time as mean, standard deviation and these quantiles.
POOL_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)
#: The fixed module order of both baselines: the toolset's official order.
ORDER: tuple[str, ...] = MODULE_NAMES
FORMAT = "llm2fx-lab baseline v1"


# --- features ------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _extractors():
    # Only the parameter-free .features() methods are used; the layers' weights never are.
    return EffectsEncoder(FEATURE_CONFIG).eval(), PairComparison(FEATURE_CONFIG).eval()


def _pool(frames: torch.Tensor) -> torch.Tensor:
    """``(1, frames, dim)`` -> ``(1, (2 + len(POOL_QUANTILES)) * dim)``."""
    q = torch.quantile(frames, torch.tensor(POOL_QUANTILES), dim=1)  # (n_q, 1, dim)
    return torch.cat([frames.mean(1), frames.std(1), *q], -1)


def feature_vector(dry: np.ndarray | None, reference: np.ndarray, sample_rate: float) -> np.ndarray:
    """The baselines' input: pooled encoder features of one (dry, reference) pair.

    Parameters
    ----------
    dry : ndarray, shape (channels, samples), or None
        The unprocessed clip; ``None`` for blind estimation (the reference's pseudo-dry is
        used and the last feature, the blind flag, is 1).
    reference : ndarray, shape (channels, samples)
    sample_rate : float
        In Hz; clips are resampled to :data:`FEATURE_CONFIG`'s rate and cropped to its
        ``clip_seconds``.

    Returns
    -------
    ndarray, shape (n_features,), float32

    Raises
    ------
    AudioError
        Bad shapes, clips shorter than ``FEATURE_CONFIG.min_seconds``, silent reference in
        blind mode.
    """
    cfg = FEATURE_CONFIG
    sr = check_sample_rate(sample_rate)
    ref = as_stereo_float32(reference, "reference")
    blind = dry is None
    if blind:
        x = pseudo_dry(ref, sr)
    else:
        x = as_stereo_float32(dry, "dry")
    if sr != cfg.sample_rate:
        x, ref = resample(x, sr, cfg.sample_rate), resample(ref, sr, cfg.sample_rate)
    n = min(x.shape[1], ref.shape[1], int(round(cfg.clip_seconds * cfg.sample_rate)))
    if n < cfg.min_seconds * cfg.sample_rate:
        raise AudioError(f"the baselines need at least {cfg.min_seconds:g} s of dry and reference audio, "
                         f"got {n / cfg.sample_rate:.3f} s")
    enc, pair = _extractors()
    with torch.no_grad():
        d = torch.from_numpy(np.ascontiguousarray(x[:, :n]))[None]
        r = torch.from_numpy(np.ascontiguousarray(ref[:, :n]))[None]
        frames_d, stats_d = enc.features(d)
        frames_r, stats_r = enc.features(r)
        diff, tf, env = pair.features(d, r)
        parts = [_pool(frames_r), _pool(frames_d), stats_r, stats_d, _pool(diff), tf, env,
                 torch.tensor([[float(blind)]])]
        out = torch.cat(parts, -1)[0].numpy().astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


# --- the network ---------------------------------------------------------------------------
class BaselineNet(nn.Module):
    """MLP: standardised features -> normalised parameters (26, sigmoid) [+ presence logits (9)].

    Parameters
    ----------
    n_features : int
    hidden : int
        Width of the two hidden layers.
    presence : bool
        Add the 9-way presence head (the multitask baseline).
    dropout : float
    """

    def __init__(self, n_features: int, hidden: int = 192, presence: bool = False, dropout: float = 0.2):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Dropout(dropout),
                                   nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout))
        self.params_head = nn.Linear(hidden, len(ALL_PARAMS))
        self.presence_head = nn.Linear(hidden, len(ORDER)) if presence else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, n_features)`` -> (params in [0, 1] ``(B, 26)``, presence logits ``(B, 9)`` or None)."""
        h = self.trunk(x)
        logits = self.presence_head(h) if self.presence_head is not None else None
        return torch.sigmoid(self.params_head(h)), logits


def weight_paths(name: str, models_dir: str | Path | None = None) -> tuple[Path, Path]:
    """``(models_dir/<name>.safetensors, models_dir/<name>.json)``."""
    d = Path(models_dir) if models_dir is not None else MODELS_DIR
    return d / f"{name}.safetensors", d / f"{name}.json"


def save_baseline(net: BaselineNet, meta: dict[str, Any], name: str, models_dir: str | Path | None = None
                  ) -> tuple[Path, Path]:
    """Write a trained baseline: weights (safetensors) and its JSON (``meta`` + format/feature facts)."""
    from safetensors.torch import save_file

    weights, info = weight_paths(name, models_dir)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().float() for k, v in net.state_dict().items()}, str(weights))
    meta = {"format": FORMAT, "name": name, "features": feature_facts(), **meta}
    info.write_text(json.dumps(meta, indent=1) + "\n")
    return weights, info


def feature_facts() -> dict[str, Any]:
    cfg = FEATURE_CONFIG
    return {"sample_rate": cfg.sample_rate, "clip_seconds": cfg.clip_seconds, "n_ffts": list(cfg.n_ffts),
            "hop_samples": cfg.hop_samples, "n_bands": cfg.n_bands, "pool_quantiles": list(POOL_QUANTILES)}


def load_baseline(name: str, models_dir: str | Path | None = None) -> tuple[BaselineNet, dict[str, Any]]:
    """Load a trained baseline (network in eval mode, its JSON).

    Raises
    ------
    PlannerError
        Unknown name, missing or unreadable files (the message names the file), or weights
        trained with other features than :data:`FEATURE_CONFIG`.
    """
    if name not in BASELINE_NAMES:
        raise PlannerError(f"unknown baseline {name!r}; allowed: {', '.join(BASELINE_NAMES)}")
    weights, info = weight_paths(name, models_dir)
    hint = "train it with scripts/train_baselines.py, or use 'analysis'"
    for path in (weights, info):
        if not path.is_file():
            raise PlannerError(f"the {name!r} baseline has no trained model: {path} is missing ({hint})")
    try:
        meta = json.loads(info.read_text())
        mean = np.asarray(meta["mean"], dtype=np.float32)
        std = np.asarray(meta["std"], dtype=np.float32)
        hidden = int(meta["network"]["hidden"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlannerError(f"cannot read the {name!r} baseline's settings {info}: {exc!r}") from None
    if meta.get("format") != FORMAT or meta.get("features") != feature_facts():
        raise PlannerError(f"{info} was written for other features or another format than this version "
                           f"expects ({FORMAT}, {feature_facts()}); retrain with scripts/train_baselines.py")
    try:
        from safetensors.torch import load_file

        state = load_file(str(weights))
        net = BaselineNet(mean.size, hidden, presence=name == "multitask")
        net.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for corrupt files
        raise PlannerError(f"cannot load the {name!r} baseline's weights {weights}: {exc}") from None
    meta["mean"], meta["std"] = mean, std
    return net.eval(), meta


# --- the planner ---------------------------------------------------------------------------
class BaselinePlanner:
    """The ``regression`` or ``multitask`` baseline as a streaming planner (see :mod:`.events`).

    Parameters
    ----------
    name : {"regression", "multitask"}
    models_dir : path, optional
        Where ``<name>.safetensors`` and ``<name>.json`` are; the package's ``models/`` by default.
    threshold : float, optional
        Presence threshold of the multitask baseline; the one tuned on validation by default.
    """

    def __init__(self, name: str, models_dir: str | Path | None = None, threshold: float | None = None) -> None:
        self.name = name
        self.net, self.meta = load_baseline(name, models_dir)
        tuned = self.meta.get("threshold")
        self.threshold = float(threshold if threshold is not None else (0.5 if tuned is None else tuned))
        if not 0.0 <= self.threshold <= 1.0:
            raise PlannerError(f"threshold must be in [0, 1], got {self.threshold:g}")

    def predict(self, features: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(presence probabilities (9,) or None, normalised parameters (26,)) for one feature vector."""
        z = (np.asarray(features, dtype=np.float32) - self.meta["mean"]) / self.meta["std"]
        if z.shape != self.meta["mean"].shape:
            raise PlannerError(f"expected {self.meta['mean'].size} features, got shape {np.shape(features)}")
        with torch.no_grad():
            params, logits = self.net(torch.from_numpy(z)[None])
        probs = None if logits is None else torch.sigmoid(logits)[0].numpy()
        return probs, params[0].numpy()

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None) -> Iterator[Event]:
        """Stream the baseline's reasoning, tool calls, a response and a :class:`Final`."""
        clock = StreamClock()
        texts: list[str] = []

        def think(text: str, step: str) -> Event:
            texts.append(text + "\n")
            return clock.mark(Thinking(text + "\n", step))  # type: ignore[arg-type]

        probs, unit = self.predict(feature_vector(dry, reference, sample_rate))
        source = ("the reference against its pseudo-dry (Fx-normalised reference; no dry clip given)"
                  if dry is None else "the dry clip and the reference")
        yield think(f"{self.name} baseline: an MLP over pooled encoder features of {source}.", "selection")
        if instruction:
            yield think("This baseline does not read the instruction; it estimates from the audio alone.",
                        "selection")
        if probs is None:
            names = list(ORDER)
            yield think("A fixed configuration: all 9 modules are applied; this baseline cannot select "
                        "effects (modules it judges unneeded should come out near their defaults).", "selection")
        else:
            names = [m for m, p in zip(ORDER, probs) if p >= self.threshold]
            listed = ", ".join(f"{m} {p:.2f}" for m, p in sorted(zip(ORDER, probs), key=lambda t: -t[1]))
            yield think(f"Classifier probabilities: {listed}. Keeping those at or above {self.threshold:.2f} "
                        f"(tuned on validation): {', '.join(names) or 'none'}.", "selection")
        stopped = stop is not None and stop.is_set()
        calls: list = []
        repairs: list[str] = []
        if not stopped:
            yield think(f"Order: fixed, the toolset's official order ({' -> '.join(names) or 'empty'}); "
                        "this baseline does not estimate order.", "order")
            values = denormalized_params(unit)
            for name in names:
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                args = {p.name: _rounded(p, values[p.qualified_name]) for p in TOOLSET[name].params}
                call = tool_call(name, args, mode="lenient", repairs=repairs)
                text = ", ".join(f"{TOOLSET[name].param(k).label} {TOOLSET[name].param(k).format_value(v)}"
                                 for k, v in call.params.items())
                yield think(f"{name}: regressed {text}.", "parameters")
                calls.append(call)
                yield clock.mark(ToolCallEvent(call, len(calls) - 1))
        chain = Chain(tuple(calls), tuple(repairs))
        response = (f"Estimated chain ({self.name} baseline): {' -> '.join(chain.names)}." if len(chain)
                    else f"The {self.name} baseline kept no module; the chain is empty.")
        yield clock.mark(Response(response))
        yield Final(chain, "".join(texts), response, clock.timings(), chain.repairs, stopped, self.name)


def _rounded(p, value: float) -> float:
    """Whole numbers for integer parameters (as the tool schema types them), else 3 decimals."""
    return float(round(value)) if p.json_type == "integer" else round(float(value), 3)


def baseline_planner(name: str, **options: Any) -> BaselinePlanner:
    """The ``regression`` or ``multitask`` baseline planner (options: ``models_dir``, ``threshold``).

    Raises
    ------
    PlannerError
        Unknown name, missing or corrupt weights (the message names the file).
    """
    if name not in BASELINE_NAMES:
        raise PlannerError(f"unknown baseline {name!r}; allowed: {', '.join(BASELINE_NAMES)}")
    return BaselinePlanner(name, **options)
