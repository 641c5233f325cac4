"""llm2fx_lab.planners (see the issues that build it)."""
