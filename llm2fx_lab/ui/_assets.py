"""Where the front-end files live: ``llm2fx_lab/_widgets`` in a wheel, ``<repo>/widgets`` in a checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from llm2fx_lab.errors import Llm2FxError

_PACKAGE = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def widgets_dir() -> Path:
    """The folder holding the widgets' ES modules and CSS."""
    for candidate in (_PACKAGE / "_widgets", _PACKAGE.parent / "widgets"):
        if (candidate / "chain_editor.js").is_file():
            return candidate
    raise Llm2FxError(
        f"the studio's front-end files were not found in {_PACKAGE / '_widgets'} (wheel) "
        f"or {_PACKAGE.parent / 'widgets'} (source checkout); reinstall llm2fx-lab"
    )


def asset(name: str) -> str:
    """The text of one front-end file, e.g. ``asset("chain_editor.js")``."""
    path = widgets_dir() / name
    if not path.is_file():
        raise Llm2FxError(f"front-end file {name!r} is missing from {widgets_dir()}")
    return path.read_text(encoding="utf-8")


def esm(name: str, *helpers: str) -> str:
    """A widget's ES module: the shared ``dom.js`` helpers, then ``helpers``, then ``name``.

    anywidget loads each ``_esm`` string on its own (no bundler, no imports between our
    files), so shared helpers are prepended here rather than copied into every module.
    """
    return "\n".join(asset(part) for part in ("dom.js", *helpers, name))


def common_css() -> str:
    """CSS shared by every widget (colours, buttons, errors)."""
    return asset("common.css")
