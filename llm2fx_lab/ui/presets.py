"""The presets and import panel: bring a chain in, keep chains by name.

- **Import**: paste tool calls in the official format (or any chain JSON) and press Import, or
  upload a ``.json`` chain file; a chain that does not validate shows its one-line error here
  and the chain being edited stays as it is.
- **Presets** (:mod:`llm2fx_lab.fx.presets`): save the current chain under a name, load or
  delete a saved one. Saving over an existing name asks first (a Replace button appears); the
  loaded or imported chain becomes the editor's chain as one undoable step, so nothing edited
  by hand is lost.
"""

from __future__ import annotations

import html
from typing import Any, Callable

import ipywidgets as widgets

from llm2fx_lab.errors import Llm2FxError
from llm2fx_lab.fx.chain import Chain
from llm2fx_lab.fx.presets import MAX_PRESET_BYTES, delete_preset, list_presets, load_preset, save_preset
from llm2fx_lab.ui._html import alert_html


class PresetPanel(widgets.VBox):
    """Import a chain and save, load or delete named presets.

    Parameters
    ----------
    get_chain : callable
        Returns the chain being edited (what Save saves).
    set_chain : callable
        Takes a chain to edit (what Load and Import give).
    folder : path, optional
        The preset folder (default: :func:`~llm2fx_lab.fx.presets.preset_dir`).
    """

    def __init__(self, get_chain: Callable[[], Chain], set_chain: Callable[[Chain], None], folder: Any = None) -> None:
        self._get, self._set, self.folder = get_chain, set_chain, folder
        self.paste = widgets.Textarea(placeholder='[{"name": "gain", "arguments": {"gain_db": -3}}]',
                                      layout=widgets.Layout(width="100%", height="4em"))
        self.paste.add_class("l2f-import-text")
        self.import_button = widgets.Button(description="Import", tooltip="Use the pasted chain")
        self.import_button.add_class("l2f-import")
        self.upload = widgets.FileUpload(accept=".json", multiple=False, description="chain file")
        self.name = widgets.Text(placeholder="preset name", layout=widgets.Layout(width="12em"))
        self.name.add_class("l2f-preset-name")
        self.save_button = widgets.Button(description="Save", tooltip="Save the current chain under this name")
        self.save_button.add_class("l2f-preset-save")
        self.replace_button = widgets.Button(description="Replace", button_style="warning",
                                             layout=widgets.Layout(display="none"))
        self.replace_button.add_class("l2f-preset-replace")
        self.menu = widgets.Dropdown(options=[], description="Presets", style={"description_width": "initial"})
        self.menu.add_class("l2f-preset-menu")
        self.load_button = widgets.Button(description="Load")
        self.load_button.add_class("l2f-preset-load")
        self.delete_button = widgets.Button(description="Delete")
        self.delete_button.add_class("l2f-preset-delete")
        self.message = widgets.HTML("")
        self.message.add_class("l2f-preset-message")
        self.import_button.on_click(lambda _b: self.import_text(self.paste.value))
        self.upload.observe(self._on_upload, "value")
        self.save_button.on_click(lambda _b: self.save(self.name.value))
        self.replace_button.on_click(lambda _b: self.save(self.name.value, overwrite=True))
        self.load_button.on_click(lambda _b: self.load(self.menu.value))
        self.delete_button.on_click(lambda _b: self.delete(self.menu.value))
        super().__init__([
            widgets.HTML("<b>Import a chain</b>"), self.paste, widgets.HBox([self.import_button, self.upload]),
            widgets.HTML("<b>Presets</b>"),
            widgets.HBox([self.name, self.save_button, self.replace_button]),
            widgets.HBox([self.menu, self.load_button, self.delete_button]), self.message])
        self.add_class("l2f-presets")
        self.refresh()

    # --- actions (what the buttons do; callable from code) -------------------------------
    def refresh(self) -> list[str]:
        """Re-read the preset folder into the menu; returns the names."""
        names = list_presets(self.folder)
        keep = self.menu.value if self.menu.value in names else (names[0] if names else None)
        self.menu.options = names
        self.menu.value = keep
        return names

    def import_text(self, text: str) -> Chain | None:
        """Validate pasted chain JSON and make it the chain being edited; None (and the error
        shown here) if it does not validate."""
        return self._take(lambda: Chain.from_json(text), "imported the pasted chain")

    def save(self, name: str, overwrite: bool = False) -> bool:
        """Save the current chain as ``name``; an existing preset is replaced only with
        ``overwrite`` (the Replace button). True if saved."""
        try:
            path = save_preset(name, self._get(), overwrite=overwrite, folder=self.folder)
        except Llm2FxError as exc:
            exists = "exists" in str(exc) and not overwrite
            self.replace_button.layout.display = "" if exists else "none"
            self._say(f"{exc}" + (" Press Replace to replace it." if exists else ""), error=not exists)
            return False
        self.replace_button.layout.display = "none"
        self.refresh()
        self.menu.value = path.stem
        self._say(f"saved preset {path.stem!r} ({path})")
        return True

    def load(self, name: str | None) -> Chain | None:
        """Make preset ``name`` the chain being edited (one undoable step)."""
        if not name:
            self._say("no preset chosen: save one first, or pick one from the menu", error=True)
            return None
        return self._take(lambda: load_preset(name, folder=self.folder), f"loaded preset {name!r}")

    def delete(self, name: str | None) -> bool:
        """Delete preset ``name`` (the chain being edited is not touched)."""
        if not name:
            self._say("no preset chosen to delete", error=True)
            return False
        try:
            delete_preset(name, folder=self.folder)
        except Llm2FxError as exc:
            self._say(str(exc), error=True)
            return False
        self.refresh()
        self._say(f"deleted preset {name!r}")
        return True

    # --- helpers ---------------------------------------------------------------------------
    def _take(self, read: Callable[[], Chain], done: str) -> Chain | None:
        try:
            chain = read()
        except Llm2FxError as exc:
            self._say(str(exc), error=True)
            return None
        self._set(chain)
        self._say(f"{done}: {' -> '.join(chain.names) or 'empty chain'}")
        return chain

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        data = bytes(item["content"])
        if len(data) > MAX_PRESET_BYTES:
            self._say(f"{item['name']} is {len(data)} bytes; a chain file is at most {MAX_PRESET_BYTES} bytes", error=True)
            return
        self._take(lambda: Chain.from_json(data), f"imported {item['name']}")

    def _say(self, text: str, error: bool = False) -> None:
        self.message.value = alert_html(text) if error else f"<span class='l2f-muted'>{html.escape(text, quote=False)}</span>"
