import math

import numpy as np
import pytest
import scipy.stats

from llm2fx_lab.analysis import audibility as A
from llm2fx_lab.analysis import metrics as M
from llm2fx_lab.analysis import scoring
from llm2fx_lab.errors import AudioError, ParameterError
from llm2fx_lab.fx.spec import MODULE_NAMES

SR = 44100


def chain(*names, **params):
    return [{"name": n, "arguments": params.get(n, {})} for n in names]


def test_accuracy_hand_computed():
    assert M.module_accuracy(chain("gain", "reverb"), chain("gain", "delay")) == pytest.approx(7 / 9)
    assert M.module_accuracy([], []) == 1.0
    assert M.module_accuracy(chain(*MODULE_NAMES), chain("gain", "delay", "reverb")) == pytest.approx(3 / 9)


def test_bypassed_modules_do_not_count():
    pred = [{"name": "gain", "arguments": {}, "bypass": True}]
    assert M.module_accuracy(pred, []) == 1.0


@pytest.mark.parametrize("pred,ref", [
    (["gain", "delay", "reverb", "limiter"], ["gain", "reverb", "delay", "limiter"]),
    (["limiter", "reverb", "delay", "gain"], ["gain", "delay", "reverb", "limiter"]),
    (["panner", "gain", "equalizer", "delay"], ["delay", "equalizer", "gain", "compressor"]),
])
def test_rank_correlation_matches_scipy(pred, ref):
    common = [m for m in ref if m in pred]
    expected = scipy.stats.spearmanr([pred.index(m) for m in common], [ref.index(m) for m in common])[0]
    assert M.rank_correlation(chain(*pred), chain(*ref)) == pytest.approx(expected)


def test_rank_correlation_undefined_below_two_common():
    assert math.isnan(M.rank_correlation(chain("gain"), chain("gain", "reverb")))
    assert M.rank_correlation(chain("reverb", "gain"), chain("gain", "reverb")) == pytest.approx(-1.0)


def test_linear_normalisation_and_mae():
    assert M.normalize_linear("compressor", "attack_ms", 250) == 0.5
    assert M.normalize_linear("gain", "gain_db", -20) == 0.0
    with pytest.raises(ParameterError):
        M.normalize_linear("flanger", "rate", 1)
    pred = chain("gain", "compressor", gain={"gain_db": 10},
                 compressor={"threshold_db": -40, "ratio": 1, "attack_ms": 0, "release_ms": 0})
    ref = chain("compressor", "gain", "reverb", gain={"gain_db": 0},
                compressor={"threshold_db": -5, "ratio": 1, "attack_ms": 500, "release_ms": 0})
    # gain: 0.25; compressor: 1, 0, 1, 0 -> mean of five errors
    assert M.parameter_mae(pred, ref) == pytest.approx((0.25 + 1 + 0 + 1 + 0) / 5)
    assert math.isnan(M.parameter_mae(chain("delay"), chain("gain")))


