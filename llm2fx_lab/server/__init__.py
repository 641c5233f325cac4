"""``llm2fx serve``: the lab's planners as an OpenAI-compatible server (:func:`create_app`, :func:`serve`).

Any OpenAI client can then ask a planner for a chain: the model is the planner's name, the pair
goes in as two ``input_audio`` parts (or two ``file`` parts naming clips uploaded once,
:mod:`.files`), and the answer comes back as reasoning text plus standard ``tool_calls``
(:mod:`.protocol`).
"""

from llm2fx_lab.server.app import CLOSING, ServeConfig, create_app, in_background, serve
from llm2fx_lab.server.files import FileLimits
from llm2fx_lab.server.protocol import Limits, RequestError

__all__ = ["CLOSING", "FileLimits", "Limits", "RequestError", "ServeConfig", "create_app", "in_background", "serve"]
