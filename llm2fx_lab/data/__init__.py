"""llm2fx_lab.data (see the issues that build it)."""
