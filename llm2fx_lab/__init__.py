"""llm2fx-lab: tool-calling audio effect chains (LLM2Fx-Tools, ICLR 2026) you can run, hear and edit.

The library is importable without Jupyter; ``llm2fx_lab.ui`` holds the widgets.
"""

from llm2fx_lab.errors import AudioError, BackendError, Llm2FxError, ParameterError, ToolCallError

__version__ = "0.1.0"

__all__ = ["AudioError", "BackendError", "Llm2FxError", "ParameterError", "ToolCallError", "__version__"]
