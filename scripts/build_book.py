#!/usr/bin/env python3
"""Execute the book's notebooks with papermill, then build the HTML with Jupyter Book 1.x.

Layout of the build folder (default `_build`):

    source/      _config.yml, _toc.yml, the pages and their assets, and the executed
                 copies of the notebooks; Jupyter Book builds from this folder
    html/        the HTML pages
    .doctrees/   Sphinx's cache

The notebooks in the book itself are never written to, so they keep no outputs.
Exit status: 0 on success, 1 when a notebook or the HTML build fails, 2 for invalid
arguments or an invalid table of contents.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

# Per-cell time limit in seconds for each scale. The values are estimates with
# a wide margin. A paper-scale cell runs the full iteration counts of
# Thanh-Tung et al. (ICLR 2019).
DEFAULT_CELL_TIMEOUT = {"smoke": 300, "quick": 1200, "paper": 14400}

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")

# Order in which Jupyter Book tries suffixes for a toc entry written without one.
PAGE_SUFFIXES = (".ipynb", ".md", ".rst")
# The page that write_report generates from the notebooks' saved findings.
REPORT_PAGE = "report"

# Files copied next to the pages so that the pages can reference them.
ASSET_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf",
    ".bib", ".css", ".js", ".csv", ".json", ".txt",
}
SKIPPED_DIRS = {"_build", "__pycache__", ".ipynb_checkpoints"}


class BuildError(Exception):
    """A failure that ends the build, with a message for the user."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Page:
    """One page listed in _toc.yml."""

    docname: str  # the toc entry without suffix, e.g. "book/figure1"
    path: Path  # the source file, relative to the book root

    @property
    def is_notebook(self) -> bool:
        return self.path.suffix == ".ipynb"


# --- table of contents -------------------------------------------------------


def read_toc_entries(toc_path: Path) -> list[tuple[str, str]]:
    """Return the (kind, value) entries of a Jupyter Book 1.x _toc.yml in order.

    `kind` is "file" for the root and `file:` entries, and "glob" for `glob:` entries.
    `url:` entries name no file and are left out.
    """
    with toc_path.open(encoding="utf-8") as stream:
        toc = yaml.safe_load(stream)
    if not isinstance(toc, dict) or "root" not in toc:
        raise BuildError(f"{toc_path} has no 'root' entry; add the root page, e.g. 'root: book/index'.", 2)

    entries = [("file", str(toc["root"]))]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(("file", str(node["file"])))
            if "glob" in node:
                entries.append(("glob", str(node["glob"])))
            for key, value in node.items():
                if key not in ("root", "file", "glob"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in toc.items() if key != "root"})
    return entries


def resolve_page(root: Path, docname: str) -> Path:
    """Return the file of a toc entry, relative to root, the way Jupyter Book finds it."""
    candidate = Path(docname)
    if candidate.suffix in PAGE_SUFFIXES and (root / candidate).is_file():
        return candidate

    matches = [candidate.with_name(candidate.name + suffix) for suffix in PAGE_SUFFIXES]
    matches = [match for match in matches if (root / match).is_file()]
    if not matches:
        tried = ", ".join(candidate.name + suffix for suffix in PAGE_SUFFIXES)
        raise BuildError(f"_toc.yml lists '{docname}', but none of {tried} exists in {root / candidate.parent}.", 2)
    if len(matches) > 1:
        names = ", ".join(str(match) for match in matches)
        raise BuildError(
            f"_toc.yml entry '{docname}' matches several files ({names}); rename or remove all but one.", 2
        )
    return matches[0]


