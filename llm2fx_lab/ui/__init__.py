"""The studio's widgets (Jupyter, anywidget + ipywidgets); nothing in the library imports this.

>>> from llm2fx_lab.ui import Studio
>>> Studio(example="drums")   # doctest: +SKIP

Each widget also works alone: :class:`AudioInput`, :class:`ReasoningView`,
:class:`ChainEditor`, :class:`Player`, :class:`SpectrumView`, :class:`DynamicsView`,
:class:`PresetPanel`, :class:`Recorder`.
"""

from llm2fx_lab.ui.audio_input import MAX_UPLOAD_BYTES, AudioInput, AudioSlot
from llm2fx_lab.ui.chain_editor import ChainEditor
from llm2fx_lab.ui.listening import Player
from llm2fx_lab.ui.plots import DynamicsView, PlotsView, SpectrumView
from llm2fx_lab.ui.presets import PresetPanel
from llm2fx_lab.ui.reasoning import ReasoningView
from llm2fx_lab.ui.recorder import Recorder
from llm2fx_lab.ui.studio import Studio, resolve_planner

__all__ = [
    "MAX_UPLOAD_BYTES", "AudioInput", "AudioSlot", "ChainEditor", "DynamicsView", "Player",
    "PlotsView", "PresetPanel", "ReasoningView", "Recorder", "SpectrumView", "Studio", "resolve_planner",
]
