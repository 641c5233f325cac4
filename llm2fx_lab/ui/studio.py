"""The studio: audio input, reasoning, chain editor, player and plots, composed.

Each part is an independent widget (usable alone); this module only wires them together:

- new audio -> new stage cache, player sources, plots, planner inputs;
- a chain edit -> a background "latest wins" worker (slider drags coalesce) that renders in
  two phases: phase 1 renders only a short preview window (``PREVIEW_WINDOW_SECONDS`` around
  the middle of the clip, after ``PREVIEW_PREROLL_SECONDS`` of pre-roll so dynamics and
  reverb/delay state is realistic) from the cached stage before the edited module, and
  updates the render spectrum (an estimate, drawn dotted as "render (preview)"), the EQ
  curve and the timeline's columns under the window (outlined "preview"); the window is
  centred on the player's playhead once the user has played or sought; phase 2, after a
  short debounce and only if no newer edit came, renders the full
  clip incrementally through the stage cache (abandoned between modules when a newer edit
  arrives) and replaces the preview: exact spectrum, waveform, gain reduction, player
  render source (bytes sent lazily), status line;
- the planner menu (the registry's :func:`~llm2fx_lab.planners.registry.planner_choices`, with
  a "+ refine" box and a style switch, "the reference is a different recording") -> the
  planner the reasoning view runs next; a pair that does not seem to hold the same recording
  (:func:`~llm2fx_lab.analysis.style.content_match`) shows a note offering the switch;
- the planner's final chain -> the editor's estimate (undoable, resettable);
- the presets and import panel (:class:`~llm2fx_lab.ui.presets.PresetPanel`) -> the editor's
  chain, one undoable step;
- undoing a conversation turn -> the chain from before that turn.
"""

from __future__ import annotations

import html
import importlib
import os
import time
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from llm2fx_lab.analysis.style import content_match
from llm2fx_lab.errors import Llm2FxError, PlannerError
from llm2fx_lab.events import Final
from llm2fx_lab.fx.chain import Chain, as_chain
from llm2fx_lab.planners.refine import Refined
from llm2fx_lab.planners.registry import REFINE_SUFFIX, default_planner, get_planner, planner_choices
from llm2fx_lab.planners.style import Styled
from llm2fx_lab.ui._html import alert_html
from llm2fx_lab.ui.audio_input import AudioInput
from llm2fx_lab.ui.chain_editor import ChainEditor
from llm2fx_lab.ui.listening import SHORTCUTS, Player
from llm2fx_lab.ui.plots import PlotsView
from llm2fx_lab.ui.presets import PresetPanel
from llm2fx_lab.ui.reasoning import ReasoningView, Turn
from llm2fx_lab.ui.state import (
    DEFAULT_TAIL_SECONDS,
    PREVIEW_PREROLL_SECONDS,
    PREVIEW_WINDOW_SECONDS,
    LatestWorker,
    PreviewResult,
    RenderCancelled,
    RenderResult,
    StageCache,
    preview_window,
)

#: The planner menu's entry that opens the endpoint fields (:meth:`Studio.pick_endpoint`).
ENDPOINT_LABEL = "a chat LLM at an OpenAI-compatible endpoint…"
#: Seconds phase 2 (the full render) waits after a preview for a newer edit (slider drags).
FULL_RENDER_DEBOUNCE_SECONDS = 0.1


def resolve_planner(planner: Any = None) -> Any:
    """The planner object for ``planner`` (an object, a registry name, or None for the default).

    ``None`` reads the ``LLM2FX_PLANNER`` environment variable, then takes
    :func:`~llm2fx_lab.planners.default_planner`. A name ``"py:module:attr"`` imports ``attr``
    from ``module`` (a planner of your own) and calls it if it is a class or function.
    """
    if planner is None:
        planner = os.environ.get("LLM2FX_PLANNER") or None
    if planner is None:
        return default_planner()
    if isinstance(planner, str):
        if planner.startswith("py:"):
            module_name, _, attr = planner[3:].partition(":")
            obj = getattr(importlib.import_module(module_name), attr)
            return obj() if callable(obj) else obj
        return get_planner(planner)
    return planner


def _backend_options() -> list[tuple[str, tuple[str, str]]]:
    options = [("CPU · pedalboard (reference)", ("cpu", "cpu")), ("torch · CPU", ("torch", "cpu"))]
    if torch.cuda.is_available():
        options.append((f"torch · GPU ({torch.cuda.get_device_name(0)})", ("torch", "cuda")))
    return options


