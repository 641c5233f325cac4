"""Evidence: measured differences between a dry clip and a processed (wet) one.

:func:`compare` returns an :class:`Evidence`, a frozen dataclass of numbers with units in
their names and one short sentence for each ("the high band (above 4 kHz) is 5.8 dB
louder"). Planners cite the sentences in their reasoning; the reasoning explorer checks a
claim's direction with :meth:`Evidence.direction`.

It is built for speed (a 10 s stereo clip in well under 50 ms, see
``benchmarks/analysis.py``): one STFT per clip, one K-weighting pass per clip, and a
deconvolution of decimated mono signals for echoes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from llm2fx_lab.analysis import features as F
from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.audio.loudness import k_weighted_chunks, loudness_of_chunks, loudness_range_of_chunks
from llm2fx_lab.errors import AudioError

LengthPolicy = Literal["pad", "crop", "error"]

#: Smallest changes worth a mention (used by :attr:`Evidence.notable` and :meth:`Evidence.direction`).
NOTABLE = {
    "loudness_change_lu": 1.0,
    "low_band_gain_db": 1.5,
    "mid_band_gain_db": 1.5,
    "high_band_gain_db": 1.5,
    "crest_factor_change_db": 1.5,
    "loudness_range_change_lu": 1.0,
    "side_to_mid_change_db": 1.5,
    "pan_change": 0.1,
    "decay_change_seconds": 0.2,
    "added_harmonics_db": -40.0,   # a level, not a change: notable above this
}
#: Margin (dB) above the typical dry-to-wet gain beyond which energy counts as new content.
NEW_CONTENT_MARGIN_DB = 25.0


@dataclass(frozen=True)
class Evidence:
    """Measured differences of a processed clip against its dry clip.

    All changes are ``wet - dry``. Band gains are energy ratios of the low (< 250 Hz),
    mid (250 Hz - 4 kHz) and high (> 4 kHz) bands and include any overall level change.
    ``sentences`` holds one ``(field, sentence)`` pair per measured quantity.
    """

    sample_rate: float
    dry_loudness_lufs: float
    wet_loudness_lufs: float
    loudness_change_lu: float
    low_band_gain_db: float
    mid_band_gain_db: float
    high_band_gain_db: float
    crest_factor_change_db: float
    loudness_range_change_lu: float
    side_to_mid_change_db: float
    balance_change_db: float
    pan_change: float
    correlation_change: float
    dry_decay_seconds: float
    wet_decay_seconds: float
    decay_change_seconds: float
    echo_detected: bool
    echo_delay_seconds: float
    echo_level_db: float
    echo_feedback: float
    added_harmonics_db: float
    sentences: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()
    #: side/mid energy of each clip (dB), floored at :data:`MONO_SIDE_DB` ("mono")
    dry_side_to_mid_db: float = float("nan")
    wet_side_to_mid_db: float = float("nan")

    def sentence(self, name: str) -> str:
        """The sentence about field ``name`` (KeyError if there is none)."""
        return dict(self.sentences)[name]

    def direction(self, name: str) -> int:
        """+1 / -1 where field ``name`` changed notably up / down, else 0.

        ``echo_detected`` and ``added_harmonics_db`` are +1 when present, 0 when not.
        """
        if name == "echo_detected":
            return int(self.echo_detected)
        value = getattr(self, name)
        limit = NOTABLE.get(name)
        if limit is None or not np.isfinite(value):
            return 0
        if name == "added_harmonics_db":
            return int(value > limit)
        return int(np.sign(value)) if abs(value) >= limit else 0

    @property
    def notable(self) -> tuple[str, ...]:
        """Fields whose change is large enough to mention, in field order."""
        names = [n for n in NOTABLE if self.direction(n) != 0]
        if self.echo_detected:
            names.append("echo_detected")
        return tuple(names)

    def summary(self) -> str:
        """The sentences of the notable changes, or a sentence saying there are none."""
        lines = [self.sentence(n) for n in self.notable]
        return "; ".join(lines) + "." if lines else "No clear difference between the two clips."

    def as_dict(self) -> dict[str, Any]:
        """Numbers only (no sentences, no notes), for tables."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("sentences", "notes")}


