"""Background threads end before the interpreter: a process whose daemon thread is still
inside C++ at exit aborts ("terminate called without an active exception", exit 134)."""

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from llm2fx_lab import threads

ROOT = Path(__file__).resolve().parents[1]

#: A thread that renders through pedalboard (C++, GIL released) until told to stop.
RENDERING = """
import threading, time
import numpy as np
import pedalboard
board = pedalboard.Pedalboard([pedalboard.Reverb(), pedalboard.Compressor()])
x = np.random.default_rng(0).standard_normal((2, 44100 * 2)).astype(np.float32)
stop = threading.Event()
def work():
    while not stop.is_set():
        board(x, 44100)
"""


def run_script(body: str, timeout_seconds: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=timeout_seconds, cwd=ROOT)


def test_a_bare_daemon_thread_in_cpp_at_exit_aborts_the_process():
    # what the lab's threads are protected from: if this stops aborting, the rest proves nothing
    done = run_script(RENDERING + "threading.Thread(target=work, daemon=True).start()\ntime.sleep(0.3)\n")
    assert done.returncode != 0 and "terminate called" in done.stderr


def test_a_background_thread_is_stopped_and_joined_at_exit():
    done = run_script(RENDERING + """
from llm2fx_lab.threads import start_background
start_background(work, name="renders", stop=stop.set)
time.sleep(0.3)
print("main done")
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "main done" and "terminate" not in done.stderr


def test_the_studio_worker_gives_up_its_render_at_exit():
    # the studio's "latest wins" worker: a job checks superseded() between its renders
    done = run_script(RENDERING + """
from llm2fx_lab.ui.state import LatestWorker
def job(item):
    while not worker.superseded():
        board(x, 44100)
worker = LatestWorker(job, print)
worker.submit(1)
time.sleep(0.3)
""")
    assert done.returncode == 0 and "terminate" not in done.stderr, done.stderr


def test_a_planner_stream_is_stopped_at_exit():
    # the reasoning panel's planner thread, on the real analysis planner with refinement
    done = run_script("""
import time
from llm2fx_lab.examples import load_example
from llm2fx_lab.fx.render import render
from llm2fx_lab.fx.chain import Chain, tool_call
from llm2fx_lab.planners.registry import get_planner
from llm2fx_lab.ui.reasoning import ReasoningView
dry, sr = load_example("guitar")
ref = render(dry, sr, Chain([tool_call("reverb", {"room_size": 0.8}), tool_call("compressor", {"threshold_db": -30})]))
panel = ReasoningView(get_planner("analysis+refine"))
panel.run(dry, ref, sr)
time.sleep(4.0)  # inside the refinement's renders (without the exit's stop: exit 134 here)
print(panel.status)
""", timeout_seconds=300)
    assert done.returncode == 0 and "terminate" not in done.stderr, done.stderr
    assert done.stdout.strip() == "running"  # the exit came while it planned


def test_stop_all_stops_what_can_stop_and_names_what_cannot():
    # other tests' threads may be running in this process: only this test's names are checked
    stop, release = threading.Event(), threading.Event()
    threads.start_background(stop.wait, name="t-stoppable", stop=stop.set)
    threads.start_background(release.wait, name="t-stubborn")
    try:
        t0 = time.monotonic()
        left = threads.stop_all(timeout_seconds=0.3)
        assert "t-stubborn" in left and "t-stoppable" not in left
        assert time.monotonic() - t0 < 5
        assert "t-stubborn" in threads.running() and "t-stoppable" not in threads.running()
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while "t-stubborn" in threads.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "t-stubborn" not in threads.running()


def test_a_failing_stop_does_not_keep_the_others_running(capsys):
    stop = threading.Event()

    def broken():
        raise RuntimeError("no")

    threads.start_background(time.sleep, args=(0.2,), name="t-broken-stop", stop=broken)
    threads.start_background(stop.wait, name="t-fine", stop=stop.set)
    left = threads.stop_all(timeout_seconds=5)
    assert "t-broken-stop" not in left and "t-fine" not in left
    assert "stopping a background thread failed: no" in capsys.readouterr().err


def test_the_exit_names_a_thread_it_could_not_stop():
    done = run_script("""
import threading
from llm2fx_lab import threads
threads.EXIT_WAIT_SECONDS = 0.2
threads.start_background(threading.Event().wait, name="forever")
""")
    assert done.returncode == 0
    assert "1 background thread(s) still running after 0.2 s at exit (forever)" in done.stderr, done.stderr


def test_the_lab_starts_its_threads_only_through_threads_py():
    # one place owns background threads, so none can miss the exit's stop and join
    starts = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "llm2fx_lab").rglob("*.py") if p.name != "threads.py"
              for n, line in enumerate(p.read_text().splitlines(), 1) if "threading.Thread(" in line]
    assert not starts, "threads started outside llm2fx_lab/threads.py: " + ", ".join(starts)
