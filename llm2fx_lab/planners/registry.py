"""Planner names shared by the CLI, the benchmark and the studio.

=================  ==========================================================================
name               planner
=================  ==========================================================================
``analysis``       :class:`~llm2fx_lab.planners.analysis_planner.AnalysisPlanner`: measurement and
                   closed forms, no neural network, deterministic
``mini``           the embedded llm2fx-mini model (:class:`~llm2fx_lab.planners.model_planner.ModelPlanner`)
``model:PATH``     a model checkpoint in the local directory ``PATH``
``regression``     baseline of the paper's kind: a parameter regressor
``multitask``      baseline of the paper's kind: module classifier + parameter regressor
``llm:MODEL@URL``  a chat LLM behind an OpenAI-compatible endpoint, with the lab's measurements
                   as tools (:class:`~llm2fx_lab.planners.chat.ChatPlanner`); e.g.
                   ``llm:qwen3:8b@http://localhost:11434/v1`` (Ollama); ``api_key_env="VAR"``
                   names the environment variable holding the endpoint's key
``hf:PATH``        a chat checkpoint in the local directory ``PATH`` (transformers), same loop
=================  ==========================================================================

Any name may end in ``+refine`` (``analysis+refine``) to wrap the planner in
:class:`~llm2fx_lab.planners.refine.Refined`, or in ``+search`` (``analysis+search``): refinement
followed by the grid search (:mod:`~llm2fx_lab.planners.grid_search`). ``style=True`` puts any planner
in style mode (:class:`~llm2fx_lab.planners.style.Styled`: the reference is a different recording
whose sound the dry track should take on), as does a ``+style`` suffix (``analysis+style``, the
name ``llm2fx serve`` can serve). The studio's planner menu lists
:func:`planner_choices` (these names, with ``mini``'s presence-guided option as an entry of
its own). :func:`default_planner` is ``mini`` when its
weights are present and its own evaluation shows it at least as accurate as ``analysis``, else
``analysis``.

Each planner's module is imported when that planner is asked for, inside :func:`get_planner`:
the mini needs transformers and every other planner torch, and ``import llm2fx_lab.planners``
(the CLI, ``collect``, the event types) must not pay for either.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from llm2fx_lab.errors import PlannerError
from llm2fx_lab.events import REFINE_SUFFIX, SEARCH_SUFFIX, STYLE_SUFFIX, Planner
from llm2fx_lab.model.mini import mini_available, mini_weights_dir

#: Planner names, as the CLI and the studio list them (``model:PATH`` takes a directory).
PLANNER_NAMES: tuple[str, ...] = ("analysis", "mini", "model:PATH", "regression", "multitask", "llm:MODEL@URL",
                                  "hf:PATH")


def is_chat_planner(name: str) -> bool:
    """Whether ``name`` (``+refine`` or not) names a chat planner: ``llm:MODEL@URL`` or ``hf:PATH``."""
    return name.strip().startswith(("llm:", "hf:"))


def is_model_planner(name: str) -> bool:
    """Whether ``name`` (``+refine`` or not) names a model planner: ``mini`` or ``model:PATH``.

    >>> is_model_planner("mini+refine"), is_model_planner("model:runs/x"), is_model_planner("analysis")
    (True, True, False)
    """
    base = base_name(name)
    return base == "mini" or base.startswith("model:")


#: Refinement's time budget in a ``+search`` planner (a ``budget_seconds`` refine option
#: overrides it): with the analysis planner's 3-4 s and the grid search's 8 s, a 10 s pair stays
#: near 20 s on 2 cores (with refinement's own 15 s, pairs of 7 to 9 modules took 25 to 29 s).
SEARCH_REFINE_SECONDS = 9.0


def base_name(name: str) -> str:
    """``name`` without a ``+refine``, ``+search`` or ``+style`` suffix."""
    name = name.strip()
    for suffix in (REFINE_SUFFIX, SEARCH_SUFFIX, STYLE_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _allowed() -> str:
    return ", ".join(PLANNER_NAMES) + (f" (any of them may end in {REFINE_SUFFIX!r}, {SEARCH_SUFFIX!r} or "
                                       f"{STYLE_SUFFIX!r})")


def get_planner(name: str, **options: Any) -> Planner:
    """The planner called ``name`` (see the module docstring for the names).

    Parameters
    ----------
    name : str
        ``analysis``, ``mini``, ``model:PATH``, ``regression``, ``multitask``, a chat LLM at an
        OpenAI-compatible endpoint (``llm:MODEL@URL``) or in a local checkpoint (``hf:PATH``),
        optionally followed by ``+refine``.
    **options
        Passed to the planner's constructor; ``refine=True`` wraps it like ``+refine``;
        ``refine_options={...}`` go to :class:`~llm2fx_lab.planners.refine.Refined`;
        ``device="auto"|"cpu"|"cuda"|"cuda:N"`` is where a model planner (``mini``,
        ``model:PATH``), the ``analysis`` planner's order search and refinement run (``auto``:
        CUDA when available). Without it a model planner loads on the CPU, the order search
        renders on the CPU and refinement takes ``auto``; the baselines always run on the CPU.
        ``style=True`` wraps the planner in style mode (:class:`~llm2fx_lab.planners.style.Styled`),
        ``style_options={...}`` are :class:`~llm2fx_lab.planners.style.StyleConfig` fields.

    Raises
    ------
    PlannerError
        Unknown name (the message lists the allowed names), no weights for a model planner, or
        style mode asked for with refinement (which compares the clips moment by moment).

    Examples
    --------
    >>> get_planner("analysis").name
    'analysis'
    """
    if not isinstance(name, str) or not name.strip():
        raise PlannerError(f"planner name must be a non-empty string, got {name!r}; allowed: {_allowed()}")
    name = name.strip()
    refine = bool(options.pop("refine", False))
    refine_options = dict(options.pop("refine_options", None) or {})
    device = options.pop("device", None)
    style = bool(options.pop("style", False))
    style_options = dict(options.pop("style_options", None) or {})
    while name.endswith((STYLE_SUFFIX, REFINE_SUFFIX, SEARCH_SUFFIX)):  # in any order, each once
        if name.endswith(STYLE_SUFFIX):
            name, style = name[: -len(STYLE_SUFFIX)], True
        elif name.endswith(REFINE_SUFFIX):
            name, refine = name[: -len(REFINE_SUFFIX)], True
        else:
            name, refine = name[: -len(SEARCH_SUFFIX)], True
            refine_options["grid"] = True
            refine_options.setdefault("budget_seconds", SEARCH_REFINE_SECONDS)
    if style_options and not style:
        raise PlannerError("style_options are for style mode: pass style=True (or a name ending in +style) as well")
    if device is not None:
        from llm2fx_lab.fx.torch_render import resolve_device

        resolved = str(resolve_device(device, warn_cpu_fallback=False))  # a clear error before anything loads
        refine_options.setdefault("device", resolved)
        if name in ("analysis", "mini") or name.startswith(("model:", "hf:")):
            options.setdefault("device", resolved)
    if style and refine:
        raise PlannerError(f"style mode cannot be combined with {REFINE_SUFFIX} or {SEARCH_SUFFIX} (refinement "
                           "compares the two clips moment by moment, which style mode is there to avoid; its own "
                           f"search replaces it): pass {base_name(name)!r} with style=True")
    planner = _base_planner(name, options)
    if style:
        from llm2fx_lab.planners.style import Styled

        return Styled(planner, **style_options)
    return _refined(planner, refine_options) if refine else planner


def _refined(planner: Planner, options: dict[str, Any]) -> Planner:
    from llm2fx_lab.planners.refine import Refined

    return Refined(planner, **options)


def _base_planner(name: str, options: dict[str, Any]) -> Planner:
    if name == "analysis":
        from llm2fx_lab.planners.analysis_planner import AnalysisPlanner

        return AnalysisPlanner(**options)
    if name == "mini" or name.startswith("model:"):
        from llm2fx_lab.planners.model_planner import ModelPlanner

        if name == "mini":
            return ModelPlanner(mini_weights_dir(), name="mini", **options)
        path = name[len("model:"):]
        if not path:
            raise PlannerError("model:PATH needs a checkpoint directory after 'model:', e.g. model:runs/mini")
        return ModelPlanner(Path(path).expanduser(), name=name, **options)
    if name in ("regression", "multitask"):
        from llm2fx_lab.planners.baselines import baseline_planner

        return baseline_planner(name, **options)
    if name.startswith(("llm:", "hf:")):
        return _chat_planner(name, options)
    raise PlannerError(f"unknown planner {name!r}; allowed: {_allowed()}")


def split_endpoint(name: str) -> tuple[str, str]:
    """``llm:MODEL@URL`` -> ``(MODEL, URL)``; the model name may hold ``:`` (``qwen3:8b``).

    >>> split_endpoint("llm:qwen3:8b@http://localhost:11434/v1")
    ('qwen3:8b', 'http://localhost:11434/v1')
    """
    body = name[len("llm:"):]
    at = max(body.rfind("@http://"), body.rfind("@https://"))
    if at <= 0:
        raise PlannerError(f"a chat endpoint is named llm:MODEL@URL with an http(s) URL, e.g. "
                           f"llm:qwen3:8b@http://localhost:11434/v1; got {name!r}")
    return body[:at], body[at + 1:]


def _chat_planner(name: str, options: dict[str, Any]) -> Planner:
    from llm2fx_lab.planners.chat import ChatPlanner, OpenAIBackend, TransformersBackend

    backend_options = {k: options.pop(k) for k in ("api_key_env", "timeout_seconds", "max_tokens", "temperature",
                                                   "max_reply_chars") if k in options}
    if name.startswith("llm:"):
        model, url = split_endpoint(name)
        backend = OpenAIBackend(model, url, **backend_options)
    else:
        path = name[len("hf:"):]
        if not path:
            raise PlannerError("hf:PATH needs a checkpoint directory after 'hf:', e.g. hf:~/models/Qwen3-0.6B")
        for key in ("device", "max_new_tokens"):
            if key in options:
                backend_options[key] = options.pop(key)
        backend = TransformersBackend(path, **backend_options)
    return ChatPlanner(backend, name=name, **options)


@dataclasses.dataclass(frozen=True)
class PlannerChoice:
    """One entry of the studio's planner menu: a registry name with fixed options.

    ``key`` is the entry's name in the menu and in code (``Studio.planner = "mini-guided"`` is
    not a registry name; ``studio.pick_planner("mini-guided")`` is the way).
    """

    key: str
    label: str
    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def make(self, refine: bool = False) -> Planner:
        """The planner, named ``key`` (so its streams say ``mini-guided``, not ``mini``), wrapped
        in refinement when ``refine``."""
        planner = get_planner(self.name, **dict(self.options))
        planner.name = self.key
        if refine:
            planner = _refined(planner, {})
        return planner


#: Every entry the menu can show, in menu order; :func:`planner_choices` keeps those that load here.
PLANNER_CHOICES: tuple[PlannerChoice, ...] = (
    PlannerChoice("analysis", "analysis: measurements + small trees, no neural network", "analysis"),
    PlannerChoice("mini", "mini: the embedded llm2fx-mini model", "mini"),
    PlannerChoice("mini-guided", "mini, presence-guided (its probe picks the modules)", "mini",
                  (("presence_guide", True),)),
    PlannerChoice("regression", "regression baseline (parameters only)", "regression"),
    PlannerChoice("multitask", "multitask baseline (classifier + regressor)", "multitask"),
)


def planner_choices() -> tuple[PlannerChoice, ...]:
    """The :data:`PLANNER_CHOICES` whose weights are here: ``analysis`` always (its trees ship
    with the package), ``mini`` entries when :func:`mini_available`, a baseline when its files are."""
    from llm2fx_lab.planners.baselines import weight_paths

    def here(choice: PlannerChoice) -> bool:
        if choice.name == "mini":
            return mini_available()
        if choice.name in ("regression", "multitask"):
            return all(p.is_file() for p in weight_paths(choice.name))
        return True

    return tuple(c for c in PLANNER_CHOICES if here(c))


def mini_beats_analysis() -> bool:
    """Whether the mini checkpoint's own evaluation (``report.json`` beside the weights, written
    by ``scripts/make_mini.py``) scored at least the ``analysis`` planner's module accuracy on
    the same pairs. True when there is no report (a checkpoint placed there by hand)."""
    report = mini_weights_dir() / "report.json"
    if not report.is_file():
        return True
    try:
        results = json.loads(report.read_text())["evaluation"]["results"]

        def acc(label: str) -> float:
            return next(r["acc"] for r in results[label]["rows"]
                        if r["method"] == "prediction" and r["chain_length"] == "all")

        return acc("mini") >= acc("analysis")
    except (KeyError, StopIteration, TypeError, ValueError):
        return True


def default_planner(**options: Any) -> Planner:
    """``mini`` when its weights are present (:func:`mini_available`) and its evaluation shows it
    at least as accurate as ``analysis`` (:func:`mini_beats_analysis`), else ``analysis``.

    The shipped llm2fx-mini does not beat it yet (see its MODEL_CARD.md), so the studio and
    ``llm2fx estimate`` start with ``analysis``; ``mini`` is one pick away.
    """
    if mini_available() and mini_beats_analysis():
        try:
            return get_planner("mini", **options)
        except PlannerError:
            pass
    return get_planner("analysis", **options)
