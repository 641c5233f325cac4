"""The ``llm2fx`` command line (entry point :func:`main`); ``python -m llm2fx_lab.cli`` runs it too.

Each command imports the library parts it runs when it runs (the planners, training, data
generation): ``llm2fx tools`` starts without torch (tested), and ``llm2fx estimate`` pays only
for the planner it uses.
"""

from llm2fx_lab.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
