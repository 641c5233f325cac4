"""Number Token Loss (NTL-WAS): Wasserstein-1 distance over digit tokens.

At every position whose *label* is a single-digit token ``y`` (``"0"`` .. ``"9"``), the
model's distribution over the ten digit tokens ``p = softmax(logits[digit_ids])`` is
compared with the one-hot distribution at ``y``. On the ordered support 0..9 the
Wasserstein-1 distance to a one-hot is ``sum_k p_k |k - y|``: predicting 7 when the truth is
8 costs less than predicting 1, which cross-entropy cannot express. The total loss is
``CE + ntl_coef * NTL`` (coefficient 0.3 in the LLM2Fx public code).

With ``reweigh=True`` (an option of the NTL authors' code, off in their paper) each term is
scaled by the probability mass on digits and ``1.01 * 9 * (1 - mass)`` is added, so mass
placed outside the digits is also penalised.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from llm2fx_lab.errors import ParameterError


def digit_token_ids(tokenizer) -> list[int]:
    """Ids of the tokens ``"0"``..``"9"`` (a tokenizer with single-digit tokens is required)."""
    ids = []
    for d in "0123456789":
        i = tokenizer.convert_tokens_to_ids(d)
        if i is None or i == getattr(tokenizer, "unk_token_id", -1):
            raise ParameterError(f"tokenizer has no single-digit token {d!r}; NTL needs tokens 0..9")
        ids.append(int(i))
    return ids


def number_token_loss(logits: torch.Tensor, labels: torch.Tensor, digit_ids: Sequence[int],
                      ignore_index: int = -100, reweigh: bool = False) -> torch.Tensor:
    """Mean Wasserstein-1 NTL over positions whose label is a digit.

    Parameters
    ----------
    logits : Tensor, shape (..., vocab)
        Already aligned with ``labels`` (shift causal-LM logits first).
    labels : Tensor, shape (...)
        Token ids, ``ignore_index`` where there is no target.
    digit_ids : sequence of 10 int
        Token ids of ``"0"``..``"9"`` in order.

    Returns
    -------
    Tensor, scalar
        0 (with a gradient path) when no label is a digit.

    Examples
    --------
    Half the digit mass on the true digit 3, half on 5: ``0.5 * |3-3| + 0.5 * |5-3| = 1``.
    """
    if len(digit_ids) != 10:
        raise ParameterError(f"digit_ids must hold 10 ids (0..9), got {len(digit_ids)}")
    ids = torch.as_tensor(list(digit_ids), device=logits.device)
    values = torch.arange(10, device=logits.device, dtype=torch.float32)
    lut = torch.full((logits.shape[-1],), -1, dtype=torch.long, device=logits.device)
    lut[ids] = torch.arange(10, device=logits.device)
    safe = labels.clamp_min(0)
    y = torch.where(labels == ignore_index, -1, lut[safe])
    mask = y >= 0
    if not mask.any():
        return logits.sum() * 0.0
    sel = logits[mask].float()  # (n, vocab)
    p = F.softmax(sel[:, ids], dim=-1)
    dist = (p * (values.unsqueeze(0) - y[mask].unsqueeze(1).float()).abs()).sum(-1)
    if reweigh:
        mass = F.softmax(sel, dim=-1)[:, ids].sum(-1)
        dist = dist * mass + 1.01 * 9.0 * (1 - mass)
    return dist.mean()


def causal_lm_losses(logits: torch.Tensor, labels: torch.Tensor, digit_ids: Sequence[int] | None,
                     ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Shifted cross-entropy and NTL of a causal LM: ``(ce, ntl)`` (ntl 0 if no ``digit_ids``)."""
    shift_logits = logits[:, :-1].contiguous()
    shift_labels = labels[:, 1:].contiguous()
    ce = F.cross_entropy(shift_logits.float().view(-1, shift_logits.shape[-1]), shift_labels.view(-1),
                         ignore_index=ignore_index)
    if digit_ids is None:
        return ce, ce.new_zeros(())
    return ce, number_token_loss(shift_logits, shift_labels, digit_ids, ignore_index)
