"""The studio in a real browser: JupyterLab + Debian Chromium driven by playwright-core.

Starts JupyterLab on 127.0.0.1 (free port, random token, temporary HOME, JUPYTER_* and preset
dirs, a copy of notebooks/01_studio.ipynb so autosave never touches the repo), then
``tests/ui/browser/drive.mjs`` runs all cells, waits for the planner to finish streaming,
uploads a dry file, drags a module card, drags a slider and checks the A/B player; and
``drive_timeline.mjs`` plays, seeks and loops on the timeline, switches sources by key and
button inside the loop, saves / loads a preset, imports a bad chain, and records from
Chromium's fake microphone. The assertions below check what changed on the Python side.
Screenshots land in ``tests/artifacts/browser/`` and ``tests/artifacts/browser-timeline/``.

Skips only when Chromium, node or playwright-core is missing (``npm ci --prefix
tests/ui/browser`` installs the latter).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = os.environ.get("LLM2FX_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"

pytestmark = pytest.mark.browser
RECORD_SECONDS = 1.5
TIMELINE_NOTEBOOK = f"""from llm2fx_lab.examples import example_chain
from llm2fx_lab.ui import Studio
studio = Studio(planner="analysis", example="drums")
studio.chain = example_chain("drums")
studio.inputs.dry.recorder.max_seconds = {RECORD_SECONDS}
studio"""


def _requirements() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if shutil.which("node") is None:
        return "node not found"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core not installed (npm ci --prefix tests/ui/browser)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter(tmp_path):
    """A JupyterLab server serving a copy of the studio notebook; killed afterwards."""
    missing = _requirements()
    if missing:
        pytest.skip(missing)
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "01_studio.ipynb", root / "notebooks" / "01_studio.ipynb")
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TIMELINE_NOTEBOOK)], metadata=kernel),
                   str(root / "notebooks" / "timeline.ipynb"))
    home = tmp_path / "home"
    config = home / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # No "Jupyter news" toast over the screenshots.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_DATA_DIR": str(home / "jupyter-data"), "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
           "IPYTHONDIR": str(home / "ipython"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "LLM2FX_PRESETS_DIR": str(home / "presets"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    port, token = _free_port(), secrets.token_hex(16)
    jupyter_bin = Path(sys.executable).with_name("jupyter")
    log = open(tmp_path / "jupyter.log", "w")
    proc = subprocess.Popen(
        [str(jupyter_bin), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.allow_root=True", "--ServerApp.port_retries=0"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-3000:])
            time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{port}/lab/tree/notebooks/01_studio.ipynb?token={token}&reset",
               "timeline_url": f"http://127.0.0.1:{port}/lab/tree/notebooks/timeline.ipynb?token={token}&reset",
               "env": env, "tmp": tmp_path}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started, by our own PID
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _drive(script: str, cfg: dict, artifacts: Path) -> dict:
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    run = subprocess.run(["node", str(BROWSER_DIR / script), json.dumps({**cfg, "artifacts": str(artifacts)})],
                         cwd=BROWSER_DIR, capture_output=True, text=True, timeout=150)
    lines = [l for l in run.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, f"{script} printed no result (rc {run.returncode}):\n{run.stderr[-4000:]}"
    res = json.loads(lines[-1][len("RESULT "):])
    (artifacts / "result.json").write_text(json.dumps(res, indent=2))
    assert "error" not in res, res["error"] + "\n" + run.stderr[-3000:]
    return res


def test_studio_in_chromium(jupyter):
    import soundfile as sf

    from llm2fx_lab.examples import load_example

    upload = jupyter["tmp"] / "my_piano.wav"
    piano, sr = load_example("piano")
    sf.write(str(upload), piano[:, : int(4 * sr)].T, int(sr), subtype="PCM_16")
    res = _drive("drive.mjs", {"url": jupyter["url"], "upload": str(upload), "chromium": CHROMIUM,
                               "profile": str(jupyter["tmp"] / "chromium-profile")}, ARTIFACTS)

    # The planner streamed, grouped by step, with tool-call cards, and finished.
    assert res["after_plan"]["status"] == "done"
    assert res["stream"]["steps"] and res["stream"]["calls"]
    assert "tokens/s" in res["stream"]["stats"]
    planned = res["after_plan"]["names"]
    assert planned and res["cards_after_plan"] == planned

    # The upload replaced the dry clip and the render changed with it.
    assert res["after_upload"]["dry"] == "my_piano.wav" and "4.0 s" in res["dry_info"]
    assert res["after_upload"]["render_sha"] != res["after_plan"]["render_sha"]

    # The drag moved the last module to the front, in Python too, and re-rendered.
    assert res["after_drag"]["names"][0] == res["dragged"] == planned[-1]
    assert sorted(res["after_drag"]["names"]) == sorted(planned)
    assert res["after_drag"]["render_sha"] != res["after_upload"]["render_sha"] or len(planned) == 1

    # The slider changed the parameter in Python, the audio, and the plot redrew.
    module, param = res["slider"]["module"], res["slider"]["param"]
    value = lambda st: next(c["arguments"][param] for c in st["chain"] if c["name"] == module)  # noqa: E731
    # The thumb followed the mouse the whole way (it stalls if a parent is HTML5-draggable), and
    # Python's value is where the thumb ended, through the toolset's lin/log mapping.
    from llm2fx_lab.fx.spec import module as module_spec

    assert abs(res["slider"]["end"] - res["slider"]["start"]) > 200, res["slider"]
    spec = module_spec(module).param(param)
    assert abs(spec.normalize(value(res["after_slider"])) - res["slider"]["end"] / 1000) < 0.02
    assert value(res["after_slider"]) != value(res["after_drag"])
    assert res["after_slider"]["render_sha"] != res["after_drag"]["render_sha"]
    assert res["after_slider"]["renders"] > res["after_drag"]["renders"]
    assert res["plot_redrawn"]
    assert res["player_src_loaded"]
    # The planner menu lists the registry's planners; picking the embedded model re-planned with it.
    assert res["menu_options"][0].startswith("analysis") and any(o.startswith("mini:") for o in res["menu_options"])
    assert res["picked"] == {"planner": "mini", "menu": "mini", "error": ""}
    assert res["after_pick"]["planner_name"] == "mini" and res["after_pick"]["status"] == "done"
    assert "tokens/s" in res["status_after_pick"]
    assert sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert not [e for e in res["console_errors"] if "l2f" in e or "anywidget" in e.lower()], res["console_errors"]
    assert np.isfinite(res["after_slider"]["edit_ms"])


def _in_loop(samples: list[dict], loop: list[float], slack: float = 0.35) -> bool:
    return all(loop[0] - 0.05 <= s["time"] <= loop[1] + slack for s in samples if not s["paused"])


def _wrapped(samples: list[dict]) -> bool:
    return any(b["time"] < a["time"] - 0.3 for a, b in zip(samples, samples[1:]))


def test_timeline_presets_and_microphone_in_chromium(jupyter):
    res = _drive("drive_timeline.mjs", {"url": jupyter["timeline_url"], "chromium": CHROMIUM,
                                        "profile": str(jupyter["tmp"] / "chromium-profile-2")},
                 ARTIFACTS.with_name("browser-timeline"))
    duration = res["timeline_meta"]["seconds"]

    # Space played the render; the playhead moved with the audio while playing, and stopped on pause.
    playing = res["playing"]
    assert all(not s["paused"] for s in playing) and playing[-1]["time"] > playing[0]["time"] + 0.3, playing
    assert all(abs(s["position"] - s["time"]) < 0.3 for s in playing), playing
    assert res["after_pause"]["paused"]

    # A click at 75 % of the timeline moved the player there, and Python knows (previews centre on it).
    click = res["after_click"]
    assert abs(click["time"] - 0.75 * duration) < 0.25, (click, duration)
    assert abs(res["position_in_python"] - click["time"]) < 0.1
    assert res["preview_center"] == res["position_in_python"]
    assert abs(res["after_left"]["time"] - (click["time"] - 1.0)) < 0.15, res["after_left"]

    # The dragged loop region, and playback wrapping inside it on the render, the reference (key 2) and dry.
    loop = res["loop"]
    assert abs(loop[0] - 0.2 * duration) < 0.25 and abs(loop[1] - 0.4 * duration) < 0.25, (loop, duration)
    for name in ("loop_render", "loop_reference", "loop_dry"):
        assert _in_loop(res[name], loop), (name, res[name], loop)
        assert any(not s["paused"] for s in res[name]), name
    assert _wrapped(res["loop_render"] + res["loop_reference"] + res["loop_dry"])
    assert res["pressed_after_2"] == "reference" and res["pressed_after_dry"] == "dry"
    assert res["loop_after"] == [loop, "dry"]
    assert res["after_keys"] == ["render", "difference"]
    assert res["loop_cleared"] == []

    # The preset came back exactly; a bad import showed its error and changed nothing.
    assert "my drums" in res["preset_options"]
    assert res["changed_chain"] != res["saved_chain"]
    assert res["loaded_chain"] == res["saved_chain"]
    assert "low_gain_db" in res["bad_import_message"] and "99" in res["bad_import_message"]
    assert res["chain_after_bad_import"] == res["loaded_chain"]

    # The fake microphone filled the dry slot with a recording of the limit's length, and it rendered.
    rec = res["recorded"]
    assert rec["source"].startswith("microphone recording") and not rec["error"], rec
    assert abs(rec["seconds"] - RECORD_SECONDS) < 0.4, rec
    assert rec["peak"] > 0.01 and rec["start_ms"] is not None
    assert abs(rec["render_seconds"] - rec["seconds"] - 1.0) < 0.05   # the render follows the new dry clip (+1 s tail)
    assert "denied access to the microphone" in res["denied_message"]
    assert res["denied_python"] == res["denied_message"]
    assert not [e for e in res["console_errors"] if "l2f" in e or "anywidget" in e.lower()], res["console_errors"]
