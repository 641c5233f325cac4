"""``python -m llm2fx_lab.cli ...`` (and ``accelerate launch -m llm2fx_lab.cli train ...``)."""

import sys

from llm2fx_lab.cli.main import main

sys.exit(main())
