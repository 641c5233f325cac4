"""The project's packaging stays consistent: environment.yml == pyproject, README commands exist."""

import re
from pathlib import Path

import numpy as np
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = {_name(d): d.replace(" ", "") for d in pyproject["project"]["dependencies"]}
    text = (ROOT / "environment.yml").read_text()
    pip_block = text.split("- pip:", 1)[1]
    pip_reqs = [ln.strip()[2:].strip() for ln in pip_block.splitlines()
                if ln.strip().startswith("- ") and not ln.strip().startswith("- -e")]
    env = {_name(r): r.replace(" ", "") for r in pip_reqs}
    assert env.pop("torch") == "torch==2.13.0"  # the CPU wheel, installed first
    deps.pop("torch")
    assert env == deps


def test_readme_documents_the_two_commands_and_every_dependency():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for dep in pyproject["project"]["dependencies"]:
        assert f"`{_name(dep)}`" in readme, f"README does not say what {_name(dep)} is for"


def test_ci_runs_make_test_and_fails_on_no_tests():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "-eq 5" in makefile and "torch==2.13.0" in makefile


def test_license_is_gpl3():
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()[:200]
    assert 'license = "GPL-3.0-or-later"' in (ROOT / "pyproject.toml").read_text()


def test_bundled_examples():
    from llm2fx_lab.examples import EXAMPLES_DIR, example_chain, example_pair, list_examples, load_example

    names = list_examples()
    assert 3 <= len(names) <= 5
    assert sum(p.stat().st_size for p in EXAMPLES_DIR.glob("*.flac")) <= 6e6
    assert (EXAMPLES_DIR / "PROVENANCE.md").exists()
    for name in names:
        x, sr = load_example(name)
        assert sr == 44100 and x.shape == (2, 441000) and np.abs(x).max() > 0.1
        assert len(example_chain(name)) >= 1
    dry, ref, sr, chain = example_pair(names[0])
    assert dry.shape == ref.shape and not np.allclose(dry, ref)


def test_library_imports_without_jupyter_modules():
    import subprocess
    import sys

    code = ("import sys, llm2fx_lab.fx, llm2fx_lab.audio, llm2fx_lab.cli; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'IPython', 'torch', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
