"""llm2fx_lab.model (see the issues that build it)."""
