"""Built-in data files addressed by name, or any file of the same kind by path (profiles, LLM models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from android.errors import FusegovError

MAX_JSON_BYTES = 16 * 1024 * 1024  # profiles and model descriptions are a few kB


def builtin_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def read_named_json(
    name_or_path: str | Path, directory: Path, kind: str, error: type[FusegovError]
) -> tuple[Any, Path]:
    """(parsed JSON, its path) for a built-in name in `directory` or a path; errors say which of the two
    went wrong and list the built-in names. Files over MAX_JSON_BYTES, nested deeper than Python can
    parse, or not text are refused with the same clear error."""
    text = str(name_or_path)
    path = Path(text)
    try:
        if not (path.suffix == ".json" or "/" in text or path.exists()):
            path = directory / f"{text}.json"
            if not path.exists():
                raise error(
                    f"unknown {kind} {text[:80]!r}: built-in {kind}s are {', '.join(builtin_names(directory))}, "
                    f"or give the path of a {kind} JSON file"
                )
        if not path.exists():
            raise error(f"{kind} file {str(path)[:200]} does not exist")
        if not path.is_file():
            raise error(f"{kind} {str(path)[:200]}: not a file")
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise error(f"{kind} {path}: {size} bytes is too big for a {kind} (at most {MAX_JSON_BYTES})")
        return json.loads(path.read_bytes().decode("utf-8")), path
    except (OSError, ValueError) as exc:  # name too long, permission, embedded NUL, not UTF-8
        if isinstance(exc, json.JSONDecodeError):
            raise error(f"{kind} {path}: not valid JSON: {exc}") from None
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:120]
        raise error(f"{kind} {str(path)[:200]}: cannot read it ({detail})") from None
    except RecursionError:
        raise error(f"{kind} {path}: nested too deeply to be a {kind}") from None
