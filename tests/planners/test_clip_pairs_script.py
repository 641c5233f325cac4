"""scripts/make_clip_pairs.py: the bundled clips as ``llm2fx bench --folder`` pairs."""

import json

import pytest

from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.planners.bench import load_pairs_folder
from tests._scripts import load_script


def test_writes_demo_and_sampled_pairs_that_the_bench_reads(tmp_path, capsys):
    script = load_script("scripts/make_clip_pairs.py")
    out = tmp_path / "pairs"
    script.main([str(out), "--per-length", "1"])
    assert "wrote 14 pairs" in capsys.readouterr().out
    pairs = load_pairs_folder(out)
    assert len(pairs) == 14
    by_id = {p["id"]: p for p in pairs}
    assert by_id["drums"]["reference"] == Chain.from_tool_calls(
        json.loads((script.EXAMPLES_DIR / "pairs.json").read_text())["drums"])
    assert sorted(len(p["reference"]) for p in pairs if "_sampled_" in p["id"]) == list(range(1, 10))
    # nothing is overwritten
    with pytest.raises(SystemExit, match="exists"):
        script.main([str(out)])
    with pytest.raises(SystemExit, match="per-length"):
        script.main([str(tmp_path / "other"), "--per-length", "-1"])
