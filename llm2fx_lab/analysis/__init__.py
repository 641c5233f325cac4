"""llm2fx_lab.analysis (see the issues that build it)."""