#: Mouse gestures listed in the help next to the keyboard shortcuts (:data:`~llm2fx_lab.ui.listening.SHORTCUTS`).
GESTURES = (
    ("click the timeline", "seek there"),
    ("drag on the timeline", "loop that region (kept when switching dry / reference / render)"),
    ("drag a module card, or Alt+Up/Down", "reorder the chain"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo a chain edit"),
)
_KEY_NAMES = {" ": "Space", "ArrowLeft": "←", "ArrowRight": "→", "Shift+ArrowLeft": "Shift+←",
              "Shift+ArrowRight": "Shift+→", "Escape": "Esc"}


def help_html() -> str:
    """The studio's help: keyboard shortcuts (from the player's table) and mouse gestures."""
    keys = "".join(f"<tr><td><kbd>{html.escape(_KEY_NAMES.get(k, k.upper() if len(k) == 1 else k))}</kbd></td>"
                   f"<td>{html.escape(what)}</td></tr>" for k, _action, what in SHORTCUTS)
    mouse = "".join(f"<tr><td>{html.escape(g)}</td><td>{html.escape(what)}</td></tr>" for g, what in GESTURES)
    return ("<details class='l2f-help'><summary>Help: keyboard and mouse</summary>"
            "<p style='margin:4px 0'>The keys work anywhere in the studio except while typing in a text box "
            "(click a bare part of the studio first).</p>"
            f"<table>{keys}{mouse}</table></details>")


def _wrapped(planner: Any, refine: bool, style: bool) -> Any:
    """``planner`` in style mode, refined, or as it is."""
    return Styled(planner) if style else Refined(planner) if refine else planner


class Studio(widgets.VBox):
    """Upload or pick audio, watch the planner reason, edit the chain, listen and look.

    Parameters
    ----------
    planner : planner object, registry name or None
        See :func:`resolve_planner`. The planner menu shows it: a registry name (or the
        default) selects its entry and the "+ refine" box; any other planner is listed as
        "custom". Picking another entry builds that planner (:meth:`pick_planner`).
    example : str, optional
        A bundled example pair to load at once (``"drums"``, ``"bass"``...).
    tail_seconds : float
        Seconds of zeros rendered after the dry clip so reverb and delay tails are heard.
    preview : bool
        Two-phase edits (see the module docstring): a fast preview of the spectrum first,
        then the full render. False renders every edit in full at once.

    Attributes
    ----------
    previewing : bool
        True while the plotted render spectrum is a phase-1 estimate.
    preview_center_seconds : float or None
        Where the preview window is centred (None: the middle of the clip).
    timings : dict
        ``perf_counter()`` when the last ``"preview"`` and ``"full"`` phases finished their
        trait updates (benchmarks).

    Examples
    --------
    >>> studio = Studio(example="drums")          # doctest: +SKIP
    >>> studio.plan()                             # starts the planner in a thread  # doctest: +SKIP
    >>> studio.chain                              # the chain being edited          # doctest: +SKIP
    """

    def __init__(self, planner: Any = None, example: str | None = None,
                 tail_seconds: float = DEFAULT_TAIL_SECONDS, preview: bool = True) -> None:
        self.tail_seconds = tail_seconds
        self.preview = preview
        self.preview_window_seconds = PREVIEW_WINDOW_SECONDS
        self.preview_preroll_seconds = PREVIEW_PREROLL_SECONDS
        self.preview_center_seconds: float | None = None
        self.debounce_seconds = FULL_RENDER_DEBOUNCE_SECONDS
        self.previewing = False
        self.last_preview: PreviewResult | None = None
        self.previews = 0
        self.timings: dict[str, float] = {}
        self._render_callbacks: list[Any] = []
        self.inputs = AudioInput()
        self.reasoning = ReasoningView(resolve_planner(planner))
        self.planner_menu = widgets.Dropdown(description="Planner", style={"description_width": "initial"},
                                             layout=widgets.Layout(width="auto", max_width="100%"))
        self.planner_menu.add_class("l2f-planner-menu")
        self.refine_box = widgets.Checkbox(value=False, description="+ refine", indent=False,
                                           tooltip="Refine the planner's chain by rendering (a few seconds more)",
                                           layout=widgets.Layout(width="auto"))
        self.refine_box.add_class("l2f-planner-refine")
        self.style_box = widgets.Checkbox(value=False, description="the reference is a different recording",
                                          indent=False, layout=widgets.Layout(width="auto"),
                                          tooltip="Style mode: make the dry track sound like the reference (level, "
                                                  "dynamics, width, balance, decay, tone) instead of undoing a chain")
        self.style_box.add_class("l2f-planner-style")
        self.content_note = widgets.HTML("")
        self.content_note.add_class("l2f-content-note")
        self.planner_error = widgets.HTML("")
        self.endpoint_url = widgets.Text(placeholder="http://localhost:11434/v1", description="URL",
                                         style={"description_width": "4em"}, layout=widgets.Layout(width="auto"))
        self.endpoint_model = widgets.Text(placeholder="qwen3:8b", description="Model",
                                           style={"description_width": "4em"}, layout=widgets.Layout(width="auto"))
        self.endpoint_key_env = widgets.Text(
            placeholder="OPENAI_API_KEY (optional)", description="Key from $", style={"description_width": "6em"},
            tooltip="The name of the environment variable that holds the key: the key itself is never typed here, "
                    "shown, saved or logged", layout=widgets.Layout(width="auto"))
        self.endpoint_audio = widgets.Dropdown(
            options=[("measurements only", "none"), ("audio inline (audio-capable models)", "inline"),
                     ("audio uploaded once (llm2fx serve)", "upload")], value="none", description="Audio",
            style={"description_width": "4em"}, layout=widgets.Layout(width="auto"),
            tooltip="Whether the endpoint gets the clips too: inline as input_audio, as audio LLMs take them, or "
                    "uploaded once and named by id, as llm2fx serve takes them (faster)")
        self.endpoint_use = widgets.Button(description="Use this endpoint", button_style="primary")
        self.endpoint_use.on_click(lambda _b: self._on_endpoint())
        self.endpoint_box = widgets.VBox([self.endpoint_url, self.endpoint_model, self.endpoint_key_env,
                                          widgets.HBox([self.endpoint_audio, self.endpoint_use])],
                                         layout=widgets.Layout(display="none"))
        self.endpoint_box.add_class("l2f-endpoint")
        self._choices = {c.key: c for c in planner_choices()}
        self._custom: Any = None          # a planner the menu did not build (its base, without refinement or style)
        self._menu_busy = False
        self._show_planner(planner, self.reasoning.planner)
        self.editor = ChainEditor()
        # a loaded or imported chain is one undoable editor step: the hand edits before it stay reachable
        self.presets = PresetPanel(lambda: self.editor.value, lambda chain: setattr(self.editor, "value", chain))
        self.player = Player()
        self.player.observe(self._on_position, "position_seconds")
        self.plots = PlotsView()
        self.backend = widgets.Dropdown(options=_backend_options(), description="Render on",
                                        style={"description_width": "initial"})
        self.backend.add_class("l2f-backend")
        self.status = widgets.HTML("")
        self.status.add_class("l2f-render-status")
        self.error = widgets.HTML("")
        self.cache: StageCache | None = None
        self.last_render: RenderResult | None = None
        self.renders = 0
        self.edit_seconds = 0.0    # last render + player + plots update, seconds (benchmarked)
        self._worker = LatestWorker(self._render_job, self._render_failed)

        self.inputs.on_change(self._on_audio)
        self.editor.on_change(lambda chain, kind: self._worker.submit(chain))
        self.reasoning.set_inputs(None, None, 44100.0, current_chain=lambda: self.editor.value)
        self.reasoning.on_final(self._on_final)
        self.reasoning.on_undo_turn(self._on_undo_turn)
        self.backend.observe(self._on_backend, "value")
        self.planner_menu.observe(self._on_planner_pick, "value")
        self.refine_box.observe(self._on_planner_pick, "value")
        self.style_box.observe(self._on_style_pick, "value")

        menu = widgets.HBox([self.planner_menu, self.refine_box, self.style_box],
                            layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        left = widgets.VBox([menu, self.endpoint_box, self.planner_error, self.content_note, self.reasoning,
                             self.player], layout=widgets.Layout(flex="1 1 0", min_width="320px", margin="0 16px 0 0"))
        right = widgets.VBox([self.editor, self.presets], layout=widgets.Layout(flex="1 1 0", min_width="380px"))
        self.help = widgets.HTML(help_html())
        self.help.add_class("l2f-help")
        super().__init__([
            widgets.HTML("<h3 style='margin:4px 0'>llm2fx studio</h3>"),
            self.help,
            self.inputs,
            widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row wrap", justify_content="space-between")),
            widgets.HBox([self.backend, self.status], layout=widgets.Layout(align_items="center")),
            self.error,
            self.plots,
        ])
        self.add_class("l2f-studio")
        if example:
            self.load_example(example)

    # --- public API ----------------------------------------------------------------------
    @property
    def chain(self) -> Chain:
        """The chain currently in the editor."""
        return self.editor.value

    @chain.setter
    def chain(self, chain: Any) -> None:
        self.editor.value = as_chain(chain)

    @property
    def planner(self) -> Any:
        return self.reasoning.planner

    @planner.setter
    def planner(self, planner: Any) -> None:
        self.reasoning.planner = resolve_planner(planner)
        self._show_planner(planner, self.reasoning.planner)

    def pick_planner(self, key: str, refine: bool | None = None, style: bool | None = None) -> None:
        """Switch to the menu entry ``key`` (``"analysis"``, ``"mini"``, ``"mini-guided"``...,
        see :data:`~llm2fx_lab.planners.registry.PLANNER_CHOICES`; ``"custom"`` for the planner
        given in code), refined or not, in style mode or not (None keeps the "+ refine" box or
        the style switch as it is; style mode replaces refinement).

        Raises
        ------
        PlannerError
            ``key`` is not in the menu (the message lists it), its planner cannot load, both
            refinement and style mode asked for, or the current planner is still running.
        """
        style = self.style_box.value if style is None else bool(style)
        refine = (self.refine_box.value and not style) if refine is None else bool(refine)
        if refine and style:
            raise PlannerError("style mode replaces refinement (which compares the clips moment by moment): "
                               "ask for one of them")
        allowed = list(self._choices) + (["custom"] if self._custom is not None else [])
        if key not in allowed:
            raise PlannerError(f"no planner {key!r} in the menu; allowed: {', '.join(allowed)}")
        if self.reasoning.running:
            raise PlannerError("the planner is still running: press Stop first")
        base = self._custom if key == "custom" else self._choices[key].make(False)
        self.reasoning.planner = _wrapped(base, refine, style)
        self._set_menu(key, refine, style)
        self.planner_error.value = ""

    def pick_endpoint(self, model: str, base_url: str, api_key_env: str | None = None, attach_audio: bool = False,
                      refine: bool | None = None, check: bool = True, upload_audio: bool = False) -> None:
        """Plan with a chat LLM behind an OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp,
        LM Studio, a hosted API, ``llm2fx serve``), with the lab's measurements as its tools
        (:class:`~llm2fx_lab.planners.chat.ChatPlanner`). The menu lists it as a custom entry.

        ``api_key_env`` names the environment variable holding the key (never the key itself);
        ``attach_audio`` sends the clips inline, ``upload_audio`` uploads each once per estimate
        (``llm2fx serve`` takes both; audio LLMs the first); ``check`` asks the endpoint for its
        models first, so a wrong URL or key shows at once (and a model name it does not list, as
        a note).

        Raises
        ------
        PlannerError
            A bad URL or model name, an unset key variable, an endpoint that cannot be reached
            or refuses the key, or a planner still running.
        """
        if self.reasoning.running:
            raise PlannerError("the planner is still running: press Stop first")
        planner = get_planner(f"llm:{model.strip()}@{base_url.strip()}", api_key_env=api_key_env or None,
                              attach_audio=bool(attach_audio), upload_audio=bool(upload_audio))
        served = planner.backend.check() if check else []
        self._custom = planner
        style = bool(self.style_box.value)
        refine = (self.refine_box.value and not style) if refine is None else bool(refine) and not style
        self.reasoning.planner = _wrapped(planner, refine, style)
        self._set_menu("custom", refine, style)
        # Some servers (llama.cpp) answer to any model name, so a name they do not list is a
        # note, not an error; a server that knows its models says so at the first plan.
        self.planner_error.value = "" if not served or planner.backend.model in served else alert_html(
            f"note: {planner.backend.base_url} lists {', '.join(served[:8])}{', …' if len(served) > 8 else ''}; "
            f"the model {planner.backend.model} is not among them", "l2f-note")

    def load_example(self, name: str) -> None:
        """Load a bundled example pair into the dry and reference slots."""
        self.inputs.load_example(name)

    def plan(self, instruction: str | None = None) -> None:
        """Run the planner (in a worker thread) on the loaded audio; the result lands in the editor."""
        self.reasoning.run(instruction=instruction)

    def wait(self, timeout: float | None = 120.0) -> bool:
        """Block until the planner and the renderer are idle (scripts and tests; not in callbacks)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        ok = self.reasoning.wait(timeout)
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
        return self._worker.wait(remaining) and ok

    def wait_render(self, timeout: float | None = 30.0) -> bool:
        """Block until pending renders are done."""
        return self._worker.wait(timeout)

    def on_render(self, callback: Any) -> None:
        """Call ``callback(phase, chain)`` after each phase's trait updates (``"preview"``/``"full"``)."""
        self._render_callbacks.append(callback)

    def output(self) -> np.ndarray | None:
        """The current render, ``(2, samples)`` float32, or None without dry audio."""
        return None if self.last_render is None else self.last_render.output

    # --- wiring --------------------------------------------------------------------------
    def _on_audio(self) -> None:
        dry, reference, sr = self.inputs.pair()
        sr = 44100.0 if sr is None else sr
        self.reasoning.set_inputs(dry, reference, sr)
        self.player.set_source("dry", dry, sr)
        self.player.set_source("reference", reference, sr)
        self.plots.set_audio("dry", dry, sr)
        self.plots.set_audio("reference", reference, sr)
        self._note_content(dry, reference, sr)
        self._worker.wait(30)
        if dry is None:
            self.cache, self.last_render = None, None
            self.player.set_source("render", None, sr)
            self.player.set_stages([], sr)
            self.plots.set_audio("render", None, sr)
            self.status.value = "<i>no dry clip: nothing to render (blind estimation)</i>"
            return
        backend, device = self.backend.value
        self.cache = StageCache(dry, sr, self.tail_seconds, backend, device)
        self._worker.submit(self.editor.value)

    def _on_backend(self, change: dict[str, Any]) -> None:
        if self.cache is not None:
            backend, device = change["new"]
            self._worker.wait(30)
            self.cache.set_backend(backend, device)
            self._worker.submit(self.editor.value)

    def _notify(self, phase: str, chain: Chain) -> None:
        self.timings[phase] = time.perf_counter()
        for callback in self._render_callbacks:
            callback(phase, chain)

    def _preview_job(self, cache: StageCache, chain: Chain) -> bool:
        """Phase 1: render the preview window, update the spectrum and EQ curve. True if shown."""
        previous = cache.chain
        if not self.preview or previous is None or (chain == previous and chain.names == previous.names):
            return False
        total = cache.dry_samples
        preroll = int(round(self.preview_preroll_seconds * cache.sample_rate))
        if total <= int(round(self.preview_window_seconds * cache.sample_rate)) + preroll:
            return False  # the clip is hardly longer than the preview: render it in full at once
        window = preview_window(total, cache.sample_rate, self.preview_center_seconds, self.preview_window_seconds)
        result = cache.preview(chain, window, self.preview_preroll_seconds)
        if result is None or not self.plots.set_preview(chain, result.output, result.previous, cache.sample_rate):
            return False
        self.player.show_preview(result.output, window[0], cache.sample_rate)
        self.last_preview, self.previewing = result, True
        self.previews += 1
        a, b = (t / cache.sample_rate for t in window)
        self.status.value = (
            f"<span class='l2f-muted'>preview: {result.recomputed} of {len(chain)} modules on {a:.1f}–{b:.1f} s "
            f"in {result.seconds * 1e3:.0f} ms · full render follows</span>")
        self._notify("preview", chain)
        return True

    def _render_job(self, chain: Chain) -> None:
        cache = self.cache
        if cache is None:
            return
        if self._preview_job(cache, chain) and self._worker.wait_for_newer(self.debounce_seconds):
            return  # a newer edit came during the debounce: it gets its own preview
        try:
            result = cache.render(chain, cancelled=self._worker.superseded)
        except RenderCancelled:
            return
        sr = cache.sample_rate
        t_render = time.perf_counter()
        self.player.set_stages(result.stages, sr)
        self.player.set_source("render", result.output, sr, measure=False)
        self.plots.set_render(chain, result.stages, sr)
        self.last_render = result
        self.previewing = False
        self.edit_seconds = time.perf_counter() - t_render + result.seconds
        self.renders += 1
        label = dict((v, k) for k, v in self.backend.options)[(cache.backend, cache.device)]
        total_ms = (time.perf_counter() - t_render + result.seconds) * 1e3
        self.status.value = (
            f"<span class='l2f-muted'>render #{self.renders}: {result.recomputed} of {len(chain)} modules "
            f"recomputed in {result.seconds * 1e3:.0f} ms ({total_ms:.0f} ms with plots) · {html.escape(label)}</span>")
        self.error.value = ""
        self._notify("full", chain)

    def _on_position(self, change: dict[str, Any]) -> None:
        # Previews render where the user is listening (the middle of the clip until they play or seek).
        if change["new"] is not None:
            self.preview_center_seconds = float(change["new"])

    def _render_failed(self, exc: BaseException) -> None:
        self.error.value = alert_html(f"render failed: {type(exc).__name__}: {exc}")

    def _show_planner(self, asked: Any, planner: Any) -> None:
        """Point the menu at ``planner`` (``asked`` is what the caller passed: None, a name, an object)."""
        if asked is None:
            asked = os.environ.get("LLM2FX_PLANNER") or None
        name = asked if isinstance(asked, str) else getattr(planner, "name", None) if asked is None else None
        if isinstance(name, str) and not name.startswith("py:"):
            base, refine = (name[: -len(REFINE_SUFFIX)], True) if name.endswith(REFINE_SUFFIX) else (name, False)
            if base in self._choices and not self._choices[base].options:  # a custom entry stays listed
                self._set_menu(base, refine)
                return
        refine, style = isinstance(planner, Refined), isinstance(planner, Styled)
        self._custom = planner.planner if refine or style else planner
        self._set_menu("custom" if planner is not None else None, refine, style)

    def _note_content(self, dry: Any, reference: Any, sr: float) -> None:
        """Offer style mode when the pair does not seem to hold the same recording."""
        match = None
        if dry is not None and reference is not None:
            try:
                match = content_match(dry, reference, sr)
            except Llm2FxError:
                match = None
        if match is None or match.same_content:
            self.content_note.value = ""
        else:
            self.content_note.value = alert_html(match.sentence(), "l2f-note")

    def _set_menu(self, key: str | None, refine: bool, style: bool = False) -> None:
        options = [(c.label, c.key) for c in self._choices.values()] + [(ENDPOINT_LABEL, "endpoint")]
        if self._custom is not None:
            options.insert(0, (f"custom: {getattr(self._custom, 'name', type(self._custom).__name__)}", "custom"))
        self._menu_busy = True
        try:
            self.planner_menu.options = options
            self.planner_menu.value = key
            self.refine_box.value = refine
            self.style_box.value = style
        finally:
            self._menu_busy = False
        self._menu_key = key

    def _on_planner_pick(self, change: dict[str, Any]) -> None:
        if self._menu_busy or self.planner_menu.value is None:
            return
        self.endpoint_box.layout.display = "flex" if self.planner_menu.value == "endpoint" else "none"
        if self.planner_menu.value == "endpoint":
            return  # the endpoint's fields, then "Use this endpoint"
        refine = bool(self.refine_box.value)
        try:  # the box ticked last wins: refinement and style mode exclude each other
            self.pick_planner(self.planner_menu.value, refine, bool(self.style_box.value) and not refine)
        except Llm2FxError as exc:  # show it and put the menu back on the planner still in use
            self.planner_error.value = alert_html(str(exc))
            self._set_menu(self._menu_key, isinstance(self.reasoning.planner, Refined),
                           isinstance(self.reasoning.planner, Styled))

    def _on_style_pick(self, change: dict[str, Any]) -> None:
        if self._menu_busy:
            return
        if change["new"]:  # style mode replaces refinement: the box is cleared, not contradicted
            self._menu_busy = True
            try:
                self.refine_box.value = False
            finally:
                self._menu_busy = False
        self._on_planner_pick(change)

    def _on_endpoint(self) -> None:
        try:
            self.pick_endpoint(self.endpoint_model.value, self.endpoint_url.value, self.endpoint_key_env.value.strip(),
                               attach_audio=self.endpoint_audio.value == "inline",
                               upload_audio=self.endpoint_audio.value == "upload")
        except Llm2FxError as exc:
            self.planner_error.value = alert_html(str(exc))
            return
        if not self.planner_error.value:
            self.endpoint_box.layout.display = "none"

    def _on_final(self, final: Final, turn: Turn) -> None:
        if turn.instruction and turn.chain_before is not None:  # an edit: one undoable step, Reset keeps the estimate
            if not final.stopped:
                self.editor.value = final.chain
        elif len(final.chain) or not final.stopped:
            self.editor.set_estimate(final.chain)

    def _on_undo_turn(self, turn: Turn) -> None:
        self.editor.value = turn.chain_before if turn.chain_before is not None else Chain()
