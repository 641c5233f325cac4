"""The plumbing behind the notebooks, so that a notebook cell shows the lesson and nothing else.

One module of helpers per notebook, every helper also importable from here
(``from llm2fx_lab import lessons; lessons.play_with("compressor", "drums")``):

- ``02_effects_101`` (:mod:`.effects`): :func:`clip`, :func:`explanation` / :func:`explain`, :func:`players` /
  :func:`listen`, :func:`impulse_response`, :func:`plots` / :func:`see`, :func:`slider`,
  :func:`play_with`, :func:`order_plots`, :func:`measured_changes`, :func:`exercise`;
- ``03_reasoning_explorer`` (:mod:`.reasoning`): :func:`example_pairs`, :func:`reasoning_table`,
  :func:`first_mentions`, :func:`decision_timeline`, :func:`hears_and_says`,
  :func:`quick_tiny_model`, :func:`digit_figure`, :func:`claims_side_by_side`,
  :func:`teach_chat_checkpoint`;
- ``04_train_your_own`` (:mod:`.training`): :func:`loss_figure`, :func:`train_with_live_loss`;
- ``05_benchmark`` (:mod:`.benchmark`): :func:`benchmark_rows`, :func:`paper_rows`, :func:`per_length_figure`.

A function that builds something (a table, players, a figure) returns it; its twin that shows it
(``explain``, ``listen``, ``see``) displays it. Audio arrays are ``(channels, samples)`` float32,
as everywhere in llm2fx-lab. Figures are ``matplotlib.figure.Figure`` objects made without
pyplot, so nothing is shown twice; a notebook shows them as images after ``%matplotlib inline``.
"""

from llm2fx_lab.lessons.benchmark import METRICS, benchmark_rows, paper_rows, per_length_figure
from llm2fx_lab.lessons.effects import (
    clip,
    exercise,
    explain,
    explanation,
    impulse_response,
    listen,
    measured_changes,
    order_plots,
    play_with,
    players,
    plots,
    see,
    slider,
)
from llm2fx_lab.lessons.reasoning import (
    VERDICT_COLOURS,
    claims_side_by_side,
    decision_timeline,
    digit_figure,
    example_pairs,
    first_mentions,
    hears_and_says,
    quick_tiny_model,
    reasoning_table,
    teach_chat_checkpoint,
)
from llm2fx_lab.lessons.training import LOSS_COLUMNS, loss_figure, train_with_live_loss

__all__ = [
    "LOSS_COLUMNS",
    "METRICS",
    "VERDICT_COLOURS",
    "benchmark_rows",
    "claims_side_by_side",
    "clip",
    "decision_timeline",
    "digit_figure",
    "example_pairs",
    "exercise",
    "explain",
    "explanation",
    "first_mentions",
    "hears_and_says",
    "impulse_response",
    "listen",
    "loss_figure",
    "measured_changes",
    "order_plots",
    "paper_rows",
    "per_length_figure",
    "play_with",
    "players",
    "plots",
    "quick_tiny_model",
    "reasoning_table",
    "see",
    "slider",
    "teach_chat_checkpoint",
    "train_with_live_loss",
]
