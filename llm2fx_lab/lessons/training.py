"""Helpers of ``04_train_your_own``: a live loss plot of a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import display
from matplotlib.figure import Figure

from llm2fx_lab.errors import ParameterError
from llm2fx_lab.lessons.common import check_positive
from llm2fx_lab.model import preset
from llm2fx_lab.model.train import train_from_dir
from llm2fx_lab.threads import start_background

#: Columns of ``OUT/log.csv`` that :func:`loss_figure` reads.
LOSS_COLUMNS = ("stage", "loss", "val_loss")


def loss_figure(log_csv: str | Path) -> Figure:
    """The training loss so far, from a trainer's ``log.csv``.

    Parameters
    ----------
    log_csv : str or Path
        The ``OUT/log.csv`` a trainer writes after every step, with the columns ``stage``,
        ``loss`` and ``val_loss`` (empty where no validation ran). A missing or empty file
        gives empty axes (training has not written a step yet).

    Returns
    -------
    matplotlib.figure.Figure
        Per stage, the training loss as a line and the validation losses as dots, against the
        global step (counted from 1 over all stages).
    """
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    log = Path(log_csv)
    if log.exists() and log.stat().st_size:
        df = pd.read_csv(log)
        missing = [c for c in LOSS_COLUMNS if c not in df.columns]
        if missing:
            raise ParameterError(f"{log} has no column {', '.join(missing)}; a training log has {', '.join(LOSS_COLUMNS)}")
        df["global step"] = range(1, len(df) + 1)
        for stage, part in df.groupby("stage"):
            ax.plot(part["global step"], part["loss"], label=f"stage {stage} train loss")
            val = part.dropna(subset=["val_loss"])
            ax.plot(val["global step"], val["val_loss"], "o", label=f"stage {stage} validation")
        ax.legend(fontsize=8)
    ax.set(xlabel="step", ylabel="loss (CE + NTL)", title="training loss")
    return fig


def train_with_live_loss(preset_name: str, data_dir: str | Path, out_dir: str | Path, stage1_steps: int,
                         stage2_steps: int, refresh_seconds: float = 1.0) -> dict[str, Any]:
    """Train a preset on a generated dataset while a loss plot redraws below the cell.

    Training (:func:`llm2fx_lab.model.train_from_dir`) runs in a background thread; this
    function redraws :func:`loss_figure` of ``out_dir/log.csv`` every ``refresh_seconds`` until
    it ends. An error in training is raised here, so a failed run does not hang the notebook.

    Parameters
    ----------
    preset_name : str
        A model preset, e.g. ``"tiny"``.
    data_dir, out_dir : str or Path
        The dataset (from ``llm2fx data generate``) and the folder the model is written to.
    stage1_steps, stage2_steps : int
        Training steps of stage 1 (encoder and adapter) and stage 2 (the language model).
    refresh_seconds : float
        Time between redraws, in seconds.

    Returns
    -------
    dict
        The trainer's metrics by stage, e.g. ``{"stage1": {"loss": 2.1, ...}, ...}``.

    Raises
    ------
    ParameterError
        Unknown preset (the message lists the presets), before training starts.
    """
    preset(preset_name)
    refresh_seconds = check_positive("refresh_seconds", refresh_seconds)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["metrics"] = train_from_dir(preset_name, data_dir, out_dir, progress=True,
                                                train={"stage1_steps": stage1_steps, "stage2_steps": stage2_steps})
        except Exception as error:  # raised below, in the caller's thread
            outcome["error"] = error

    log = Path(out_dir) / "log.csv"
    # no stop: training runs its steps to the end (the exit waits for it up to its limit)
    thread = start_background(run, name="llm2fx-train")
    handle = display(loss_figure(log), display_id=True)
    while thread.is_alive():
        thread.join(timeout=refresh_seconds)
        handle.update(loss_figure(log))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["metrics"]
