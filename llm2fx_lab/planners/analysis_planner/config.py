"""What a user can tune in the analysis planner: one frozen dataclass, :class:`AnalysisConfig`.

The defaults are the values the benchmark figures in ``docs/benchmarks.md`` were measured
with; how each was chosen is in ``docs/decisions.md``.

>>> from llm2fx_lab.planners.analysis_planner import AnalysisPlanner
>>> AnalysisPlanner(AnalysisConfig(order_search=False)).config.order_search
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llm2fx_lab.errors import ParameterError, replace_fields
from llm2fx_lab.planners.analysis_planner.crop import PREROLL_SECONDS


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of :class:`~llm2fx_lab.planners.analysis_planner.AnalysisPlanner`.

    Measuring
    ---------
    max_seconds : float
        Longest stretch of the clips that is measured.
    crop_seconds : float
        Length of the loudest crop rendered for the order search and the gain.
    preroll_seconds : float
        Seconds of dry clip rendered before the crop and cut off again, so that tails and
        compressor state entering the crop match the reference's (rendered from the whole clip).

    Selection
    ---------
    clean_coherence : float or None
        Coherence of the mid transfer function above which presence comes from the measured
        rules instead of the trees; None: always the trees.
    exact_stereo_residual : float
        Relative residual of the channel-matrix fit below which pan and width keep their closed
        forms (the fit explains the pair; a regressor would only pull them to the middle).
    shaped_overrides : bool
        Let sample-level waveshaping add a distortion and veto a reverb over the trees.
    drop_limiter_when_shaped : bool
        Drop a limiter when waveshaping already explains the lower crest factor.
    gain_tree_min_db : float
        Gain is added when its presence probability reaches 0.5 and the level the other
        modules leave unexplained is at least this (dB)...
    gain_override_db : float or None
        ...or when that level alone is at least this (dB); None: never.

    Order
    -----
    order_model : bool
        Order the modules by the learned pairwise order trees.
    confident_order : float
        Probability from which the reasoning names a learned order decision as clear.
    exhaustive_order_max : int
        Longest chain ordered by the trees over every permutation; longer ones by local search.
    order_search : bool
        Search module orders by rendering the crop.
    order_search_exhaustive_max : int
        Longest chain whose distinct orders the search renders all; longer ones get a local
        search (CPU) or a beam search (GPU).
    order_search_passes : int
        Passes of the CPU local search; a pass tries every single-module move once.
    order_search_min_gain : float
        A new order must lower the MR-STFT distance by more than this (ties keep the order the
        trees chose: moves across commuting modules change nothing audible).
    order_search_batch : int
        Orders rendered per call of the torch renderer in the GPU search.
    order_search_rounds : int
        Rounds of the GPU beam search.
    order_search_beam : int
        Orders the GPU beam search keeps between rounds.
    """

    max_seconds: float = 10.0
    crop_seconds: float = 2.0
    preroll_seconds: float = PREROLL_SECONDS
    clean_coherence: float | None = None
    exact_stereo_residual: float = 1e-3
    shaped_overrides: bool = True
    drop_limiter_when_shaped: bool = True
    gain_tree_min_db: float = 0.0
    gain_override_db: float | None = 4.5
    order_model: bool = True
    confident_order: float = 0.7
    exhaustive_order_max: int = 7
    order_search: bool = True
    order_search_exhaustive_max: int = 5
    order_search_passes: int = 3
    order_search_min_gain: float = 1e-4
    order_search_batch: int = 64
    order_search_rounds: int = 6
    order_search_beam: int = 2

    def __post_init__(self) -> None:
        positive = ("max_seconds", "crop_seconds", "exhaustive_order_max", "order_search_exhaustive_max",
                    "order_search_batch", "order_search_beam")
        for name in positive:
            if not _finite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ParameterError(f"AnalysisConfig.{name} must be a number > 0, got {getattr(self, name)!r}")
        for name in ("preroll_seconds", "gain_tree_min_db", "order_search_min_gain", "order_search_passes",
                     "order_search_rounds", "exact_stereo_residual"):
            if not _finite(getattr(self, name)) or getattr(self, name) < 0:
                raise ParameterError(f"AnalysisConfig.{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not 0.5 <= self.confident_order < 1:
            raise ParameterError(f"AnalysisConfig.confident_order must be in [0.5, 1), got {self.confident_order!r}")
        for name in ("clean_coherence", "gain_override_db"):
            value = getattr(self, name)
            if value is not None and not _finite(value):
                raise ParameterError(f"AnalysisConfig.{name} must be a number or None, got {value!r}")

    def replace(self, **changes: Any) -> "AnalysisConfig":
        """A copy with ``changes``; :class:`ParameterError` naming the allowed fields for an unknown one."""
        return replace_fields(self, changes)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