def list_pages(root: Path) -> list[Page]:
    """Return the pages of the book at root in table-of-contents order."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise BuildError(
            f"_toc.yml not found in {root}; pass the folder that contains _config.yml and _toc.yml with --root.", 2
        )

    pages: list[Page] = []
    seen: set[Path] = set()
    for kind, value in read_toc_entries(toc_path):
        if kind == "file":
            paths = [resolve_page(root, value)]
        else:
            paths = sorted(
                path.relative_to(root)
                for suffix in PAGE_SUFFIXES
                for path in root.glob(value + suffix)
                if ".ipynb_checkpoints" not in path.parts
            )
        for path in paths:
            if path not in seen:
                seen.add(path)
                pages.append(Page(docname=path.with_suffix("").as_posix(), path=path))
    return pages


def select_notebooks(notebooks: list[Page], names: list[str]) -> list[Page]:
    """Return the notebooks named on the command line, by docname, path or file stem."""
    selected = []
    for name in names:
        matches = [
            page
            for page in notebooks
            if name in (page.docname, page.path.as_posix(), page.path.stem, page.path.name)
        ]
        if not matches:
            known = ", ".join(page.docname for page in notebooks)
            raise BuildError(f"--only '{name}' matches no notebook in _toc.yml; the notebooks are: {known}.", 2)
        selected.extend(page for page in matches if page not in selected)
    return selected


# --- staging -----------------------------------------------------------------


def copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def stage_sources(root: Path, staging: Path, pages: list[Page]) -> None:
    """Copy the configuration, the non-notebook pages and their assets into staging."""
    for name in ("_config.yml", "_toc.yml"):
        copy_file(root / name, staging / name)

    for page in pages:
        if not page.is_notebook:
            copy_file(root / page.path, staging / page.path)

    # Assets next to the pages, e.g. images. A page at the book root takes only the
    # files beside it, because the subfolders there are the environment, the
    # package and the build output.
    page_dirs = {page.path.parent for page in pages}
    for page_dir in sorted(page_dirs):
        source_dir = root / page_dir
        pattern = "*" if page_dir == Path(".") else "**/*"
        for path in source_dir.glob(pattern):
            relative = path.relative_to(root)
            skipped = any(part in SKIPPED_DIRS or part.startswith(".") for part in relative.parts)
            if path.is_file() and path.suffix.lower() in ASSET_SUFFIXES and not skipped:
                copy_file(path, staging / relative)

    # Files that _config.yml names, such as a logo or a bibliography.
    with (root / "_config.yml").open(encoding="utf-8") as stream:
        config = yaml.safe_load(stream) or {}
    named = [config.get("logo"), (config.get("html") or {}).get("favicon")]
    bibfiles = config.get("bibtex_bibfiles") or []
    named.extend([bibfiles] if isinstance(bibfiles, str) else bibfiles)
    for name in named:
        if name and (root / name).is_file():
            copy_file(root / name, staging / name)
    if (root / "_static").is_dir():
        shutil.copytree(root / "_static", staging / "_static", dirs_exist_ok=True)


# --- notebook execution ------------------------------------------------------


def check_kernel() -> None:
    """Raise BuildError unless the 'python3' kernel runs this interpreter.

    jupyter_client replaces a bare "python" in a kernelspec with sys.executable, but a
    kernelspec with an absolute path would run the notebooks in another environment,
    where gp_core or torch may be missing or different.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        raise BuildError(
            f"No Jupyter kernel named 'python3' is installed; run `{sys.executable} -m pip install ipykernel`."
        ) from None
    program = spec.argv[0]
    if os.path.isabs(program) and Path(program).resolve() != Path(sys.executable).resolve():
        raise BuildError(
            f"The Jupyter kernel 'python3' ({spec.resource_dir}) starts {program}, not this build's Python "
            f"{sys.executable}. Remove that kernelspec or run the build with {program}."
        )


def first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip() if len(line.strip()) <= 80 else line.strip()[:77] + "..."
    return "(empty cell)"


def source_cell_index(cells, executed_index: int) -> int:
    """Map a cell index in the executed copy to the index in the source notebook.

    papermill inserts one cell tagged "injected-parameters" that the source lacks.
    """
    injected = sum(
        1
        for cell in cells[:executed_index]
        if "injected-parameters" in cell.get("metadata", {}).get("tags", [])
    )
    return executed_index - injected


def describe_failure(notebook: Page, cell_index: int, source: str, exec_count, error: str, executed: Path) -> str:
    count = f" (execution count {exec_count})" if exec_count is not None else ""
    return (
        f"Notebook {notebook.path} failed in cell {cell_index}{count}, "
        f"counting cells from 0 in {notebook.path.name}; its first line: {first_line(source)}\n"
        f"{textwrap.indent(error.strip(), '  ')}\n"
        f"The partly executed copy is kept at {executed}."
    )


def mark_interrupted_cell(executed: Path, notebook: Page, exception: BaseException) -> str:
    """Mark the cell that was running when execution stopped, and return the error message.

    papermill saves the copy when each cell starts and ends, but after a timeout or
    a dead kernel it marks the running cell as completed, so the copy alone would
    not show where execution stopped.
    """
    import nbformat

    name = type(exception).__name__
    if not executed.is_file():
        return f"Notebook {notebook.path} failed before its first cell ran: {name}: {exception}"

    nb = nbformat.read(executed, as_version=4)
    started = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    if not started:
        return f"Notebook {notebook.path} failed before its first cell ran: {name}: {exception}"

    index = started[-1]
    cell = nb.cells[index]
    cell.metadata.papermill["status"] = "failed"
    cell.metadata.papermill["exception"] = True
    cell.outputs.append(nbformat.v4.new_output("error", ename=name, evalue=str(exception), traceback=[]))
    nbformat.write(nb, executed)
    return describe_failure(
        notebook,
        source_cell_index(nb.cells, index),
        cell.source,
        cell.get("execution_count"),
        f"{name}: {exception}",
        executed,
    )


