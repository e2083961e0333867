"""Fetch the scripts that the built pages run in the reader's browser, so the book works offline.

Out of the box, Jupyter Book 1 pages load MathJax, require.js and the
ipywidgets HTML manager from CDNs. This script downloads pinned versions of
the three npm packages with ``npm pack`` (from the npm registry, at setup
time only) and unpacks the files the pages need into ``.web_assets/vendor``.
``scripts/build_book.py`` copies that folder into the build, and
``_config.yml`` points MathJax and myst-nb at it. The folder is not called
``_static`` because Jupyter Book 1 adds every script under ``_static`` to
every page.

Run it again after changing the pins below; it does nothing when the
folder already contains them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO_ROOT / ".web_assets"

# Package, version, and the folder or file inside the npm tarball that the pages use.
PACKAGES = {
    "mathjax": ("3.2.2", "package/es5"),
    "requirejs": ("2.3.8", "package/require.js"),
    "@jupyter-widgets/html-manager": ("1.0.15", "package/dist"),
}
# Destination of each package under vendor/; _config.yml names these paths.
DESTINATIONS = {
    "mathjax": "mathjax",
    "requirejs": "require.js",
    "@jupyter-widgets/html-manager": "@jupyter-widgets/html-manager/dist",
}
# The manager's stylesheets fetch these fonts relative to the page that shows
# a widget, some under @jupyter-widgets/html-manager/dist/ and some under
# @jupyter-widgets/. scripts/build_book.py puts a copy beside the pages.
FONT_SUFFIXES = {".woff2", ".woff", ".ttf", ".eot", ".svg"}
STAMP = "versions.json"


def pinned_versions() -> dict[str, str]:
    return {name: version for name, (version, _) in PACKAGES.items()}


def is_current(target: Path) -> bool:
    """Return True when ``target`` already contains the pinned versions in the current layout."""
    try:
        stamp = json.loads((target / STAMP).read_text(encoding="utf-8"))
        return stamp == pinned_versions() and (target / "fonts").is_dir()
    except (OSError, ValueError):
        return False


def pack(name: str, version: str, folder: Path) -> Path:
    """Download ``name@version`` as a tarball into ``folder`` with ``npm pack`` and return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "npm not found; the offline book needs it once to fetch MathJax, require.js and the ipywidgets "
            "manager. Install Node.js and npm (Debian: apt-get install npm), then run make setup again."
        )
    done = subprocess.run(
        [npm, "pack", f"{name}@{version}", "--pack-destination", str(folder), "--json", "--silent"],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"npm pack {name}@{version} failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return folder / json.loads(done.stdout)[0]["filename"]


def extract(tarball: Path, member: str, destination: Path) -> None:
    """Copy ``member`` (a file or folder of the tarball) to ``destination``."""
    with tempfile.TemporaryDirectory() as unpacked:
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
        source = Path(unpacked) / member
        if not source.exists():
            raise SystemExit(f"{tarball.name} has no {member}; update PACKAGES in {Path(__file__).name}")
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)


def fetch(target: Path) -> None:
    """Fill ``target/vendor`` with the pinned files, replacing what was there, and write the version stamp last."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "vendor").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as downloads:
        for name, (version, member) in PACKAGES.items():
            tarball = pack(name, version, Path(downloads))
            extract(tarball, member, staging / "vendor" / DESTINATIONS[name])
            print(f"fetched {name}@{version}")
    manager = staging / "vendor" / DESTINATIONS["@jupyter-widgets/html-manager"]
    fonts = staging / "fonts"
    fonts.mkdir()
    for font in manager.iterdir():
        if font.suffix in FONT_SUFFIXES:
            shutil.copy2(font, fonts / font.name)
    (staging / STAMP).write_text(json.dumps(pinned_versions(), indent=1), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET, help="folder to fill (default: .web_assets)")
    args = parser.parse_args(argv)
    if is_current(args.target):
        print(f"{args.target} already contains {', '.join(f'{n}@{v}' for n, v in pinned_versions().items())}")
        return 0
    fetch(args.target)
    print(f"Browser scripts for the offline book are in {args.target / 'vendor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
