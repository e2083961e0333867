"""A disk cache of finished training runs, so that rebuilding the book or rerunning a widget setting is fast.

An entry is keyed by a SHA-256 digest of everything that decides the run's
numbers: the function's name, its full configuration (dataclasses, numbers,
strings and tensors, hashed by content), the other inputs its caller passes
(the experiments pass the device type), the torch version,
gp_core's version and a digest of gp_core's source files. Any edit to
gp_core therefore starts a fresh set of entries instead of serving results
of older code.

Entries are written to a temporary file in the cache folder, flushed to disk
and renamed into place, so a process killed at any moment leaves either the
old state or a complete entry. An entry also stores its own key and is used
only when that key matches. An unreadable or mismatched file is ignored with
a warning, and the run's next result overwrites it.

The folder is ``$GP_CORE_CACHE_DIR/runs``, else ``~/.cache/gp-gan-book/runs``.
``GP_CORE_RUN_CACHE=off`` turns the cache off. ``python -m gp_core.run_cache
clear`` (or ``make clean-cache``) deletes every entry.

NOTE: an image folder that is read lazily is keyed by its path, image count
and class names, not its pixels. After editing its files in place, run
``make clean-cache`` or set ``GP_CORE_RUN_CACHE=off``. Data held in memory is
keyed by its tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["cache_folder", "enabled", "run_key", "load", "store", "cached", "clear", "describe"]

ENTRY_SUFFIX = ".run.pt"
_FORMAT = 1


def cache_folder() -> Path:
    """Return the folder of the run cache (not created here)."""
    root = os.environ.get("GP_CORE_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "gp-gan-book"
    return base / "runs"


def enabled() -> bool:
    """Return False when ``GP_CORE_RUN_CACHE`` is ``off``, ``0``, ``false`` or ``no``."""
    return os.environ.get("GP_CORE_RUN_CACHE", "on").strip().lower() not in {"off", "0", "false", "no"}


@lru_cache(maxsize=1)
def source_digest() -> str:
    """Return a SHA-256 digest of every Python file of the installed gp_core package."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def describe(value: Any) -> Any:
    """Return a JSON-ready description of ``value`` that changes whenever the value does.

    Tensors are described by dtype, shape and a digest of their bytes;
    dataclasses by their class name and fields; paths by their text.
    Raises TypeError for a value it cannot describe, so that no run is
    cached under an incomplete key.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"").hexdigest()
        return {"tensor": str(data.dtype), "shape": list(data.shape), "sha256": digest}
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"class": type(value).__qualname__, "fields": fields}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    raise TypeError(f"cannot key the run cache on a {type(value).__name__}; pass its settings instead")


def run_key(function: str, **inputs: Any) -> str:
    """Return the hexadecimal key of a run of ``function`` with ``inputs``."""
    from . import __version__

    description = {
        "function": function,
        "inputs": describe(inputs),
        "torch": torch.__version__,
        "gp_core": __version__,
        "source": source_digest(),
        "format": _FORMAT,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _path(function: str, key: str) -> Path:
    return cache_folder() / f"{function}-{key[:32]}{ENTRY_SUFFIX}"


def load(function: str, key: str) -> Any | None:
    """Return the value stored under ``key``, or None when there is none, the cache is off, or the entry is unusable."""
    if not enabled():
        return None
    path = _path(function, key)
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged or foreign files
        warnings.warn(f"ignoring unreadable run-cache entry {path} ({error}); the run is trained again", RuntimeWarning)
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        warnings.warn(f"ignoring run-cache entry {path}, whose key does not match; the run is trained again", RuntimeWarning)
        return None
    return entry["value"]


def store(function: str, key: str, value: Any) -> Path | None:
    """Write ``value`` under ``key`` atomically; return the file, or None when the cache is off or the write failed (with a warning)."""
    if not enabled():
        return None
    path = _path(function, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as error:
        warnings.warn(f"cannot write the run cache in {path.parent} ({error}); results are not cached", RuntimeWarning)
        return None
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save({"key": key, "function": function, "created": time.time(), "value": value}, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        warnings.warn(f"cannot write run-cache entry {path} ({error}); results are not cached", RuntimeWarning)
        return None
    return path


def cached(function: str, compute: Callable[[], Any], **inputs: Any) -> tuple[Any, bool]:
    """Return ``(value, from_cache)``: the stored value for ``inputs``, or ``compute()``, stored for next time."""
    key = run_key(function, **inputs)
    value = load(function, key)
    if value is not None:
        return value, True
    value = compute()
    store(function, key, value)
    return value, False


def clear() -> tuple[int, int]:
    """Delete every entry and leftover temporary file; return the number of files and bytes removed."""
    folder = cache_folder()
    count = size = 0
    if not folder.is_dir():
        return 0, 0
    for path in folder.iterdir():
        if path.name.endswith(ENTRY_SUFFIX) or path.name.endswith(".tmp"):
            size += path.stat().st_size
            path.unlink()
            count += 1
    return count, size


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m gp_core.run_cache clear`` or ``... info``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gp_core.run_cache", description="Manage gp_core's cache of training runs.")
    parser.add_argument("command", choices=["clear", "info"], help="clear: delete every entry; info: print the folder and its size")
    args = parser.parse_args(argv)
    folder = cache_folder()
    if args.command == "clear":
        count, size = clear()
        print(f"Deleted {count} files ({size / 2**20:.1f} MiB) from {folder}.")
    else:
        entries = list(folder.glob(f"*{ENTRY_SUFFIX}")) if folder.is_dir() else []
        size = sum(p.stat().st_size for p in entries)
        state = "on" if enabled() else "off (GP_CORE_RUN_CACHE)"
        print(f"Run cache {folder}: {len(entries)} entries, {size / 2**20:.1f} MiB; caching is {state}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
