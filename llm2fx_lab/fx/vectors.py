"""Chains as fixed-length vectors, and back: what learned models predict and train on.

A chain becomes module presence over :data:`~llm2fx_lab.fx.spec.MODULE_NAMES` (9 values) and
every parameter normalised to [0, 1] by its spec
(:meth:`~llm2fx_lab.fx.spec.ParamSpec.normalize`) in :data:`~llm2fx_lab.fx.spec.ALL_PARAMS`
order (26 values). Module order is not part of the vector.

>>> from llm2fx_lab.fx import Chain
>>> presence, params, mask = chain_vectors(Chain.from_tool_calls([{"name": "gain", "arguments": {"gain_db": 0}}]))
>>> presence.shape, params.shape, int(mask.sum())
((9,), (26,), 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.fx.chain import as_chain
from llm2fx_lab.fx.spec import ALL_PARAMS, MODULE_NAMES

#: Length of :func:`probe_targets`: presence of each module, then every parameter.
N_CHAIN_TARGETS = len(MODULE_NAMES) + len(ALL_PARAMS)


def chain_vectors(chain: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(presence (9,), params (26,), param_mask (26,))`` float32 of a chain.

    ``params`` are normalised to [0, 1]; parameters of absent modules hold their normalised
    default and ``param_mask`` 0 (1 for the parameters of present modules).
    """
    chain = as_chain(chain)
    presence = np.array([name in chain.names for name in MODULE_NAMES], dtype=np.float32)
    params = np.empty(len(ALL_PARAMS), dtype=np.float32)
    mask = np.zeros(len(ALL_PARAMS), dtype=np.float32)
    for i, p in enumerate(ALL_PARAMS):
        present = p.module in chain.names
        value = chain[p.module][p.name] if present else p.default
        params[i] = np.clip(p.normalize(value), 0.0, 1.0)
        mask[i] = float(present)
    return presence, params, mask


def probe_targets(chain: Any) -> np.ndarray:
    """``(9 + 26,)`` float32: presence (1/0) then the normalised parameters of
    :func:`chain_vectors`, ``nan`` for the parameters of absent modules (nothing to learn there)."""
    presence, params, mask = chain_vectors(chain)
    return np.concatenate([presence, np.where(mask > 0, params, np.nan)]).astype(np.float32)


def denormalized_params(unit_values: Any) -> dict[str, float]:
    """``"module.param" -> value`` in the parameters' units from 26 values in [0, 1]
    (:data:`~llm2fx_lab.fx.spec.ALL_PARAMS` order), the inverse of :func:`chain_vectors`' ``params``."""
    values = np.asarray(unit_values, dtype=np.float64).reshape(-1)
    if values.shape != (len(ALL_PARAMS),):
        raise ParameterError(f"expected {len(ALL_PARAMS)} normalised parameters, got shape {np.shape(unit_values)}")
    return {p.qualified_name: p.denormalize(float(u)) for p, u in zip(ALL_PARAMS, values)}