def execute_notebook(root: Path, staging: Path, notebook: Page, parameters: dict, cell_timeout: int) -> float:
    """Execute one notebook into staging with papermill and return its wall time in seconds."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    executed = staging / notebook.path
    executed.parent.mkdir(parents=True, exist_ok=True)
    executed.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        # The working directory is the copy's folder, so files that a notebook
        # writes land in the build folder and its relative paths find the assets.
        papermill.execute_notebook(
            str(root / notebook.path),
            str(executed),
            parameters=parameters,
            kernel_name="python3",
            execution_timeout=cell_timeout,
            cwd=str(executed.parent),
            progress_bar=sys.stderr.isatty(),
            request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as error:
        import nbformat

        # papermill reports the index before it inserted its two marker cells
        # into the copy on disk, so they are dropped before counting.
        cells = nbformat.read(executed, as_version=4).cells
        cells = [cell for cell in cells if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])]
        traceback = "\n".join(error.traceback)
        if traceback:
            print(re.sub(r"\x1b\[[0-9;]*m", "", traceback), file=sys.stderr)
        raise BuildError(
            describe_failure(
                notebook,
                source_cell_index(cells, error.cell_index),
                error.source,
                error.exec_count,
                f"{error.ename}: {error.evalue}",
                executed,
            )
        ) from None
    except CellTimeoutError as error:
        message = mark_interrupted_cell(executed, notebook, error)
        raise BuildError(
            f"{message}\nThe cell ran longer than --cell-timeout {cell_timeout} s; pass a larger --cell-timeout "
            "if this scale needs it."
        ) from None
    except DeadKernelError as error:
        message = mark_interrupted_cell(executed, notebook, error)
        raise BuildError(f"{message}\nThe kernel died. A common cause is running out of memory.") from None
    except RuntimeError as error:
        # nbclient raises RuntimeError when the kernel does not start or stops responding.
        raise BuildError(mark_interrupted_cell(executed, notebook, error)) from None
    hide_default_parameters(executed)
    seconds = time.perf_counter() - start
    add_build_note(executed, seconds, parameters)
    return seconds


CACHE_LINE = re.compile(r"(\d+) of (\d+) runs loaded from the run cache")


def add_build_note(executed: Path, seconds: float, parameters: dict) -> None:
    """Insert, after the page's title, a line with the build's date, wall time, parameters and run-cache use."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    printed = "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    loaded = [(int(a), int(b)) for a, b in CACHE_LINE.findall(printed)]
    cache_note = ""
    if loaded:
        cache_note = (
            f" Of its training runs, {sum(a for a, _ in loaded)} of {sum(b for _, b in loaded)} in the batched groups "
            "came from the run cache; each run's own training time is printed with it."
        )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    described = ", ".join(f"{key}={value}" for key, value in parameters.items())
    note = nbformat.v4.new_markdown_cell(
        f"*This page was executed on {stamp} in {seconds:.1f} s of wall time ({described}).{cache_note}*"
    )
    note.metadata["tags"] = ["build-note"]
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, note)
    nbformat.write(nb, executed)


WEB_ASSETS = REPO_ROOT / ".web_assets"
BINDER_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"
GITHUB_REPOSITORY = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")


