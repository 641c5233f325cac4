"""Shapes and properties of the encoders and the adapter; bad audio."""

import numpy as np
import pytest
import torch

from llm2fx_lab.errors import AudioError, Llm2FxError, ParameterError
from llm2fx_lab.model.adapter import QueryAdapter
from llm2fx_lab.model.config import AdapterConfig, EncoderConfig, preset
from llm2fx_lab.model.encoders import EffectsEncoder, PairComparison, check_waveform, deconvolve
from llm2fx_lab.model.fxencoder_pp import FxEncoderPlusPlus, build_fxencoder_pp, mel_filterbank

SR = 44100


def test_effects_encoder_shape():
    cfg = preset("tiny").encoder
    x = torch.randn(3, 2, SR // 2) * 0.1
    out = EffectsEncoder(cfg)(x)
    frames = SR // 2 // cfg.hop_samples + 1
    assert out.shape == (3, 1 + (frames + 1) // 2, cfg.dim)
    assert torch.isfinite(out).all()


def test_pair_comparison_shape_and_gain_feature():
    cfg = preset("tiny").encoder
    dry = torch.randn(2, 2, SR // 2) * 0.1
    pair = PairComparison(cfg)
    assert pair(dry, dry * 0.5).shape[0] == 2 and pair(dry, dry * 0.5).shape[-1] == cfg.dim
    per_frame, tf, env = pair.features(dry, dry * 0.5)
    # the frame gain curve (last 2 columns, dB/20) says -6.02 dB
    assert per_frame[..., -2:].mean().item() * 20 == pytest.approx(-6.02, abs=0.05)
    assert tf.mean().item() * 20 == pytest.approx(-6.02, abs=0.3)


def test_deconvolution_finds_a_delay():
    n, delay = 4096, 300
    dry = torch.randn(1, 1, n)
    ref = torch.nn.functional.pad(dry, (delay, 0))[..., :n] * 0.5
    h = torch.fft.irfft(deconvolve(dry, ref), 2 * (deconvolve(dry, ref).shape[-1] - 1))
    assert int(h[0, 0].abs().argmax()) == delay
    assert h[0, 0, delay].item() == pytest.approx(0.5, abs=0.05)


def test_fxencoder_pp_random_weights_shape():
    enc = FxEncoderPlusPlus().eval()
    with torch.no_grad():
        out = enc(torch.randn(1, 2, SR) * 0.1)
    # 87 frames -> /32 in time = 2, x 2 frequency cells
    assert out.shape == (1, 4, 2048)


def test_mel_filterbank_is_slaney_normalised():
    w = mel_filterbank(SR, 2048, 64, 50.0, 18000.0)
    assert w.shape == (64, 1025) and (w >= 0).all()
    # Slaney area normalisation: each triangle integrates to about 1 over Hz (x bin width)
    areas = w.sum(1) * (SR / 2048)
    assert np.allclose(areas[10:], 1.0, rtol=0.1)


def test_fxencoder_pp_weights_from_local_file_only(tmp_path):
    from safetensors.torch import save_file

    src = FxEncoderPlusPlus()
    state = {f"module.fx_encoder.{k}": v.contiguous() for k, v in src.state_dict().items()}
    save_file(state, str(tmp_path / "fx.safetensors"))
    cfg = EncoderConfig(kind="fxencoder_pp", dim=2048, weights_path=str(tmp_path / "fx.safetensors"))
    enc = build_fxencoder_pp(cfg)
    assert torch.equal(enc.conv_block3.conv1.weight, src.conv_block3.conv1.weight)
    with pytest.raises(Llm2FxError, match="needs weights_path"):
        build_fxencoder_pp(EncoderConfig(kind="fxencoder_pp", dim=2048))
    with pytest.raises(Llm2FxError, match="not found"):
        build_fxencoder_pp(EncoderConfig(kind="fxencoder_pp", dim=2048, weights_path=str(tmp_path / "no.pt")))
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(Llm2FxError, match="not an Fx-Encoder"):
        build_fxencoder_pp(EncoderConfig(kind="fxencoder_pp", dim=2048, weights_path=str(tmp_path / "other.safetensors")))
    with pytest.raises(ParameterError, match="2048"):
        FxEncoderPlusPlus(EncoderConfig(kind="fxencoder_pp", dim=128))


def test_check_waveform_bad_input():
    cfg = preset("tiny").encoder
    ok = torch.zeros(1, 2, SR)
    assert check_waveform(ok, cfg, SR).shape == (1, 2, SR)
    with pytest.raises(AudioError, match="at least"):
        check_waveform(torch.zeros(1, 2, 100), cfg)
    with pytest.raises(AudioError, match="sample rate"):
        check_waveform(ok, cfg, 16000)
    with pytest.raises(AudioError, match="shape"):
        check_waveform(torch.zeros(1, 3, SR), cfg)
    bad = ok.clone()
    bad[0, 0, 5] = float("nan")
    with pytest.raises(AudioError, match="NaN"):
        check_waveform(bad, cfg)


def test_adapter_shape_own_weights_and_no_self_attention():
    cfg = AdapterConfig(dim=32, n_layers=3, n_heads=4)
    ad = QueryAdapter(cfg, in_dim=20, out_dim=48).eval()
    feats = torch.randn(2, 7, 20)
    out = ad(feats)
    assert out.shape == (2, 32, 48)
    w = [b.attn.in_proj_weight for b in ad.blocks]
    assert len({id(x) for x in w}) == 3 and not torch.equal(w[0], w[1])
    # no self-attention: changing query 0 leaves the other queries' outputs unchanged
    with torch.no_grad():
        ad.queries[0] += 1.0
    out2 = ad(feats)
    assert not torch.allclose(out2[:, 0], out[:, 0])
    assert torch.allclose(out2[:, 1:], out[:, 1:], atol=1e-6)
