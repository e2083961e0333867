"""The reproduction report: every checked claim of the paper, with our measurement and a verdict.

Each figure notebook computes its findings, Markdown lines that end with a
seed count such as ``**holds in 2 of 3 seeds**``, and passes them to
``save_findings``. That writes them, with the scale and versions, as JSON in
the folder named by ``GP_CORE_RESULTS_DIR`` (``make book`` sets it to one
sub-folder of ``_build/results`` per page). After the notebooks ran, the build calls
``report_markdown`` to turn every saved file into one table.

A verdict follows from the seed count alone: *reproduced* when the
comparison holds in every seed, *partly* in some, *not reproduced* in none.
A figure with no saved findings is listed as *not run at this scale*.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

__all__ = ["FIGURES", "Claim", "claims_from_findings", "save_findings", "load_results", "report_markdown"]


@dataclass(frozen=True)
class FigureClaim:
    """What one figure of Thanh-Tung et al. (ICLR 2019) claims, reduced to one sentence per field."""

    title: str
    measure: str
    paper: str


FIGURES: dict[int, FigureClaim] = {
    1: FigureClaim(
        "discriminators on two fixed Gaussian sample sets",
        "mean |D − D*| on a grid, against the optimal D* known in closed form",
        "0-GP's D is smoother and closer to D* than no penalty's and 1-GP's; more samples help the unpenalised D",
    ),
    2: FigureClaim(
        "gradient fields of GANs on 8 Gaussians",
        "modes covered (3 std), sliced W1 to the target",
        "0-GP (with or without TTUR) covers all 8 modes; no penalty, 1-GP and 0-GP-sample collapse or oscillate",
    ),
    5: FigureClaim(
        "GAN-0-GP with λ = 100 through training on 8 Gaussians",
        "modes covered (3 std), sliced W1 to the target",
        "GAN-0-GP spreads over and converges to all 8 modes",
    ),
    6: FigureClaim(
        "every penalty on the swiss roll, scaled up and with Adam",
        "sliced W1 divided by the roll's scale",
        "1-GP learns the default roll with a bad gradient field, but fails when the roll is scaled up or the optimiser changes",
    ),
    3: FigureClaim(
        "MNIST early in training",
        "digit classifier score (Inception score with a digit classifier); Stacked MNIST modes (of 1,000) counted with it",
        "0-GP gives recognisable, varied digits at iteration 1,000 where the other penalties do not",
    ),
    7: FigureClaim(
        "MNIST after training, Adam β = (0.5, 0.9)",
        "classifier score, memorisation ratio, D's share above 0.5 on training and held-out digits",
        "0-GP gives varied digits; 0-GP-sample memorises training digits and its D does not generalise",
    ),
    8: FigureClaim(
        "MNIST with Adam β = (0.9, 0.99)",
        "classifier score, memorisation ratio, D's share above 0.5 on training and held-out digits",
        "0-GP-sample degrades with more momentum; 0-GP still gives varied digits",
    ),
    9: FigureClaim(
        "latent interpolation on MNIST",
        "largest step ÷ mean step along a line in z",
        "0-GP interpolates smoothly between modes; 0-GP-sample jumps",
    ),
    4: FigureClaim(
        "Inception score of residual GANs (ImageNet in the paper)",
        "Inception score (digit classifier at quick scale)",
        "GAN-0-GP trains as well as or better than GAN-0-GP-sample and WGAN-GP",
    ),
    10: FigureClaim(
        "samples of GAN-0-GP (ImageNet in the paper)",
        "Inception score along the run (digit classifier at quick scale)",
        "GAN-0-GP produces varied, recognisable ImageNet samples",
    ),
}

VERDICT = re.compile(
    r"\*\*(?:holds in every seed\*\* \((?P<all>\d+) of (?P<all_total>\d+)\)"
    r"|does not hold in any seed\*\* \(0 of (?P<none_total>\d+)\)"
    r"|holds in (?P<some>\d+) of (?P<some_total>\d+) seeds\*\*)"
)


@dataclass(frozen=True)
class Claim:
    """One checked comparison: the sentence, our numbers, the count of seeds where it is true, and the verdict."""

    figure: int
    claim: str
    ours: str
    holds: int
    seeds: int
    verdict: str


def _verdict(holds: int, seeds: int) -> str:
    if holds == seeds:
        return "reproduced"
    return "not reproduced" if holds == 0 else "partly"


def claims_from_findings(figure: int, findings: str) -> list[Claim]:
    """Return one Claim per findings line that ends with a seed count; other lines are context and are skipped."""
    claims = []
    for line in findings.splitlines():
        match = VERDICT.search(line)
        if match is None:
            continue
        if match.group("all") is not None:
            holds, seeds = int(match.group("all")), int(match.group("all_total"))
        elif match.group("none_total") is not None:
            holds, seeds = 0, int(match.group("none_total"))
        else:
            holds, seeds = int(match.group("some")), int(match.group("some_total"))
        text = line[: match.start()].lstrip("- ").rstrip(": ").strip()
        numbers = re.search(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)$", text)
        if numbers:
            sentence, ours = text[: numbers.start()].rstrip(" ,"), numbers.group(1)
        elif ": " in text:
            # "claim: numbers", the form Figure 1's findings use.
            sentence, ours = text.rsplit(": ", 1)
        else:
            sentence, ours = text, ""
        claims.append(Claim(figure, sentence, ours, holds, seeds, _verdict(holds, seeds)))
    return claims


def save_findings(figure: int, scale: str, findings: str, folder: str | os.PathLike[str] | None = None) -> Path | None:
    """Write the figure's claims as JSON into ``folder`` (default ``$GP_CORE_RESULTS_DIR``); return the file.

    Returns None, writing nothing, when neither names a folder, as when a
    reader runs a notebook by hand. The file is written atomically.
    """
    from . import __version__

    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; choose one of {sorted(FIGURES)}")
    folder = folder if folder is not None else os.environ.get("GP_CORE_RESULTS_DIR")
    if not folder:
        return None
    path = Path(folder) / f"figure{figure}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = load_results(path.parent).get(figure)
    claims = [asdict(c) for c in claims_from_findings(figure, findings)]
    # Several cells of one page append to its file; scripts/build_book.py
    # deletes the file before it executes the page.
    if existing is not None and existing["scale"] == scale:
        claims = existing["claims"] + claims
    payload = {"figure": figure, "scale": scale, "gp_core": __version__, "torch": torch.__version__, "claims": claims}
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=1, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_results(folder: str | os.PathLike[str]) -> dict[int, dict]:
    """Return the saved findings in ``folder`` and its sub-folders by figure number; unreadable files are skipped."""
    results = {}
    for path in sorted(Path(folder).rglob("figure*.json")):
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            results[int(payload["figure"])] = payload
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return results


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(folder: str | os.PathLike[str], scale: str) -> str:
    """Return the report page: a summary count and one table row per claim, in the book's figure order."""
    results = load_results(folder)
    rows = []
    counts = {"reproduced": 0, "partly": 0, "not reproduced": 0, "figures not run at this scale": 0}
    for figure, described in FIGURES.items():
        saved = results.get(figure)
        if saved is None or saved["scale"] != scale:
            counts["figures not run at this scale"] += 1
            rows.append(
                f"| {figure} | {_cell(described.title)} | {_cell(described.measure)} | {_cell(described.paper)} "
                "| – | not run at this scale |"
            )
            continue
        if not saved["claims"]:
            rows.append(
                f"| {figure} | {_cell(described.title)}: no comparison with a seed count | {_cell(described.measure)} "
                f"| {_cell(described.paper)} | see the page | – |"
            )
        for claim in saved["claims"]:
            counts[claim["verdict"]] += 1
            ours = f"{claim['ours']}; holds in {claim['holds']} of {claim['seeds']} seeds".lstrip("; ")
            rows.append(
                f"| {figure} | {_cell(claim['claim'])} | {_cell(described.measure)} | {_cell(described.paper)} "
                f"| {_cell(ours)} | **{claim['verdict']}** |"
            )
    summary = ", ".join(f"{value} {key}" for key, value in counts.items() if value)
    header = [
        "# Reproduction report",
        "",
        f"This page is generated by the book's build from the findings that each figure's notebook computed "
        f"and saved in this build, at scale `{scale}`. It is not written by hand. One row per checked claim: "
        f"{summary}.",
        "",
        "A verdict counts seeds: **reproduced** when the comparison holds in every seed, **partly** in some, "
        "**not reproduced** in none. The paper's result is what its figure and caption show. 'Ours' gives the "
        "numbers behind the check (mean ± std over seeds where the notebook measured one) and the seed count. "
        "A verdict is about the row's claim, which may be narrower than the paper's result (Figure 10 checks "
        "only that the score rises). `quick` runs are far shorter and smaller than the paper's, so a claim "
        "that is not reproduced here may still hold at `paper` scale: each figure's page says what its scale "
        "can and cannot show.",
        "",
        "| figure | claim | measure | paper's result | ours | verdict |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows) + "\n"