def enable_launch_buttons(config_path: Path, repository_url: str) -> None:
    """Point the staged _config.yml at ``repository_url`` and turn on its Binder and Colab buttons.

    Binder builds the environment from environment.yml at the repository's
    root; Colab opens the notebook from GitHub. Both only link there: the
    build and the pages load nothing from them.
    """
    import yaml

    url = repository_url.rstrip("/")
    if not GITHUB_REPOSITORY.fullmatch(url):
        raise BuildError(
            f"--repository-url {repository_url!r} is not a GitHub repository URL; Binder and Colab launch "
            "buttons need one such as https://github.com/ORG/gp-gan-book",
            2,
        )
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config.setdefault("repository", {}).update({"url": url, "branch": "main", "path_to_book": ""})
    config.setdefault("launch_buttons", {}).update({"binderhub_url": BINDER_URL, "colab_url": COLAB_URL})
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def stage_web_assets(root: Path, staging: Path) -> None:
    """Copy the browser scripts of scripts/fetch_web_assets.py into staging when _config.yml uses them."""
    if "web_assets" not in (root / "_config.yml").read_text(encoding="utf-8"):
        return
    if not (WEB_ASSETS / "vendor").is_dir() or not (WEB_ASSETS / "fonts").is_dir():
        raise BuildError(
            f"{WEB_ASSETS / 'vendor'} is missing; _config.yml serves MathJax, require.js and the ipywidgets "
            "manager from it. Run `python scripts/fetch_web_assets.py` (make setup runs it).",
            2,
        )
    shutil.rmtree(staging / "web_assets", ignore_errors=True)
    shutil.copytree(WEB_ASSETS / "vendor", staging / "web_assets" / "vendor")
    # The widget manager's stylesheets load their fonts from paths relative
    # to the page, so each folder of notebook pages gets a copy.
    for folder in sorted({page.path.parent for page in list_pages(root) if page.is_notebook}):
        for fonts in (Path("@jupyter-widgets"), Path("@jupyter-widgets/html-manager/dist")):
            shutil.copytree(WEB_ASSETS / "fonts", staging / "web_assets" / folder / fonts, dirs_exist_ok=True)


def write_report(pages: list[Page], staging: Path, results: Path, scale: str) -> None:
    """Replace the staged copy of the report page, if the book has one, with the table built from ``results``."""
    report_pages = [page for page in pages if page.docname.split("/")[-1] == REPORT_PAGE and not page.is_notebook]
    if not report_pages:
        return
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from gp_core.report import report_markdown

    for page in report_pages:
        (staging / page.path).write_text(report_markdown(results, scale), encoding="utf-8")
        print(f"{page.path}: written from the findings in {results}", flush=True)


def hide_default_parameters(executed: Path) -> None:
    """Tag the source's ``parameters`` cell "remove-cell" when papermill injected the values used.

    The page then shows one parameters cell, with the values the run used.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    tags_of = [cell.get("metadata", {}).get("tags", []) for cell in nb.cells]
    if not any("injected-parameters" in tags for tags in tags_of):
        return
    for cell, tags in zip(nb.cells, tags_of):
        if "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, executed)


def executed_parameters(executed: Path) -> dict:
    """Return the parameters papermill recorded in an executed copy, or {} if it recorded none."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    return dict(nb.metadata.get("papermill", {}).get("parameters", {}))


