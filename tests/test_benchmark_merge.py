"""benchmarks/planners.py keeps the rows of planners not run now, and the all-pairs calibration."""

from tests._scripts import load_script

NOTE = "900 generated pairs (100 per chain length 1..9, seed 1234); the note."
PAPER = "| LLM2Fx-Tools (paper) | paper | 80% | 0.56 | 0.23 | 3.13 | - | - | - |"
HEAD = "| method | audio | Acc |\n|---|---|---|"


def _merge():
    return load_script("benchmarks/planners.py", name="bench_planners").merge_previous


def test_keeps_other_planners_and_all_pairs_calibration():
    previous = "\n".join([
        "- date: 2026-11-26 04:31 UTC", "- command: `python benchmarks/planners.py --planners mini`", "",
        NOTE, "", HEAD,
        "| mini (900 pairs) | ours | 58% |",
        "| calibration: empty chain | ours | 44% |",
        "| calibration: true modules, mid params | ours | 100% |",
        "| analysis+refine (9 pairs) | ours | 79% |",
        PAPER, "", "Per chain length, `mini`:", "", "| chain_length |", "|---|", "| all |", ""])
    table = "\n".join([NOTE, "", HEAD, "| analysis+refine (90 pairs) | ours | 81% |",
                       "| calibration: empty chain, 90 pairs | ours | 44% |", PAPER, ""])
    merged, sections = _merge()(table, ["Per chain length, `analysis+refine`: ..."], ["analysis+refine"], NOTE,
                                previous)
    rows = [line.split("|")[1].strip() for line in merged.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["analysis+refine (90 pairs)", "calibration: empty chain, 90 pairs",
                        "calibration: empty chain", "calibration: true modules, mid params", "mini (900 pairs)",
                        "LLM2Fx-Tools (paper)"]
    assert "Calibration rows over all the pairs are kept" in merged
    assert "Rows for `mini` are kept from the earlier run on the same pairs (date 2026-11-26 04:31 UTC" in merged
    assert sections[0].startswith("Per chain length, `mini`") and len(sections) == 2


def test_other_pairs_keep_nothing():
    table = "\n".join(["100 generated pairs (other)", "", HEAD, "| analysis (100 pairs) | ours | 81% |", PAPER, ""])
    previous = "\n".join([NOTE, "", HEAD, "| mini (900 pairs) | ours | 58% |", PAPER])
    assert _merge()(table, [], ["analysis"], "100 generated pairs (other)", previous) == (table, [])
