"""Style statistics: how a recording sounds, measured so that two different recordings compare.

A (dry, reference) pair of *the same* recording is compared sample by sample
(:func:`~llm2fx_lab.analysis.evidence.compare`). When the reference is another recording (style
transfer: "make my track sound like that one") those comparisons compare two different pieces,
so this module measures what can be compared across pieces, the distributions:

- :func:`style_stats`: a clip's long-term spectral envelope (1/3-octave levels), integrated
  loudness and loudness range, crest factor, stereo width (side/mid) and balance, decay time
  after onsets, and echo (cepstrum) of one clip;
- :func:`style_distance`: how far apart two clips' statistics are, per statistic and in total
  (each divided by :data:`STYLE_SCALES`, a rough just-noticeable step, so they add up): the
  "feature distance" of the style-transfer benchmark;
- :func:`content_match`: whether two clips hold the same material at all (the band-envelope
  correlation and the coherence of the pair), which tells a planner that it is given different
  recordings and should switch to style mode.

Audio is ``(channels, samples)`` float32 (mono is duplicated); bad audio raises
:class:`~llm2fx_lab.errors.AudioError` as everywhere in the lab.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.signal

from llm2fx_lab.analysis.features import clip_features
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.errors import AudioError

#: The statistics :func:`style_distance` reports, with the step (in the statistic's unit) that
#: counts as one unit of distance: about a just-noticeable change of each.
STYLE_SCALES: dict[str, float] = {
    "envelope_db": 1.0,          # mean |band level difference| after the common level is removed
    "loudness_lu": 1.0,
    "loudness_range_lu": 1.0,
    "crest_factor_db": 1.0,
    "width_db": 2.0,             # side/mid energy ratio, clamped to WIDTH_RANGE_DB
    "balance_db": 1.0,           # left/right energy ratio
    "decay_seconds": 0.1,
}
#: Side/mid ratios (dB) are compared within this range: below -40 dB a clip is mono to the ear,
#: and the floor of a mono clip (-120 dB) would otherwise dominate every distance.
WIDTH_RANGE_DB = (-40.0, 10.0)
#: Bands quieter than this (dB) hold no content and are left out of the envelope.
BAND_FLOOR_DB = -100.0
#: :func:`content_match` calls two clips the same material when their band envelopes correlate
#: (at least :data:`SAME_ENVELOPE_CORRELATION`) and so does the pattern across bands once the
#: common loudness contour is removed (at least :data:`SAME_PATTERN_CORRELATION`: two different
#: pieces at one tempo share a contour, not which bands sound when), or when their coherence
#: reaches :data:`SAME_COHERENCE`. Chosen on 135 generated pairs (docs/decisions.md): every pair
#: of one clip and its render through 1 to 9 sampled modules passed, no pair of two different
#: pieces did (MIDI pieces; noise-burst clips at one tempo), with a margin on each threshold.
SAME_ENVELOPE_CORRELATION = 0.2
SAME_PATTERN_CORRELATION = 0.15
SAME_COHERENCE = 0.04
#: Frame hop (s), bands and lags (s) of the band-envelope correlation.
ENVELOPE_HOP_SECONDS = 0.02
ENVELOPE_BANDS = 8
MAX_LAG_SECONDS = 1.0


@dataclass(frozen=True)
class StyleStats:
    """The statistics of one clip that describe its sound rather than its notes."""

    loudness_lufs: float
    loudness_range_lu: float
    crest_factor_db: float
    side_to_mid_db: float
    balance_db: float
    decay_seconds: float
    band_centres_hz: tuple[float, ...]
    band_levels_db: tuple[float, ...]
    echo_detected: bool
    echo_delay_seconds: float
    echo_feedback: float

    @property
    def width_db(self) -> float:
        """Side/mid ratio clamped to :data:`WIDTH_RANGE_DB` (what :func:`style_distance` compares)."""
        return float(np.clip(self.side_to_mid_db, *WIDTH_RANGE_DB))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def style_stats(audio: Any, sample_rate: float, name: str = "audio") -> StyleStats:
    """Measure the style statistics of one clip.

    Raises
    ------
    AudioError
        Bad shape, empty, NaN or infinite samples, a bad sample rate, or a silent clip (a
        silent clip has no style to measure or to match).
    """
    x = as_stereo_float32(audio, name)
    sr = check_sample_rate(sample_rate)
    f = clip_features(x, sr, true_peak=False)
    if f.is_silent:
        raise AudioError(f"the {name} clip is silent (peak below -120 dBFS); style statistics need sound")
    return StyleStats(
        loudness_lufs=f.loudness_lufs, loudness_range_lu=f.loudness_range_lu, crest_factor_db=f.crest_factor_db,
        side_to_mid_db=f.side_to_mid_db, balance_db=f.balance_db, decay_seconds=f.decay_time_seconds,
        band_centres_hz=f.band_centres_hz, band_levels_db=f.band_levels_db,
        echo_detected=f.echo.detected, echo_delay_seconds=f.echo.delay_seconds, echo_feedback=f.echo.feedback)


def envelope_difference_db(a: StyleStats, b: StyleStats) -> float:
    """Mean absolute difference (dB) of the two 1/3-octave envelopes once their common level
    (the median band difference) is removed, over the bands where both have content."""
    la, lb = np.asarray(a.band_levels_db), np.asarray(b.band_levels_db)
    ok = np.isfinite(la) & np.isfinite(lb) & (la > BAND_FLOOR_DB) & (lb > BAND_FLOOR_DB)
    if not ok.any():
        return 0.0
    d = lb[ok] - la[ok]
    return float(np.mean(np.abs(d - np.median(d))))


def _finite_gap(x: float, y: float) -> float:
    return abs(y - x) if math.isfinite(x) and math.isfinite(y) else 0.0


@dataclass(frozen=True)
class StyleDistance:
    """Per-statistic gaps (in each statistic's unit) and the total in :data:`STYLE_SCALES` steps."""

    gaps: dict[str, float]

    @property
    def parts(self) -> dict[str, float]:
        """Each gap divided by its scale."""
        return {k: v / STYLE_SCALES[k] for k, v in self.gaps.items()}

    @property
    def total(self) -> float:
        return float(sum(self.parts.values()))


def style_distance(a: StyleStats, b: StyleStats) -> StyleDistance:
    """How far apart two clips sound: the gap of every statistic of :data:`STYLE_SCALES`."""
    return StyleDistance({
        "envelope_db": envelope_difference_db(a, b),
        "loudness_lu": _finite_gap(a.loudness_lufs, b.loudness_lufs),
        "loudness_range_lu": _finite_gap(a.loudness_range_lu, b.loudness_range_lu),
        "crest_factor_db": _finite_gap(a.crest_factor_db, b.crest_factor_db),
        "width_db": abs(b.width_db - a.width_db),
        "balance_db": _finite_gap(a.balance_db, b.balance_db),
        "decay_seconds": _finite_gap(a.decay_seconds, b.decay_seconds),
    })


# --- same material or not --------------------------------------------------------------------

def _band_envelopes(x: np.ndarray, sr: float) -> np.ndarray:
    """Log energy (bands x frames) of the mid signal in :data:`ENVELOPE_BANDS` log-spaced bands."""
    hop = int(round(sr * ENVELOPE_HOP_SECONDS))
    n_fft = 2048
    freqs, _, z = scipy.signal.stft(x.mean(axis=0), sr, nperseg=n_fft, noverlap=n_fft - hop, boundary=None,
                                    padded=False)
    power = np.abs(z) ** 2
    edges = np.geomspace(60.0, min(12000.0, sr / 2), ENVELOPE_BANDS + 1)
    bands = np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in zip(edges[:-1], edges[1:])])
    return np.log10(bands + 1e-9)


