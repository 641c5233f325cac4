"""ModelPlanner: wraps a trained model's streaming estimate (llm2fx-mini or any checkpoint).

The model package (``llm2fx_lab.model``) provides the network and streams planner events
itself; this module finds the checkpoint, loads it and resamples the audio to the model's
rate. A directory without weights raises a :class:`PlannerError` that says where weights were
looked for and to use the ``analysis`` planner instead.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from llm2fx_lab.audio.io import resample
from llm2fx_lab.errors import PlannerError
from llm2fx_lab.events import Event, Final
from llm2fx_lab.model.generate import load_planner_model
from llm2fx_lab.model.mini import mini_weights_dir

_HINT = "train one with `make mini` or `llm2fx train`, or use 'analysis'"


class ModelPlanner:
    """Planner backed by a model checkpoint directory.

    Parameters
    ----------
    checkpoint_dir : path, optional
        A directory written by the model's training code; default: the embedded llm2fx-mini
        (:func:`~llm2fx_lab.model.mini.mini_weights_dir`).
    name : str
        Planner name reported in :class:`~llm2fx_lab.events.Final`.
    **options
        Passed to the model's loader (e.g. ``device``).
    """

    def __init__(self, checkpoint_dir: Any = None, name: str | None = None, **options: Any) -> None:
        if checkpoint_dir is None:
            checkpoint_dir, name = mini_weights_dir(), name or "mini"
        self.checkpoint_dir = Path(checkpoint_dir)
        self.name = name or "model"
        d = self.checkpoint_dir
        if not d.is_dir() or not any(d.iterdir()):
            raise PlannerError(f"no weights at {d} ({_HINT})")
        # the model's modules import transformers: only when a model planner is made

        self._model = load_planner_model(d, **options)

    @property
    def model(self) -> Any:
        """The loaded :class:`~llm2fx_lab.model.llm.Llm2FxModel` (e.g. for
        :func:`~llm2fx_lab.model.scores.presence_probabilities` or ``digit_probabilities``)."""
        return self._model.model

    def plan(self, dry: np.ndarray | None, reference: np.ndarray, sample_rate: float,
             instruction: str | None = None, stop: threading.Event | None = None) -> Iterator[Event]:
        """Stream the model's estimate as planner events (the model yields them itself).

        Audio at another sample rate than the model's is resampled first (soxr).
        """
        model_rate = self.model.cfg.encoder.sample_rate
        if int(round(sample_rate)) != model_rate:
            dry = None if dry is None else resample(np.asarray(dry, dtype=np.float32), sample_rate, model_rate)
            reference = resample(np.asarray(reference, dtype=np.float32), sample_rate, model_rate)
            sample_rate = model_rate
        for event in self._model.plan(dry, reference, sample_rate, instruction=instruction, stop=stop):
            # the Final names this planner as it is called now (``model:PATH``, or a menu key set later)
            yield dataclasses.replace(event, planner=self.name) if isinstance(event, Final) else event
