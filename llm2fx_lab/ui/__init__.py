"""llm2fx_lab.ui (see the issues that build it)."""