def envelope_correlation(x: np.ndarray, y: np.ndarray, sr: float) -> tuple[float, float, float]:
    """(the correlation of the two clips' band envelopes, that of their patterns across bands,
    the lag in seconds, positive when ``y`` is late), at the lag of up to :data:`MAX_LAG_SECONDS`
    where the envelopes correlate best.

    The same notes through an effects chain keep when each band rises and falls (an EQ moves
    a band's level, not its shape over time; a compressor moves all bands together, which the
    pattern leaves out); two different pieces do not.
    """
    a, b = _band_envelopes(x, sr), _band_envelopes(y, sr)
    n = min(a.shape[1], b.shape[1])
    a = a[:, :n] - a[:, :n].mean(axis=1, keepdims=True)
    b = b[:, :n] - b[:, :n].mean(axis=1, keepdims=True)
    pa, pb = a - a.mean(axis=0, keepdims=True), b - b.mean(axis=0, keepdims=True)

    def corr(u: np.ndarray, v: np.ndarray, lag: int) -> float:
        u, v = u[:, max(-lag, 0): n - max(lag, 0)], v[:, max(lag, 0): n + min(lag, 0)]
        den = math.sqrt(float((u * u).sum()) * float((v * v).sum()))
        return float((u * v).sum()) / den if den > 0 else 0.0

    reach = int(MAX_LAG_SECONDS / ENVELOPE_HOP_SECONDS)
    best, lag = max((corr(a, b, k), k) for k in range(-reach, reach + 1))
    return best, corr(pa, pb, lag), lag * ENVELOPE_HOP_SECONDS


