"""Scales, provenance lines and table helpers shared by every figure."""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np
import torch

from ..train import TrainResult, resolve_device

__all__ = [
    "SCALES",
    "check_scale",
    "check_seeds",
    "provenance",
    "settings_table",
    "summary_line",
    "sample_std",
    "mean_std",
    "seed_verdict",
]

SCALES = ("smoke", "quick", "paper")


def check_scale(scale: str) -> None:
    """Raise ValueError naming ``scale`` unless it is one of ``SCALES``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {list(SCALES)}")


def check_seeds(seeds: object) -> None:
    """Raise ValueError naming ``seeds`` unless it is a positive integer."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")


def provenance(scale: str, seed: int, device: str) -> str:
    """Return a Markdown line naming the scale, seed, device and versions that a page was built with."""
    from .. import __version__

    return (
        f"Built at scale `{scale}` with seed {seed} on `{resolve_device(device)}` "
        f"(requested: `{device}`), torch {torch.__version__}, gp_core {__version__}."
    )


def settings_table(settings_by_scale: dict[str, object]) -> str:
    """Return a Markdown table with one row per settings field and one column per scale."""
    scales = list(settings_by_scale)
    rows = ["| setting | " + " | ".join(scales) + " |", "|---|" + "---|" * len(scales)]
    first = settings_by_scale[scales[0]]
    for f in dataclasses.fields(first):
        if f.name == "scale":
            continue
        values = [getattr(settings_by_scale[s], f.name) for s in scales]
        rows.append(f"| `{f.name}` | " + " | ".join(_format_value(v) for v in values) + " |")
    return "\n".join(rows)


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def summary_line(title: str, train: TrainResult) -> str:
    """Return one progress line: iterations, seconds and iterations per second of a finished run."""
    rate = train.iterations_done / train.wall_time_s if train.wall_time_s > 0 else float("nan")
    return f"{title}: {train.iterations_done:,} iterations in {train.wall_time_s:.1f} s ({rate:,.0f} it/s)"


def sample_std(values: Iterable[float]) -> float:
    """Return the sample standard deviation (n − 1 in the denominator), NaN for fewer than two values."""
    values = np.asarray(list(values), dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def mean_std(values: Iterable[float], digits: int = 3) -> str:
    """Format values as ``mean ± std`` over seeds; non-finite values (diverged runs) are counted, not averaged."""
    values = np.asarray(list(values), dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return "diverged"
    if len(finite) == 1:
        text = f"{finite[0]:.{digits}f} (one seed)"
    else:
        text = f"{finite.mean():.{digits}f} ± {sample_std(finite):.{digits}f}"
    if len(finite) < len(values):
        text += f" ({len(values) - len(finite)} diverged)"
    return text


def seed_verdict(wins: int, total: int) -> str:
    """Return, in bold, in how many of ``total`` seeds a comparison holds."""
    if wins == total:
        return f"**holds in every seed** ({wins} of {total})"
    if wins == 0:
        return f"**does not hold in any seed** (0 of {total})"
    return f"**holds in {wins} of {total} seeds**"
