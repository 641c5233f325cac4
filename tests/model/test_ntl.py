"""Number Token Loss on hand-computed distributions."""

import math

import pytest
import torch

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.model.ntl import causal_lm_losses, number_token_loss

V = 16
DIGITS = list(range(3, 13))  # token id of digit k is 3 + k


def logits_for(digit_probs, extra=None):
    """Logits whose softmax over the digit ids is ``digit_probs`` (other tokens very unlikely)."""
    x = torch.full((V,), -1e4)
    p = torch.tensor(digit_probs, dtype=torch.float64)
    x[DIGITS] = torch.log(p.clamp_min(1e-30)).float()
    if extra:
        for i, v in extra.items():
            x[i] = v
    return x


def one_hot(k):
    return [1.0 if i == k else 0.0 for i in range(10)]


def test_correct_one_hot_costs_nothing():
    logits = logits_for(one_hot(7)).view(1, 1, V)
    assert number_token_loss(logits, torch.tensor([[3 + 7]]), DIGITS).item() == pytest.approx(0.0, abs=1e-6)


def test_half_on_true_half_two_away_is_one():
    probs = [0.0] * 10
    probs[3] = probs[5] = 0.5
    loss = number_token_loss(logits_for(probs).view(1, 1, V), torch.tensor([[3 + 3]]), DIGITS)
    assert loss.item() == pytest.approx(1.0, rel=1e-5)  # 0.5*|3-3| + 0.5*|5-3|


def test_uniform_against_zero_is_mean_digit():
    loss = number_token_loss(logits_for([0.1] * 10).view(1, 1, V), torch.tensor([[3]]), DIGITS)
    assert loss.item() == pytest.approx(4.5, rel=1e-5)


def test_closer_wrong_digit_costs_less_than_far_one():
    near = number_token_loss(logits_for(one_hot(7)).view(1, 1, V), torch.tensor([[3 + 8]]), DIGITS)
    far = number_token_loss(logits_for(one_hot(1)).view(1, 1, V), torch.tensor([[3 + 8]]), DIGITS)
    assert near.item() == pytest.approx(1.0, rel=1e-5) and far.item() == pytest.approx(7.0, rel=1e-5)


def test_mean_over_digit_positions_only_and_ignore_index():
    rows = torch.stack([logits_for(one_hot(2)), logits_for(one_hot(9)), logits_for(one_hot(0))]).view(1, 3, V)
    labels = torch.tensor([[3 + 4, 0, -100]])  # one digit (|2-4| = 2), one non-digit, one ignored
    assert number_token_loss(rows, labels, DIGITS).item() == pytest.approx(2.0, rel=1e-5)


def test_no_digit_labels_gives_zero_with_gradient():
    logits = torch.randn(1, 2, V, requires_grad=True)
    loss = number_token_loss(logits, torch.tensor([[0, -100]]), DIGITS)
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_reweigh_penalises_mass_outside_digits():
    # half the mass on a non-digit token, the digit half all on the truth: 0 * 0.5 + 1.01*9*0.5
    x = logits_for(one_hot(4), extra={0: 0.0})
    x[DIGITS[4]] = 0.0
    loss = number_token_loss(x.view(1, 1, V), torch.tensor([[3 + 4]]), DIGITS, reweigh=True)
    assert loss.item() == pytest.approx(1.01 * 9 * 0.5, rel=1e-4)


def test_causal_shift_and_ce():
    logits = torch.zeros(1, 3, V)
    logits[0, 0] = logits_for(one_hot(5))  # position 0 predicts label at position 1
    ce, ntl = causal_lm_losses(logits, torch.tensor([[-100, 3 + 6, -100]]), DIGITS)
    assert ntl.item() == pytest.approx(1.0, rel=1e-5)
    assert math.isfinite(ce.item())


def test_bad_digit_ids():
    with pytest.raises(ParameterError, match="10 ids"):
        number_token_loss(torch.zeros(1, 1, V), torch.zeros(1, 1, dtype=torch.long), [1, 2, 3])