def coherence(x: np.ndarray, y: np.ndarray, sr: float) -> float:
    """Mean magnitude-squared coherence (100 Hz .. 8 kHz) of the mid signals, ``y`` first shifted
    by the lag of their cross-correlation peak (up to :data:`MAX_LAG_SECONDS`): near 1 for one
    recording through linear effects, near 0 for two different ones."""
    a, b = x.mean(axis=0).astype(np.float64), y.mean(axis=0).astype(np.float64)
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    reach = min(int(MAX_LAG_SECONDS * sr), n - 1)
    xc = scipy.signal.fftconvolve(b, a[::-1], mode="full")[n - 1 - reach: n + reach]
    lag = int(np.argmax(np.abs(xc))) - reach
    if lag > 0:
        a, b = a[: n - lag], b[lag:]
    elif lag < 0:
        a, b = a[-lag:], b[: n + lag]
    freqs, c = scipy.signal.coherence(a, b, sr, nperseg=min(4096, a.size))
    band = (freqs > 100.0) & (freqs < 8000.0)
    return float(np.mean(c[band])) if band.any() else 0.0


@dataclass(frozen=True)
class ContentMatch:
    """Whether a dry clip and a reference hold the same material (:func:`content_match`)."""

    envelope_correlation: float
    pattern_correlation: float
    lag_seconds: float
    #: None when the envelopes already showed the same material (not measured).
    coherence: float | None

    @property
    def envelopes_match(self) -> bool:
        return (self.envelope_correlation >= SAME_ENVELOPE_CORRELATION
                and self.pattern_correlation >= SAME_PATTERN_CORRELATION)

    @property
    def same_content(self) -> bool:
        return self.envelopes_match or (self.coherence is not None and self.coherence >= SAME_COHERENCE)

    def sentence(self) -> str:
        """One sentence with the numbers, for reasoning and the studio."""
        measured = (f"band-envelope correlation {self.envelope_correlation:.2f}, across-band pattern "
                    f"{self.pattern_correlation:.2f}")
        if self.coherence is not None:
            measured += f", coherence {self.coherence:.3f}"
        numbers = (f"{measured}; the same material through effects reaches {SAME_ENVELOPE_CORRELATION:g} and "
                   f"{SAME_PATTERN_CORRELATION:g}, or a coherence of {SAME_COHERENCE:g}")
        if self.same_content:
            return f"The dry clip and the reference hold the same material ({numbers})."
        return (f"The dry clip and the reference do not seem to hold the same recording ({numbers}), so "
                f"comparing them moment by moment compares two different pieces. Style mode matches "
                f"their sound instead (its level, dynamics, width, balance, decay and tone): "
                f"`llm2fx estimate --style`, style=True, or the studio's switch \"the reference is a "
                f"different recording\".")


def content_match(dry: Any, reference: Any, sample_rate: float) -> ContentMatch:
    """Measure whether ``dry`` and ``reference`` hold the same material.

    Raises
    ------
    AudioError
        Bad audio (as :func:`style_stats`), or a clip under 0.5 s.
    """
    sr = check_sample_rate(sample_rate)
    x, y = as_stereo_float32(dry, "dry"), as_stereo_float32(reference, "reference")
    for name, z in (("dry", x), ("reference", y)):
        if z.shape[1] < 0.5 * sr:
            raise AudioError(f"the {name} clip is {z.shape[1] / sr:.2f} s long; comparing content needs at least "
                             "0.5 s")
        if not np.any(np.abs(z) > 1e-6):
            raise AudioError(f"the {name} clip is silent; there is no content to compare")
    envelope, pattern, lag = envelope_correlation(x, y, sr)
    match = ContentMatch(envelope, pattern, lag, None)
    # the coherence (the slower measure) only where the envelopes alone did not settle it
    return match if match.envelopes_match else dataclasses.replace(match, coherence=coherence(x, y, sr))


def style_transfer_scores(dry: Any, target: Any, output: Any, sample_rate: float) -> dict[str, float]:
    """How close a style transfer's ``output`` came to its ``target`` (the dry clip through the
    reference's chain), against the untouched dry clip as the baseline: the MR-STFT distance
    (:func:`~llm2fx_lab.analysis.mrstft.mrstft_distance`) and the feature distance
    (:func:`style_distance`) of each, and their ratios (output / dry; below 1 is closer)."""
    from llm2fx_lab.analysis.mrstft import mrstft_distance

    sr = check_sample_rate(sample_rate)
    goal = style_stats(target, sr, "target")
    out = {"mrstft": mrstft_distance(output, target), "mrstft_dry": mrstft_distance(dry, target),
           "feature_distance": style_distance(style_stats(output, sr, "output"), goal).total,
           "feature_distance_dry": style_distance(style_stats(dry, sr, "dry"), goal).total}
    out["mrstft_ratio"] = out["mrstft"] / out["mrstft_dry"] if out["mrstft_dry"] > 0 else math.nan
    out["feature_ratio"] = (out["feature_distance"] / out["feature_distance_dry"] if out["feature_distance_dry"] > 0
                            else math.nan)
    return out
