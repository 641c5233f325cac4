"""The code lints clean: ``ruff check`` (pyflakes' checks and sorted imports, set in pyproject.toml)
over the library, the tests, scripts, benchmarks and the notebooks' jupytext sources."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["llm2fx_lab", "tests", "scripts", "benchmarks", *sorted(str(p.relative_to(ROOT))
                                                               for p in (ROOT / "notebooks").glob("*.py"))]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_ruff_is_clean():
    r = ruff(*PATHS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_sees_an_unused_import_and_unsorted_imports(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import sys\nimport os\n\nprint(os.sep)\n")
    r = ruff("bad.py", cwd=tmp_path)
    assert r.returncode == 1 and "F401" in r.stdout and "I001" in r.stdout, r.stdout + r.stderr