def check_device(device: str) -> None:
    """Raise BuildError before any notebook runs if a CUDA device is requested but CUDA is unavailable."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise BuildError(
            f"--device {device} was requested, but torch {torch.__version__} finds no CUDA device on this "
            "machine; use --device auto or cpu (DEVICE=auto or DEVICE=cpu with make)",
            2,
        )


# --- HTML --------------------------------------------------------------------


def build_html(staging: Path, html_dir: Path, verbose: bool) -> None:
    """Build the HTML with Jupyter Book 1.x, treating warnings as errors.

    This is what `jupyter-book build STAGING -W -n --keep-going --all` runs, called
    through Jupyter Book's Python API because the command line always writes to
    `<output>/_build/html` and the pages belong in `html_dir`.
    """
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(
        staging,
        html_dir,
        use_external_toc=True,
        noconfig=True,
        path_config=staging / "_config.yml",
        confoverrides={
            "external_toc_path": (staging / "_toc.yml").as_posix(),
            "latex_individualpages": False,
            "nitpicky": True,
        },
        builder="html",
        warningiserror=True,
        keep_going=True,
        freshenv=True,
        force_all=True,
        quiet=not verbose,
    )
    if isinstance(result, Exception):
        raise BuildError(f"Jupyter Book failed: {type(result).__name__}: {result}")
    if result:
        raise BuildError(
            f"Jupyter Book reported warnings or errors (exit status {result}); the lines "
            "with WARNING or ERROR above name the page. Warnings fail the build."
        )


# --- command line ------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Execute every notebook in _toc.yml with papermill, passing scale, seed and device "
            "as parameters, and build the HTML with Jupyter Book 1.x."
        )
    )
    parser.add_argument(
        "--scale",
        choices=sorted(DEFAULT_CELL_TIMEOUT),
        default="quick",
        help="experiment size: smoke (seconds per notebook), quick (CPU, minutes per notebook) "
        "or paper (the paper's sizes, for a GPU); default: quick",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed passed to every notebook; default: 0")
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device passed to every notebook: auto, cpu, cuda or cuda:N; default: auto",
    )
    parser.add_argument(
        "--cell-timeout",
        type=int,
        metavar="SECONDS",
        help="maximum run time of one notebook cell in seconds; default: "
        + ", ".join(f"{seconds} for {scale}" for scale, seconds in DEFAULT_CELL_TIMEOUT.items()),
    )
    parser.add_argument(
        "--repository-url",
        metavar="URL",
        help="public GitHub repository of this book, e.g. https://github.com/ORG/gp-gan-book; adds Binder and "
        "Colab launch buttons that open each figure's notebook from that repository (default: no buttons)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="folder that contains _config.yml and _toc.yml; default: the repository root",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        help="output folder; default: _build in the --root folder",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NOTEBOOK",
        help="execute only these notebooks (e.g. figure1 or book/figure1.ipynb); the others keep "
        "their executed copies from an earlier build, which must exist",
    )
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's progress messages")
    args = parser.parse_args(argv)

    if not DEVICE_PATTERN.fullmatch(args.device):
        parser.error(f"invalid --device '{args.device}'; use auto, cpu, cuda or cuda:N")
    if args.cell_timeout is None:
        args.cell_timeout = DEFAULT_CELL_TIMEOUT[args.scale]
    elif args.cell_timeout <= 0:
        parser.error(f"invalid --cell-timeout {args.cell_timeout}; use a number of seconds above 0")
    args.root = args.root.resolve()
    args.build_dir = (args.build_dir or args.root / "_build").resolve()
    return args


def build(args: argparse.Namespace) -> None:
    root = args.root
    staging = args.build_dir / "source"
    html_dir = args.build_dir / "html"
    if not (root / "_config.yml").is_file():
        raise BuildError(
            f"_config.yml not found in {root}; pass the folder that contains _config.yml and _toc.yml with --root.", 2
        )

    pages = list_pages(root)
    notebooks = [page for page in pages if page.is_notebook]
    selected = select_notebooks(notebooks, args.only) if args.only else notebooks

    # A full build starts from an empty staging folder so that no page or
    # output of an earlier build survives.
    if not args.only and staging.exists():
        shutil.rmtree(staging)
    stage_sources(root, staging, pages)
    stage_web_assets(root, staging)
    if args.repository_url:
        enable_launch_buttons(staging / "_config.yml", args.repository_url)
    for page in notebooks:
        if page in selected:
            continue
        if not (staging / page.path).is_file():
            raise BuildError(
                f"{page.path} is not in --only and has no executed copy in {staging}; build once without "
                "--only (ONLY= with make), or add it to --only",
                2,
            )
        earlier_parameters = executed_parameters(staging / page.path)
        order = ["scale", "seed", "device"] + sorted(set(earlier_parameters) - {"scale", "seed", "device"})
        pairs = [f"{key}={earlier_parameters[key]}" for key in order if key in earlier_parameters]
        described = ", ".join(pairs) or "unknown parameters"
        print(f"{page.path}: not in --only, so the page keeps its earlier executed copy ({described})")

    # The kernel imports gp_core from this checkout even where it is not installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    # Notebooks save their findings here (gp_core.report); a full build starts it empty.
    results = args.build_dir / "results"
    if not args.only and results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True, exist_ok=True)
    check_kernel()
    check_device(args.device)
    parameters = {"scale": args.scale, "seed": args.seed, "device": args.device}
    print(
        f"Executing {len(selected)} notebook(s) with scale={args.scale}, seed={args.seed}, "
        f"device={args.device}, cell timeout {args.cell_timeout} s"
    )
    timings = []
    for notebook in selected:
        # Each page saves its findings afresh in its own folder (gp_core.report
        # appends within one execution of a page).
        page_results = results / notebook.path.with_suffix("").as_posix().replace("/", "__")
        shutil.rmtree(page_results, ignore_errors=True)
        os.environ["GP_CORE_RESULTS_DIR"] = str(page_results.resolve())
        print(f"{notebook.path}: running", flush=True)
        seconds = execute_notebook(root, staging, notebook, parameters, args.cell_timeout)
        timings.append((notebook, seconds))
        print(f"{notebook.path}: done in {seconds:.1f} s", flush=True)

    write_report(pages, staging, results, args.scale)

    print("Building HTML with Jupyter Book", flush=True)
    start = time.perf_counter()
    build_html(staging, html_dir, args.verbose)
    html_seconds = time.perf_counter() - start

    print("\nWall time:")
    for notebook, seconds in timings:
        print(f"  {notebook.path}: {seconds:.1f} s")
    print(f"  HTML build: {html_seconds:.1f} s")
    print(f"The book is at {html_dir / 'index.html'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except BuildError as error:
        print(f"\nBuild failed: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"\nBuild interrupted. The executed copies so far are in {args.build_dir / 'source'}.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
