"""Any chat LLM as a planner, with the lab's measurements as tools (:class:`ChatPlanner`).

- :mod:`.planner`: the conversation and the tool loop (:class:`ChatPlanner`, :class:`ChatConfig`);
- :mod:`.tools`: the measurement tools (``measure_pair``, ``measure_clip``, ``render_and_compare``);
- :mod:`.backends`: an OpenAI-compatible endpoint (:class:`OpenAIBackend`) or a local checkpoint
  (:class:`TransformersBackend`);
- :mod:`.parsing`: reasoning and tool calls in every common dialect.

Registry names: ``llm:MODEL@BASE_URL`` (an endpoint; ``api_key_env="VAR"`` names the variable
holding its key) and ``hf:PATH`` (a local checkpoint).

>>> from llm2fx_lab.planners.chat import ChatConfig
>>> ChatConfig().max_rounds
6
"""

from llm2fx_lab.planners.chat.backends import Delta, OpenAIBackend, TransformersBackend, Turn
from llm2fx_lab.planners.chat.parsing import RawCall, ThinkSplitter, ToolCallAssembler, calls_in_text, read_arguments
from llm2fx_lab.planners.chat.planner import SYSTEM_PROMPT, ChatConfig, ChatPlanner
from llm2fx_lab.planners.chat.tools import MEASUREMENT_TOOLS, MeasurementTools, measurement_schemas

__all__ = [
    "MEASUREMENT_TOOLS", "SYSTEM_PROMPT", "ChatConfig", "ChatPlanner", "Delta", "MeasurementTools", "OpenAIBackend",
    "RawCall", "ThinkSplitter", "ToolCallAssembler", "TransformersBackend", "Turn", "calls_in_text",
    "measurement_schemas", "read_arguments",
]
