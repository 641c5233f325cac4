"""Audio I/O, loudness and preprocessing. Arrays are ``(channels, samples)`` float32."""

from llm2fx_lab.audio.checks import as_stereo_float32, check_sample_rate
from llm2fx_lab.audio.io import (
    REFERENCE_LUFS,
    REFERENCE_SAMPLE_RATE,
    REFERENCE_SECONDS,
    crop_or_pad,
    load_audio,
    load_audio_bytes,
    resample,
    save_audio,
    to_stereo,
)
from llm2fx_lab.audio.loudness import (
    integrated_loudness_lufs,
    k_weighting_sos,
    loudness_range_lu,
    normalize_loudness,
)

__all__ = [
    "REFERENCE_LUFS", "REFERENCE_SAMPLE_RATE", "REFERENCE_SECONDS", "as_stereo_float32",
    "check_sample_rate", "crop_or_pad", "integrated_loudness_lufs", "k_weighting_sos", "load_audio",
    "load_audio_bytes", "loudness_range_lu", "normalize_loudness", "resample", "save_audio", "to_stereo",
]
