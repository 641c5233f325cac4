"""Named chains kept in a user folder: save, list, load and delete presets.

A preset is one JSON file, ``NAME.json``, holding the chain in the official tool-call format
(bypassed modules kept and flagged, as :meth:`~llm2fx_lab.fx.chain.Chain.to_json` writes), so
a preset is also a chain file every other command reads. The folder is the user's data folder
(``platformdirs``: ``~/.local/share/llm2fx-lab/presets`` on Linux), or ``LLM2FX_PRESETS_DIR``
when set, or the ``folder`` a call names.

A preset is never replaced without ``overwrite=True``; a file is written whole or not at all
(written beside it, then renamed over it). Names are what a person types ("warm vocal",
"Drum room 2"): letters, digits, spaces, ``-``, ``_`` and ``.``, up to :data:`MAX_NAME_CHARS`;
two names that differ only in case are the same preset (file systems disagree on case).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from llm2fx_lab.errors import Llm2FxError, quoted
from llm2fx_lab.fx.chain import Chain, as_chain, read_chain_file

#: The environment variable that moves the preset folder (tests, shared setups).
PRESETS_DIR_ENV = "LLM2FX_PRESETS_DIR"
MAX_NAME_CHARS = 64
#: Largest preset file read (a chain of nine modules is under 2 kB).
MAX_PRESET_BYTES = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]*$")


class PresetError(Llm2FxError, ValueError):
    """A preset name that is not allowed, a preset that does not exist or exists already, or a
    preset file that cannot be read."""


def preset_dir(folder: Any = None) -> Path:
    """The preset folder: ``folder``, else ``$LLM2FX_PRESETS_DIR``, else the user's data folder."""
    if folder is not None:
        return Path(folder).expanduser()
    if os.environ.get(PRESETS_DIR_ENV):
        return Path(os.environ[PRESETS_DIR_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("llm2fx-lab", appauthor=False)) / "presets"


def check_name(name: Any) -> str:
    """``name`` stripped, or a :class:`PresetError` saying what a name may hold."""
    if not isinstance(name, str):
        raise PresetError(f"a preset name is text, got {type(name).__name__}")
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME_CHARS or not _NAME.match(clean) or clean.lower().endswith(".json"):
        raise PresetError(f"preset name {quoted(name)} is not allowed: use 1 to {MAX_NAME_CHARS} letters, digits, "
                          "spaces, '-', '_' or '.', starting with a letter or digit (no '/', no '.json')")
    return clean


def _path(name: str, folder: Any) -> Path:
    """The file of preset ``name``: an existing file whose name matches in any case, else NAME.json."""
    d = preset_dir(folder)
    clean = check_name(name)
    if d.is_dir():
        for p in d.glob("*.json"):
            if p.stem.lower() == clean.lower():
                return p
    return d / f"{clean}.json"


def list_presets(folder: Any = None) -> list[str]:
    """The names of the saved presets, sorted without regard to case (none: an empty list)."""
    d = preset_dir(folder)
    if not d.is_dir():
        return []
    names = [p.stem for p in d.glob("*.json") if p.is_file() and _NAME.match(p.stem)]
    return sorted(names, key=str.lower)


def save_preset(name: str, chain: Any, overwrite: bool = False, folder: Any = None) -> Path:
    """Save ``chain`` (a :class:`~llm2fx_lab.fx.chain.Chain` or tool-call data) as preset
    ``name``; returns the file.

    Raises
    ------
    PresetError
        A name that is not allowed, or a preset of that name (in any case) when not
        ``overwrite``.
    ToolCallError, ParameterError
        A chain that is not valid.
    """
    chain = as_chain(chain)
    path = _path(name, folder)
    if path.exists() and not overwrite:
        raise PresetError(f"preset {quoted(path.stem)} exists in {path.parent}; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(chain.to_json(include_bypassed=True, indent=2) + "\n", encoding="utf-8")
    part.replace(path)
    return path


def load_preset(name: str, folder: Any = None) -> Chain:
    """The chain saved as preset ``name`` (bypassed modules kept).

    Raises
    ------
    PresetError
        A name that is not allowed, no such preset (the message lists those there are), or a
        file that is too large or not a chain.
    """
    path = _path(name, folder)
    if not path.is_file():
        there = list_presets(folder)
        raise PresetError(f"no preset {quoted(check_name(name))} in {path.parent}; saved presets: "
                          f"{', '.join(there[:20]) + (', ...' if len(there) > 20 else '') if there else 'none'}")
    try:
        return read_chain_file(path, MAX_PRESET_BYTES, "preset file")
    except Llm2FxError as exc:
        raise PresetError(str(exc)) from None


def delete_preset(name: str, folder: Any = None) -> Path:
    """Delete preset ``name``; returns the file it was in.

    Raises
    ------
    PresetError
        A name that is not allowed, or no such preset.
    """
    path = _path(name, folder)
    if not path.is_file():
        raise PresetError(f"no preset {quoted(check_name(name))} in {path.parent} to delete")
    path.unlink()
    return path
