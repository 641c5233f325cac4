"""Where the embedded llm2fx-mini checkpoint lives, and whether it is here.

Light on purpose (no torch): the planner registry and the studio ask before anything loads.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that points at another llm2fx-mini checkpoint directory.
MINI_ENV = "LLM2FX_MINI_DIR"


def mini_weights_dir() -> Path:
    """Where the embedded llm2fx-mini checkpoint is looked for.

    ``$LLM2FX_MINI_DIR`` if set, else ``llm2fx_lab/model/weights/mini`` inside the package.
    """
    env = os.environ.get(MINI_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent / "weights" / "mini"


def mini_available() -> bool:
    """True when the llm2fx-mini weights directory exists and holds files."""
    d = mini_weights_dir()
    return d.is_dir() and any(d.iterdir())
