"""scripts/order_ceiling.py: the highest order Spearman a perfect listener can expect."""

import math

import numpy as np
import pytest

from tests._scripts import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("scripts/order_ceiling.py")


def test_equivalent_orders_swap_only_modules_that_commute(script):
    assert script.equivalent_orders(("gain", "distortion")) == [("gain", "distortion")]
    assert sorted(script.equivalent_orders(("gain", "equalizer", "distortion"))) == [
        ("equalizer", "gain", "distortion"), ("gain", "equalizer", "distortion")]
    # the panner and the widener each commute with gain, not with each other
    assert len(script.equivalent_orders(("panner", "gain", "stereo_widener"))) == 3


def test_ceiling_is_one_for_an_audible_order_and_lower_where_orders_sound_alike(script):
    rng = np.random.default_rng(0)
    assert script.best_expected_spearman(("distortion", "compressor"), rng) == 1.0
    assert script.best_expected_spearman(("gain", "equalizer"), rng) == 0.0  # either order, a coin flip
    # gain can sit anywhere around the EQ but must stay on one side of the distortion
    assert 0 < script.best_expected_spearman(("gain", "equalizer", "distortion"), rng) < 1
    assert math.isnan(script.best_expected_spearman(("gain",), rng))


def test_main_prints_a_row_per_length(script, capsys):
    script.main(["--per-length", "2", "--seed", "1"])
    out = capsys.readouterr().out
    assert "| 9 |" in out and "2-9 (the benchmark's mean)" in out