def test_mrstft(noise):
    x = noise[:, :SR // 2]
    assert M.mrstft_lr(x, x, SR) == (0.0, 0.0)
    left, right = M.mrstft_lr(x, x * np.array([[1.0], [0.5]], np.float32), SR)
    assert left == pytest.approx(0.0, abs=1e-6) and right > 0.1
    with pytest.raises(AudioError, match="same length"):
        M.mrstft_lr(x, x[:, :-1], SR)
    assert M.mrstft_lr(x, x * 0.5, SR, crop_seconds=0.2)[0] > 0


def test_mrstft_lr_is_auralosss_number_and_reuses_reference_spectra():
    import torch
    from auraloss.freq import MultiResolutionSTFTLoss

    from llm2fx_lab.examples import example_pair

    dry, wet, sr, _ = example_pair("drums")
    dry, wet = dry[:, : int(2 * sr)], wet[:, : int(2 * sr)]
    with torch.no_grad():
        expected = [float(MultiResolutionSTFTLoss()(torch.from_numpy(dry[c][None, None].copy()),
                                                    torch.from_numpy(wet[c][None, None].copy()))) for c in (0, 1)]
    got = M.mrstft_lr(wet, dry, sr)
    assert got == pytest.approx(expected, rel=1e-4) and got[0] > 0.1
    # spectra of the reference computed once give the same numbers, for any estimate
    spectra = M.reference_spectra(wet, sr)
    assert M.mrstft_lr(spectra, dry, sr) == got
    assert M.mrstft_lr(spectra, wet, sr) == (0.0, 0.0)
    cropped = M.reference_spectra(wet, sr, crop_seconds=1.0)
    assert M.mrstft_lr(cropped, dry, sr, crop_seconds=1.0) == M.mrstft_lr(wet, dry, sr, crop_seconds=1.0)
    with pytest.raises(AudioError, match="crop_seconds"):
        M.mrstft_lr(cropped, dry, sr)
    with pytest.raises(AudioError, match="same length"):
        M.mrstft_lr(spectra, dry[:, :-1], sr)


def test_embedding_similarity(noise):
    enc = lambda audio, sr: np.stack([audio.mean(axis=1), audio.std(axis=1)])  # noqa: E731
    assert M.embedding_similarity(noise, noise, SR, enc) == pytest.approx(1.0)
    with pytest.raises(AudioError, match="zero"):
        M.embedding_similarity(noise, noise, SR, lambda a, sr: np.zeros(4))


def test_band_distance_closed_form(noise):
    assert A.band_level_distance_db(noise, noise, SR) == 0.0
    assert A.band_level_distance_db(noise, noise * 10 ** (-3 / 20), SR) == pytest.approx(3.0, abs=1e-3)
    with pytest.raises(AudioError):
        A.band_level_distance_db(noise, noise[:, :-5], SR)


def test_audibility_of_modules_and_orders(bursts):
    x = bursts[:, :SR]
    ref = chain("gain", "equalizer", "distortion", "stereo_widener",
                gain={"gain_db": 1}, equalizer={"high_gain_db": 12, "high_cutoff_freq": 5000},
                distortion={"drive_db": 14}, stereo_widener={"width": 1.0})
    modules = A.module_audibility(x, SR, ref)
    assert modules["stereo_widener"] < 1e-3 and modules["gain"] < 2.5
    assert modules["equalizer"] > 2.5 and modules["distortion"] > 2.5
    orders = A.order_audibility(x, SR, ref)
    assert orders[("gain", "equalizer")] < 1e-3          # linear modules commute
    assert orders[("equalizer", "distortion")] > 2.5     # EQ before/after a waveshaper differs


def test_audible_accuracies_hand_computed():
    ref = chain("gain", "reverb", "delay")
    # gain inaudible: predicting it or not makes no difference
    assert A.audible_module_accuracy(chain("reverb", "delay"), ref, {"reverb", "delay"}) == 1.0
    assert A.audible_module_accuracy(chain("reverb"), ref, {"reverb", "delay"}) == pytest.approx(7 / 8)
    assert A.pairwise_order_accuracy(chain("delay", "reverb", "gain"), ref) == 0.0
    assert A.pairwise_order_accuracy(chain("gain", "delay", "reverb"), ref) == pytest.approx(2 / 3)
    assert A.pairwise_order_accuracy(chain("reverb"), ref, [("reverb", "delay")]) == 0.0
    assert math.isnan(A.pairwise_order_accuracy(chain("reverb"), ref, []))
    # a 9-module reference of which nothing can be heard: nothing to evaluate
    everything = chain(*MODULE_NAMES)
    assert math.isnan(A.audible_module_accuracy(chain("reverb"), everything, set()))
    assert A.audible_module_accuracy(chain("reverb"), everything, {"reverb"}) == 1.0


def test_score_table(bursts):
    x = bursts[:, :SR]
    examples = [{"dry": x, "sample_rate": SR, "reference": chain("gain", "reverb", gain={"gain_db": -12})},
                {"dry": x, "sample_rate": SR, "reference": chain("delay", delay={"mix_ratio": 0.5})}]
    predictions = [chain("reverb", "gain", gain={"gain_db": -12}), chain("delay", delay={"mix_ratio": 0.5})]
    table = scoring.score(examples, predictions, mrstft_crop_seconds=0.5)
    assert list(table["method"].unique()) == list(scoring.METHODS)
    assert set(table["chain_length"]) == {"1", "2", "all"}
    pred_all = table[(table.method == "prediction") & (table.chain_length == "all")].iloc[0]
    assert pred_all.acc == 1.0 and pred_all.rank_corr == -1.0 and pred_all.rank_corr_n == 1
    one = table[(table.method == "prediction") & (table.chain_length == "1")].iloc[0]
    assert one.mrs_l == pytest.approx(0.0, abs=1e-6) and one.mae == 0.0
    # recovery is about the sound: the exact chain, and gain and reverb swapped (both linear, they
    # commute) render the reference; the empty chain does not
    two = table[(table.method == "prediction") & (table.chain_length == "2")].iloc[0]
    assert one.recovered == 1.0 and two.recovered == 1.0 and pred_all.recovered == 1.0
    assert table[(table.method == "empty chain") & (table.chain_length == "all")].iloc[0].recovered == 0.0
    empty = table[(table.method == "empty chain") & (table.chain_length == "all")].iloc[0]
    assert empty.acc == pytest.approx(((9 - 2) / 9 + (9 - 1) / 9) / 2)
    assert empty.order_acc == 0.0 and empty.mrs > pred_all.mrs
    mid = table[(table.method == "true modules, mid params") & (table.chain_length == "all")].iloc[0]
    assert mid.acc == 1.0 and mid.rank_corr == 1.0
    with pytest.raises(ParameterError):
        scoring.score(examples, predictions[:1])
    # several planners on the same examples: calibration once, audibility measured once
    cache: dict = {}
    full = scoring.score_examples(examples, predictions, mrstft_crop_seconds=0.5, cache=cache)
    assert len(cache) == 2
    calls = []
    real = A.module_audibility
    try:
        A.module_audibility = lambda *a, **k: calls.append(a) or real(*a, **k)
        again = scoring.score_examples(examples[1:], predictions[1:], mrstft_crop_seconds=0.5,
                                       calibration=False, cache=cache)
    finally:
        A.module_audibility = real
    assert calls == [] and list(again["method"]) == ["prediction"]
    same = full[full.method == "prediction"].iloc[1]
    for column in ("acc", "audible_acc", "mrs_l", "mrs_r", "n_audible_modules"):
        assert again.iloc[0][column] == same[column]
