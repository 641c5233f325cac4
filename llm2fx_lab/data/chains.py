"""Random chains, sampled the way the paper's public code samples them.

Facts from ``preprocessing/fx_processor/fx_sampling_ndsp.py`` and ``ndsp_utils/constants.py``
(see ``shared/reference/llm2fx-tools.md``); the code here is ours:

- **grid**: a parameter takes a value from a grid that starts one step *above* the minimum,
  ``min + step, min + 2 step, ...`` up to the maximum (values that float error pushes past
  the maximum are dropped); log-scale parameters use ``logspace(min + step, max)`` with as
  many points. Grids are computed with the same float operations, so they match exactly.
- **rounding**: a parameter whose name contains ``db`` and whose value truncates to 0 is
  redrawn once; ``ms`` values are truncated to whole numbers; others rounded to 3 decimals.
- **modules**: a random subset of size ``n`` in random order.
- **lengths**: the offline sets make ``10000 // n`` training chains and ``100 // n`` test
  chains for ``n = 1..9`` (:func:`length_schedule`); online sampling draws ``n`` with weight
  ``(1/n)^2`` and each module from a finer sub-range with probability 0.5
  (:func:`sample_online_chain`, :data:`FINE_GRAINED`).

Every function takes a :class:`numpy.random.Generator`, so a seed fixes everything.
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.spec import MODULE_NAMES, TOOLSET

MAX_LENGTH = len(MODULE_NAMES)

#: The official fine-grained sub-ranges ``(min, max, step)``, all linear (``ndsp_utils/constants.py``).
FINE_GRAINED: Mapping[str, Mapping[str, tuple[float, float, float]]] = {
    "gain": {"gain_db": (-6.0, 6.0, 1.0)},
    "stereo_widener": {"width": (1.1, 1.5, 0.1)},
    "panner": {"pan": (-0.6, 0.6, 0.1)},
    "equalizer": {
        "low_gain_db": (-6.0, 6.0, 1.0), "low_cutoff_freq": (60.0, 120.0, 10.0),
        "low_q_factor": (0.5, 3.0, 0.25), "mid_gain_db": (-6.0, 6.0, 1.0),
        "mid_cutoff_freq": (250.0, 1000.0, 100.0), "mid_q_factor": (0.5, 3.0, 0.25),
        "high_gain_db": (-6.0, 6.0, 1.0), "high_cutoff_freq": (4000.0, 8000.0, 500.0),
        "high_q_factor": (0.5, 3.0, 0.5),
    },
    "distortion": {"drive_db": (1.0, 5.0, 0.5)},
    "delay": {"delay_seconds": (0.01, 0.2, 0.02), "feedback": (0.01, 0.2, 0.02), "mix_ratio": (0.1, 1.0, 0.1)},
    "reverb": {"room_size": (0.3, 0.6, 0.05), "damping": (0.3, 0.6, 0.05), "width": (0.3, 0.6, 0.05),
               "mix_ratio": (0.1, 1.0, 0.1)},
    "compressor": {"threshold_db": (-20.0, -10.0, 1.0), "ratio": (2.0, 8.0, 0.5),
                   "attack_ms": (1.0, 30.0, 1.0), "release_ms": (0.0, 500.0, 25.0)},
    "limiter": {"threshold_db": (-5.0, -1.0, 0.1), "release_ms": (0.0, 300.0, 25.0)},
}


def grid(minimum: float, maximum: float, step: float, scale: str = "lin") -> np.ndarray:
    """The official sampling grid: from ``minimum + step`` to ``maximum`` (inclusive).

    Examples
    --------
    >>> grid(-20, 20, 2)[:3]
    array([-18., -16., -14.])
    """
    if step <= 0 or maximum <= minimum:
        raise ParameterError(f"grid needs step > 0 and maximum > minimum, got {minimum}, {maximum}, {step}")
    lo = minimum + step
    n = int((maximum - lo) / step) + 1
    if scale == "lin":
        values = [lo + i * step for i in range(n)]
    elif scale == "log":
        values = list(np.logspace(np.log10(lo), np.log10(maximum), n))
    else:
        raise ParameterError(f"scale must be 'lin' or 'log', got {scale!r}")
    return np.array([v for v in values if v <= maximum], dtype=np.float64)


@functools.lru_cache(maxsize=None)
def param_grid(module_name: str, param_name: str, fine: bool = False) -> np.ndarray:
    """The grid of one parameter (coarse official range, or the fine-grained sub-range)."""
    spec = TOOLSET[module_name].param(param_name)
    if fine:
        lo, hi, step = FINE_GRAINED[module_name][param_name]
        return grid(lo, hi, step, "lin")
    return grid(spec.minimum, spec.maximum, spec.step, spec.scale)


def _finish(name: str, value: float) -> float:
    if "ms" in name:
        return float(int(value))
    return round(float(value), 3)


def sample_params(module_name: str, rng: np.random.Generator, fine: bool = False) -> dict[str, float]:
    """Sample every parameter of one module as the official ``sample_fx_parameters`` does."""
    out = {}
    for p in TOOLSET[module_name].params:
        values = param_grid(module_name, p.name, fine)
        value = float(values[rng.integers(len(values))])
        if "db" in p.name and int(value) == 0:
            value = float(values[rng.integers(len(values))])
        out[p.name] = _finish(p.name, value)
    return out


def sample_modules(n_modules: int, rng: np.random.Generator) -> list[str]:
    """A random subset of ``n_modules`` modules in random order."""
    if not 1 <= n_modules <= MAX_LENGTH:
        raise ParameterError(f"a chain has 1 to {MAX_LENGTH} modules, got {n_modules}")
    return [MODULE_NAMES[i] for i in rng.permutation(MAX_LENGTH)[:n_modules]]


def sample_chain(n_modules: int, rng: np.random.Generator, fine_probability: float = 0.0) -> Chain:
    """A random chain of ``n_modules`` modules (official coarse grids by default).

    ``fine_probability`` is the chance, per module, of using the fine-grained sub-range
    (0 for the offline sets, 0.5 for the official online sampling).
    """
    calls = []
    for name in sample_modules(n_modules, rng):
        fine = fine_probability > 0 and rng.random() < fine_probability
        calls.append({"name": name, "arguments": sample_params(name, rng, fine)})
    return Chain.from_tool_calls(calls)


def online_length_weights() -> np.ndarray:
    """Official online chain-length probabilities for ``n = 1..9``: ``(1/n)^2``, normalised."""
    w = np.array([(1.0 / n) ** 2 for n in range(1, MAX_LENGTH + 1)])
    return w / w.sum()


def sample_online_chain(rng: np.random.Generator) -> Chain:
    """One chain as the official online training sampler draws it."""
    n = int(rng.choice(np.arange(1, MAX_LENGTH + 1), p=online_length_weights()))
    return sample_chain(n, rng, fine_probability=0.5)


def offline_length_counts(per_length_base: int = 10000) -> dict[int, int]:
    """Official offline counts: ``per_length_base // n`` chains of length ``n``.

    ``10000`` gives the training set (10000, 5000, 3333, ...), ``100`` the official test set.
    """
    return {n: per_length_base // n for n in range(1, MAX_LENGTH + 1)}


def length_schedule(total: int, rng: np.random.Generator,
                    counts: Mapping[int, int] | None = None) -> list[int]:
    """``total`` chain lengths in the proportions of ``counts`` (default: the official
    training counts), apportioned by largest remainder and shuffled."""
    counts = offline_length_counts() if counts is None else counts
    if total < 0:
        raise ParameterError(f"total must be >= 0, got {total}")
    lengths = sorted(counts)
    weights = np.array([counts[n] for n in lengths], dtype=np.float64)
    exact = weights / weights.sum() * total
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    schedule = np.repeat(lengths, base)
    return [int(n) for n in rng.permutation(schedule)]


def balanced_schedule(per_length: int, rng: np.random.Generator,
                      lengths: Sequence[int] = tuple(range(1, MAX_LENGTH + 1))) -> list[int]:
    """Exactly ``per_length`` chains of each length, shuffled (the LP-Fx-style test split)."""
    return [int(n) for n in rng.permutation(np.repeat(list(lengths), per_length))]


def length_distribution(per_length_base: int = 10000) -> dict[int, float]:
    """Probability of each length under the official offline counts."""
    counts = offline_length_counts(per_length_base)
    total = sum(counts.values())
    return {n: c / total for n, c in counts.items()}


def describe_grids() -> str:
    """One line per parameter: its coarse grid (first, last, size), for docs and checks."""
    lines = []
    for m in TOOLSET.values():
        for p in m.params:
            g = param_grid(m.name, p.name)
            lines.append(f"{p.qualified_name}: {g[0]:g}..{g[-1]:g} ({len(g)} values, {p.scale})")
    return "\n".join(lines)


__all__ = [
    "FINE_GRAINED", "MAX_LENGTH", "balanced_schedule", "describe_grids", "grid", "length_distribution",
    "length_schedule", "offline_length_counts", "online_length_weights", "param_grid", "sample_chain",
    "sample_modules", "sample_online_chain", "sample_params",
]

