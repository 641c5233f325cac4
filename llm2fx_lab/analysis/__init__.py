"""Analysis: features of a clip, evidence comparing two clips, the paper's metrics, plots.

``import llm2fx_lab.analysis`` is light: auraloss, torch, matplotlib and plotly are only
imported inside the functions that need them.
"""

from llm2fx_lab.analysis.evidence import Evidence, compare
from llm2fx_lab.analysis.features import (
    ClipFeatures,
    Echo,
    average_spectrum,
    features,
    integrated_loudness_lufs,
    k_weighting_sos,
    loudness_range_lu,
    peak_dbfs,
    stereo_measures,
    thd_db,
    true_peak_dbfs,
)

__all__ = [
    "ClipFeatures", "Echo", "Evidence", "average_spectrum", "compare", "features",
    "integrated_loudness_lufs", "k_weighting_sos", "loudness_range_lu", "peak_dbfs",
    "stereo_measures", "thd_db", "true_peak_dbfs",
]
