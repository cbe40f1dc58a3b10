"""Built-in data files addressed by name, or any file of the same kind by path (profiles, LLM models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from android.errors import FusegovError


def builtin_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def read_named_json(
    name_or_path: str | Path, directory: Path, kind: str, error: type[FusegovError]
) -> tuple[Any, Path]:
    """(parsed JSON, its path) for a built-in name in `directory` or a path; errors say which of the two
    went wrong and list the built-in names."""
    text = str(name_or_path)
    path = Path(text)
    if not (path.suffix == ".json" or "/" in text or path.exists()):
        path = directory / f"{text}.json"
        if not path.exists():
            raise error(
                f"unknown {kind} {text!r}: built-in {kind}s are {', '.join(builtin_names(directory))}, "
                f"or give the path of a {kind} JSON file"
            )
    if not path.exists():
        raise error(f"{kind} file {path} does not exist")
    try:
        return json.loads(path.read_text()), path
    except json.JSONDecodeError as exc:
        raise error(f"{kind} {path}: not valid JSON: {exc}") from None