# --- measurements -------------------------------------------------------------------------

def _match_lengths(dry: np.ndarray, wet: np.ndarray, policy: LengthPolicy) -> tuple[np.ndarray, np.ndarray, list[str]]:
    n_dry, n_wet = dry.shape[1], wet.shape[1]
    if n_dry == n_wet:
        return dry, wet, []
    if policy == "error":
        raise AudioError(f"dry and wet must have the same length, got {n_dry} and {n_wet} samples")
    if policy == "crop":
        n = min(n_dry, n_wet)
        return dry[:, :n], wet[:, :n], [f"cropped both clips to {n} samples"]
    if policy != "pad":
        raise AudioError(f"length policy must be 'pad', 'crop' or 'error', got {policy!r}")
    n = max(n_dry, n_wet)
    which = "dry" if n_dry < n else "wet"
    pad = lambda x: np.pad(x, ((0, 0), (0, n - x.shape[1])))  # noqa: E731
    return pad(dry), pad(wet), [f"zero-padded the {which} clip from {min(n_dry, n_wet)} to {n} samples"]


def _echo_from_response(h: np.ndarray, rate: float, min_strength: float = 20.0,
                        min_contrast: float = 3.0) -> tuple[bool, float, float, float]:
    """(detected, delay_seconds, level_db re direct sound, feedback) from an impulse response."""
    mag = np.abs(h)
    near = max(int(0.02 * rate), 1)
    direct = float(max(mag[:near].max(), mag[-near:].max()))
    lo, hi = (int(s * rate) for s in F.ECHO_SEARCH_SECONDS)
    hi = min(hi, mag.size // 2)
    nothing = (False, float("nan"), float("nan"), float("nan"))
    if direct <= 0 or hi - lo < 8:
        return nothing
    region = mag[lo:hi]
    i = int(np.argmax(region))
    lag = lo + i
    spread = float(np.median(region)) + 1e-300
    guard, reach = max(int(0.002 * rate), 1), int(0.03 * rate)
    around = np.concatenate([mag[max(lag - reach, 0):max(lag - guard, 0)], mag[lag + guard:lag + reach]])
    contrast = region[i] / (float(around.max()) + 1e-300) if around.size else np.inf
    if region[i] / spread < min_strength or contrast < min_contrast:
        return nothing
    second = float(mag[max(2 * lag - 1, 0):2 * lag + 2].max()) if 2 * lag + 2 < mag.size // 2 else 0.0
    feedback = float(np.clip(second / region[i], 0.0, 0.99))
    return True, lag / rate, float(20 * np.log10(region[i] / direct)), feedback


def _new_content_db(dry_spec: np.ndarray, wet_spec: np.ndarray) -> float:
    """Share (dB) of wet energy in bins where it exceeds the typical gain by > 25 dB."""
    floor = 1e-300
    gains_db = 10 * np.log10((wet_spec + floor) / (dry_spec + floor))
    weights = dry_spec / dry_spec.sum()
    order = np.argsort(gains_db)
    median = gains_db[order][np.searchsorted(np.cumsum(weights[order]), 0.5)]
    expected = dry_spec * 10 ** ((median + NEW_CONTENT_MARGIN_DB) / 10)
    excess = float(np.maximum(wet_spec - expected, 0.0).sum()) / float(wet_spec.sum())
    return float(max(10 * np.log10(max(excess, 1e-300)), F.RATIO_FLOOR_DB))


# --- sentences ----------------------------------------------------------------------------

#: Side energy this far below mid counts as mono; changes are measured from this floor so a
#: mono dry clip does not produce "+115 dB wider" (measured from the -120 dB ratio floor).
MONO_SIDE_DB = -60.0


def _side_db(stereo: dict[str, float]) -> float:
    value = stereo["side_to_mid_db"]
    return max(value, MONO_SIDE_DB) if np.isfinite(value) else value


def _louder(value: float, unit: str = "dB") -> str:
    return f"{abs(value):.1f} {unit} {'louder' if value >= 0 else 'quieter'}"


def _sentences(e: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    lo, hi = (f"{b / 1000:g} kHz" if b >= 1000 else f"{b:g} Hz" for b in F.BAND_EDGES_HZ)
    out = [
        ("loudness_change_lu",
         f"the processed clip is {_louder(e['loudness_change_lu'], 'LU')} "
         f"({e['dry_loudness_lufs']:.1f} -> {e['wet_loudness_lufs']:.1f} LUFS)"),
        ("low_band_gain_db", f"the low band (below {lo}) is {_louder(e['low_band_gain_db'])}"),
        ("mid_band_gain_db", f"the mid band ({lo} to {hi}) is {_louder(e['mid_band_gain_db'])}"),
        ("high_band_gain_db", f"the high band (above {hi}) is {_louder(e['high_band_gain_db'])}"),
    ]
    crest = e["crest_factor_change_db"]
    out.append(("crest_factor_change_db",
                f"peaks stand {abs(crest):.1f} dB {'more' if crest >= 0 else 'less'} above the average level "
                f"({'more' if crest >= 0 else 'less'} dynamic, as "
                f"{'after an expander or transient boost' if crest >= 0 else 'after compression, limiting or saturation'})"))
    lra = e["loudness_range_change_lu"]
    out.append(("loudness_range_change_lu",
                f"the loudness range {'grows' if lra >= 0 else 'shrinks'} by {abs(lra):.1f} LU"))
    width = e["side_to_mid_change_db"]
    dry_w, wet_w = e.get("dry_side_to_mid_db", np.nan), e.get("wet_side_to_mid_db", np.nan)
    if not np.isfinite(width):
        text = "the stereo width cannot be compared (a clip is silent)"
    elif dry_w <= MONO_SIDE_DB < wet_w:
        text = f"the dry clip is mono and the reference is not: its side energy sits {-wet_w:.1f} dB below its mid"
    elif wet_w <= MONO_SIDE_DB < dry_w:
        text = "the reference is mono: its stereo image collapsed to the centre"
    else:
        text = (f"the stereo image is {'wider' if width >= 0 else 'narrower'}: side energy relative to mid "
                f"{'rises' if width >= 0 else 'falls'} by {abs(width):.1f} dB")
    out.append(("side_to_mid_change_db", text))
    pan = e["pan_change"]
    out.append(("pan_change",
                f"the balance moves {'right' if pan >= 0 else 'left'} by {abs(pan):.2f} on the pan scale "
                f"(L/R balance {e['balance_change_db']:+.1f} dB)"))
    dec = e["decay_change_seconds"]
    out.append(("decay_change_seconds",
                f"sounds decay {'more slowly' if dec >= 0 else 'faster'}: about "
                f"{e['dry_decay_seconds']:.2f} s -> {e['wet_decay_seconds']:.2f} s to fall 60 dB"
                + (" (added reverberation)" if dec >= NOTABLE["decay_change_seconds"] else "")))
    if e["echo_detected"]:
        fb = e["echo_feedback"]
        out.append(("echo_detected",
                    f"an echo follows the sound after {1000 * e['echo_delay_seconds']:.0f} ms, "
                    f"{-e['echo_level_db']:.1f} dB below it"
                    + (f", repeating with feedback about {fb:.2f}" if fb >= 0.05 else ", without repeats")))
    else:
        out.append(("echo_detected", "no echo was found between 40 ms and 1 s"))
    harm = e["added_harmonics_db"]
    out.append(("added_harmonics_db",
                f"{10 ** (harm / 10) * 100:.1f} % of the processed energy lies where the dry clip had "
                f"almost none (new harmonics, as from distortion)"
                if harm > NOTABLE["added_harmonics_db"] else "no new harmonics were found"))
    return tuple(out)


# --- public API ---------------------------------------------------------------------------

def compare(dry: Any, wet: Any, sample_rate: float, *, wet_sample_rate: float | None = None,
            length: LengthPolicy = "pad") -> Evidence:
    """Measure what processing did to ``dry`` to make ``wet``.

    Parameters
    ----------
    dry, wet : array_like, shape (samples,) or (channels, samples)
        Mono is duplicated to stereo (a mono clip has no side signal: width changes
        against it are measured from -120 dB).
    sample_rate : float
        In Hz, of both clips.
    wet_sample_rate : float, optional
        If given and different from ``sample_rate``, an :class:`AudioError` says to
        resample first (``llm2fx_lab.audio.io.resample``); measuring across rates would
        silently compare different frequencies.
    length : {"pad", "crop", "error"}, default "pad"
        What to do when the lengths differ. ``"pad"`` zero-pads the shorter clip at the
        end (right for a wet clip rendered with a tail), ``"crop"`` cuts both to the shorter,
        ``"error"`` raises. What was done is recorded in :attr:`Evidence.notes`.

    Returns
    -------
    Evidence

    Raises
    ------
    AudioError
        NaN/inf samples, bad shapes, different rates, different lengths with
        ``length="error"``, or a silent dry or wet clip (there is nothing to compare).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.1
    >>> round(compare(x, 0.5 * x, 44100).loudness_change_lu, 2)
    -6.02
    """
    sr = check_sample_rate(sample_rate)
    if wet_sample_rate is not None and check_sample_rate(wet_sample_rate) != sr:
        raise AudioError(
            f"dry and wet have different sample rates ({sr:g} and {float(wet_sample_rate):g} Hz); "
            "resample one of them first (llm2fx_lab.audio.io.resample)"
        )

    x_dry = as_stereo_float32(dry, "dry")
    x_wet = as_stereo_float32(wet, "wet")
    x_dry, x_wet, notes = _match_lengths(x_dry, x_wet, length)
    a_dry, a_wet = F.analyse(x_dry, sr, "dry"), F.analyse(x_wet, sr, "wet")
    for label, a in (("dry", a_dry), ("wet", a_wet)):
        if a.is_silent:
            raise AudioError(f"the {label} clip is silent (peak below -120 dBFS); there is nothing to compare")

    k_dry, k_wet = k_weighted_chunks(x_dry, sr), k_weighted_chunks(x_wet, sr)
    lufs_dry, lufs_wet = loudness_of_chunks(k_dry), loudness_of_chunks(k_wet)
    bands = F.three_band_levels(a_wet) - F.three_band_levels(a_dry)
    crest = [20 * np.log10(a.peak) - F._rms_dbfs(a.x) for a in (a_dry, a_wet)]
    st_dry, st_wet = F.stereo_measures(x_dry), F.stereo_measures(x_wet)
    dec_dry, dec_wet = F.decay_time_seconds(a_dry), F.decay_time_seconds(a_wet)
    ir = F.deconvolve_mid(x_dry, x_wet, sr)
    detected, delay_s, level_db, feedback = _echo_from_response(ir.h, ir.rate)
    e: dict[str, Any] = dict(
        sample_rate=sr,
        dry_loudness_lufs=lufs_dry,
        wet_loudness_lufs=lufs_wet,
        loudness_change_lu=lufs_wet - lufs_dry,
        low_band_gain_db=float(bands[0]),
        mid_band_gain_db=float(bands[1]),
        high_band_gain_db=float(bands[2]),
        crest_factor_change_db=float(crest[1] - crest[0]),
        loudness_range_change_lu=loudness_range_of_chunks(k_wet) - loudness_range_of_chunks(k_dry),
        side_to_mid_change_db=_side_db(st_wet) - _side_db(st_dry),
        dry_side_to_mid_db=_side_db(st_dry),
        wet_side_to_mid_db=_side_db(st_wet),
        balance_change_db=st_wet["balance_db"] - st_dry["balance_db"],
        pan_change=st_wet["pan_position"] - st_dry["pan_position"],
        correlation_change=st_wet["correlation"] - st_dry["correlation"],
        dry_decay_seconds=dec_dry,
        wet_decay_seconds=dec_wet,
        decay_change_seconds=dec_wet - dec_dry,
        echo_detected=detected,
        echo_delay_seconds=delay_s,
        echo_level_db=level_db,
        echo_feedback=feedback,
        added_harmonics_db=_new_content_db(F.mean_spectrum(a_dry), F.mean_spectrum(a_wet)),
    )
    return Evidence(**e, sentences=_sentences(e), notes=tuple(notes))
