"""Fx-Encoder++ (the paper's audio encoder), re-implemented; weights only from a local file.

The ``fxencoder-plusplus`` PyPI package (0.1.5) exists but does not install cleanly here:
it requires ``laion-clap``, ``torchlibrosa`` and ``huggingface_hub``, downloads a CLAP
checkpoint when its model is constructed and fetches its own weights from the Hugging Face
hub; it and its weights are licensed CC BY-NC 4.0. So this module is our own implementation
of the architecture as published (a CNN14-style network, the public code's
``MixtureFxEncoder``): stereo log-mel spectrogram (44.1 kHz, FFT 2048, hop 512, 64 mel bands
50 Hz-18 kHz, Slaney mel, dB clamped to [-80, 40] and scaled to [-1, 1]) with the two
channels as input planes, six conv blocks (2->64->...->2048 channels, 2x2 average pooling
after the first five), dropout 0.2. The *local* embedding the LLM sees is the last block's
output flattened over (time, 2 frequency cells): about 52 frames x 2048 for 10 s.

Parameter names match the ``fx_encoder.*`` entries of the official checkpoint, so a
checkpoint the user obtained can be loaded:

1. get the file yourself (``fxenc_plusplus_default.pt``, see
   https://github.com/SonyResearch/Fx-Encoder_PlusPlus; non-commercial licence);
2. optionally convert it: ``python -m llm2fx_lab.model.fxencoder_pp convert IN.pt OUT.safetensors``;
3. set ``EncoderConfig(kind="fxencoder_pp", weights_path="/path/to/file")``.

Nothing here downloads anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from llm2fx_lab.errors import Llm2FxError, ParameterError
from llm2fx_lab.model.config import EncoderConfig

SAMPLE_RATE, N_FFT, HOP, N_MELS, F_MIN, F_MAX = 44100, 2048, 512, 64, 50.0, 18000.0
CHANNELS = (2, 64, 128, 256, 512, 1024, 2048)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:  # Slaney scale
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``(n_mels, n_fft // 2 + 1)`` (librosa's default)."""
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


class ConvBlock(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU, then average pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, pool) if pool > 1 else x


class FxEncoderPlusPlus(nn.Module):
    """``forward(x (B, 2, T) at 44.1 kHz) -> local embeddings (B, frames, 2048)``.

    Built with random weights; call :meth:`load_weights` (or :func:`build_fxencoder_pp`) to
    load a checkpoint from a local file. The module is kept frozen in training.
    """

    dim = CHANNELS[-1]

    def __init__(self, cfg: EncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg or EncoderConfig(kind="fxencoder_pp", dim=self.dim, min_seconds=1.0)
        if self.cfg.sample_rate != SAMPLE_RATE:
            raise ParameterError(f"Fx-Encoder++ works at {SAMPLE_RATE} Hz, config says {self.cfg.sample_rate}")
        if self.cfg.dim != self.dim:
            raise ParameterError(f"Fx-Encoder++ features are {self.dim}-dimensional, config says dim={self.cfg.dim}")
        self.register_buffer("mel", torch.tensor(mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, F_MIN, F_MAX),
                                                 dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(CHANNELS[i], CHANNELS[i + 1]))
        self.fc_1 = nn.Linear(2048, 2048)  # global embedding head (not used for local tokens)

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2, T)`` -> min-max scaled log-mel ``(B, 2, frames, 64)``."""
        B, C, T = x.shape
        spec = torch.stft(x.reshape(B * C, T), N_FFT, HOP, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True)
        power = (spec.real ** 2 + spec.imag ** 2).transpose(1, 2)  # (B*C, frames, bins)
        db = 10 * torch.log10(torch.clamp(power @ self.mel.T, min=1e-10))
        db = (db.clamp(-80.0, 40.0) + 80.0) / 120.0 * 2 - 1
        return db.reshape(B, C, db.shape[1], N_MELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.log_mel(x)
        for i in range(6):
            h = getattr(self, f"conv_block{i + 1}")(h, pool=2 if i < 5 else 1)
            h = F.dropout(h, p=0.2, training=self.training)
        B, D, T, Fq = h.shape
        return h.reshape(B, D, T * Fq).transpose(1, 2)

    def load_weights(self, path: str | Path) -> "FxEncoderPlusPlus":
        """Load ``fx_encoder.*`` weights from a local ``.safetensors`` or ``.pt``/``.ckpt`` file."""
        state = read_state_dict(path)
        ours = set(self.state_dict())
        picked = {}
        for k, v in state.items():
            k = k[len("module."):] if k.startswith("module.") else k
            k = k[len("fx_encoder."):] if k.startswith("fx_encoder.") else k
            if k in ours:
                picked[k] = v
        missing = sorted(ours - set(picked))
        if missing:
            raise Llm2FxError(f"{path} is not an Fx-Encoder++ checkpoint: {len(missing)} weights missing "
                              f"(e.g. {missing[:3]}); expected keys like 'fx_encoder.conv_block1.conv1.weight'")
        try:
            self.load_state_dict(picked, strict=True)
        except RuntimeError as e:
            raise Llm2FxError(f"{path}: weights do not fit the Fx-Encoder++ architecture: {e}") from None
        return self


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local ``.safetensors`` file or a torch checkpoint (``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise Llm2FxError(f"Fx-Encoder++ weights not found at {path}: download them yourself (non-commercial "
                          "licence; see https://github.com/SonyResearch/Fx-Encoder_PlusPlus) and pass the local path")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure gets the same advice
        raise Llm2FxError(f"cannot read {path} as a weights-only torch checkpoint ({type(e).__name__}: {e}); "
                          "convert it to .safetensors in an environment you trust") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise Llm2FxError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def build_fxencoder_pp(cfg: EncoderConfig, allow_random: bool = False) -> FxEncoderPlusPlus:
    """The encoder with weights from ``cfg.weights_path``; random weights only if ``allow_random``."""
    enc = FxEncoderPlusPlus(cfg)
    if cfg.weights_path:
        enc.load_weights(cfg.weights_path)
    elif not allow_random:
        raise Llm2FxError("EncoderConfig(kind='fxencoder_pp') needs weights_path: a local Fx-Encoder++ "
                          "checkpoint (never downloaded by llm2fx-lab; see llm2fx_lab.model.fxencoder_pp)")
    return enc


def _convert(src: str, dst: str) -> None:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in read_state_dict(src).items() if "fx_encoder." in k}
    save_file(state, dst)


if __name__ == "__main__":  # python -m llm2fx_lab.model.fxencoder_pp convert IN OUT.safetensors
    if len(sys.argv) != 4 or sys.argv[1] != "convert":
        sys.exit("usage: python -m llm2fx_lab.model.fxencoder_pp convert IN.pt OUT.safetensors")
    _convert(sys.argv[2], sys.argv[3])
