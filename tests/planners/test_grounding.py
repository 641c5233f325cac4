"""The AnalysisPlanner's reasoning is grounded: its numbers agree with the measured Evidence.

Every bundled example pair (cropped to 4 s) is planned and its reasoning checked with
:func:`llm2fx_lab.analysis.claims.check_claims`: no claim may be contradicted, and the share
of checkable claims confirmed must reach :data:`MIN_SHARE` (measured 1.00 on all five
examples; the bar leaves a little room for platform differences in the measurements).
"""

from __future__ import annotations

import pytest

from llm2fx_lab.analysis import compare
from llm2fx_lab.analysis.claims import check_claims, share_confirmed
from llm2fx_lab.events import Final
from llm2fx_lab.examples import example_pair, list_examples
from llm2fx_lab.planners.analysis_planner import AnalysisPlanner

CROP_SECONDS = 4.0
MIN_SHARE = 0.9


@pytest.mark.parametrize("name", list_examples())
def test_reasoning_has_no_contradicted_claims(name: str) -> None:
    dry, ref, sr, _ = example_pair(name)
    n = int(CROP_SECONDS * sr)
    dry, ref = dry[:, :n], ref[:, :n]
    final = next(e for e in AnalysisPlanner().plan(dry, ref, sr) if isinstance(e, Final))
    checks = check_claims(final.reasoning, compare(dry, ref, sr))
    contradicted = [(c.text, c.reason) for c in checks if c.verdict == "contradicted"]
    assert not contradicted, contradicted
    assert sum(c.verdict != "unverifiable" for c in checks) >= 3
    assert share_confirmed(checks, of="checkable") >= MIN_SHARE


def test_no_echo_claimed_without_a_distinct_peak() -> None:
    """The bass pair has no delay: its impulse-response peaks are not called an echo."""
    dry, ref, sr, _ = example_pair("bass")
    n = int(CROP_SECONDS * sr)
    final = next(e for e in AnalysisPlanner().plan(dry[:, :n], ref[:, :n], sr) if isinstance(e, Final))
    assert "no distinct echo" in final.reasoning
    assert "delay" not in final.chain.names
