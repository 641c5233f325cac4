"""Markup the Python-side widgets share."""

from __future__ import annotations

import html


def alert_html(message: str, css_class: str | None = None) -> str:
    """An inline error for an ``ipywidgets.HTML``: ``message`` escaped, marked as an alert,
    in the theme's error colour.

    >>> alert_html("bad <file>")
    "<div role='alert' style='color: var(--jp-error-color1, #c62828)'>⚠ bad &lt;file&gt;</div>"
    """
    cls = f" class='{css_class}'" if css_class else ""
    return f"<div{cls} role='alert' style='color: var(--jp-error-color1, #c62828)'>⚠ {html.escape(message)}</div>"
