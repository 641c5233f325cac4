"""Analysis: features of a clip, evidence comparing two clips, the paper's metrics, plots.

``import llm2fx_lab.analysis`` is light: auraloss, torch, pandas, matplotlib and plotly are
only imported inside the functions that need them.
"""

from llm2fx_lab.analysis.audibility import (
    audible_module_accuracy,
    band_level_distance_db,
    module_audibility,
    order_audibility,
    pairwise_order_accuracy,
)
from llm2fx_lab.analysis.claims import ClaimCheck, check_claims, coverage, share_confirmed
from llm2fx_lab.analysis.evidence import Evidence, compare
from llm2fx_lab.analysis.features import (
    ClipFeatures,
    Echo,
    average_spectrum,
    clip_features,
    peak_dbfs,
    stereo_measures,
    thd_db,
    true_peak_dbfs,
)
from llm2fx_lab.analysis.metrics import (
    embedding_similarity,
    mid_range_chain,
    module_accuracy,
    mrstft_lr,
    normalize_linear,
    parameter_mae,
    rank_correlation,
)
from llm2fx_lab.analysis.plot_data import (
    dynamics_curve_data,
    eq_curve_data,
    gain_reduction_data,
    spectrogram_data,
    spectrum_data,
    vectorscope_data,
    waveform_data,
)
from llm2fx_lab.analysis.plots import figure
from llm2fx_lab.analysis.scoring import score, score_examples, summarize

__all__ = [
    "ClaimCheck", "ClipFeatures", "Echo", "Evidence", "audible_module_accuracy", "average_spectrum",
    "check_claims", "coverage", "share_confirmed",
    "band_level_distance_db", "compare", "dynamics_curve_data", "embedding_similarity",
    "eq_curve_data", "clip_features", "figure", "gain_reduction_data", "mid_range_chain", "module_accuracy",
    "module_audibility", "mrstft_lr", "normalize_linear", "order_audibility",
    "pairwise_order_accuracy", "parameter_mae", "peak_dbfs", "rank_correlation", "score",
    "score_examples", "spectrogram_data", "spectrum_data", "stereo_measures", "summarize",
    "thd_db", "true_peak_dbfs", "vectorscope_data", "waveform_data",
]
