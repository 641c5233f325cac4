"""The ``analysis`` planner: measure the pair, then decide with closed forms and small tree models.

Deterministic, CPU-only by default, and the project's default planner. Each step is streamed
as reasoning that quotes the measured numbers:

1. **selection** (:mod:`.selection`): :func:`~.pair_features.pair_features` measures the pair
   (:mod:`.measure` keeps the result for refinement); each module is kept when its presence
   tree (``models/presence.json``, trained on the pair features and the closed-form
   estimates) says so, or, without trees, when its evidence passes a threshold
   (:data:`~.estimators.THRESHOLDS`);
2. **order** (:mod:`.order`): pairwise order trees (``models/order.json``) give
   ``log P(a before b)`` and the order with the largest sum is taken; once the gain is
   placed, :func:`~.order.search_order` moves modules on a short crop of the pair
   (:mod:`.crop`), rendered with the estimated parameters, while that lowers the MR-STFT
   distance to the reference;
3. **parameters** (:mod:`.parameters`): closed forms (:mod:`.estimators`: pan and width from
   the 2x2 channel matrix, EQ bands fitted to the mid transfer function, echo
   delay/feedback/mix from the impulse response, reverb mix and room from its late energy
   and decay), replaced per parameter by a regressor (``models/params.json``) where that had
   the lower held-out error; the gain closes the loudness gap left by the other modules,
   measured by rendering them.

Grounding: numbers that :func:`llm2fx_lab.analysis.claims.check_claims` reads as clip
measurements (band levels, decay time, echo delay, new-harmonics share) are the pair's
:class:`~llm2fx_lab.analysis.Evidence` values; impulse-response quantities are worded as such
("the impulse response's late tail falls ..."), an impulse-response peak is called an echo
only when it passes Evidence's distinct-peak test, and module settings are named as settings
("pan setting 0.4").

Blind mode (``dry=None``, :mod:`.blind`): the reference is compared with its Fx-normalised
pseudo-dry. Every tuning knob is a field of :class:`AnalysisConfig`.

>>> from llm2fx_lab.planners.analysis_planner import AnalysisPlanner
>>> AnalysisPlanner().name
'analysis'
"""

from llm2fx_lab.planners.analysis_planner.config import AnalysisConfig
from llm2fx_lab.planners.analysis_planner.crop import PREROLL_SECONDS, Span, loudest_span
from llm2fx_lab.planners.analysis_planner.measure import clear_measurements, measure_pair
from llm2fx_lab.planners.analysis_planner.order import (
                                                        best_gain_position,
                                                        best_order,
                                                        commutes,
                                                        search_order,
                                                        search_order_torch,
)
from llm2fx_lab.planners.analysis_planner.planner import AnalysisPlanner
from llm2fx_lab.planners.analysis_planner.selection import PresencePriors, closed_forms, decide, presence_priors

__all__ = [
    "PREROLL_SECONDS", "AnalysisConfig", "AnalysisPlanner", "PresencePriors", "Span", "best_gain_position",
    "best_order", "clear_measurements", "closed_forms", "commutes", "decide", "loudest_span", "measure_pair",
    "presence_priors", "search_order", "search_order_torch",
]
