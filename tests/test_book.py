"""End-to-end tests of scripts/build_book.py, which executes the notebooks and builds the HTML."""

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build_book.py"

# An <img> whose file Sphinx copied from the page content: matplotlib outputs and
# figures land in _images/, while theme images such as a logo stay in _static/.
CONTENT_IMAGE = re.compile(r'<img[^>]*\ssrc="[^"]*_images/[^"]+"')


def load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_build(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output_of(result: subprocess.CompletedProcess) -> str:
    return f"exit status {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def write_notebook(path: Path, *sources: str) -> None:
    """Write a notebook with a title, a parameters cell and one code cell per source."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell(f"# {path.stem}"),
        new_code_cell('scale = "quick"\nseed = 0\ndevice = "auto"', metadata={"tags": ["parameters"]}),
    ]
    nb.cells += [new_code_cell(source) for source in sources]
    nbformat.write(nb, path)


def write_book(root: Path, *notebooks: str) -> None:
    """Write a minimal book at root: its own configuration, an index page and the toc."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(
        textwrap.dedent(
            """\
            title: Test book
            only_build_toc_files: true
            execute:
              execute_notebooks: "off"
            """
        )
    )
    toc = {"format": "jb-book", "root": "index", "chapters": [{"file": name} for name in notebooks]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    (root / "index.md").write_text("# Test book\n\nA book for testing the build script.\n")


def test_config_leaves_execution_to_papermill():
    with (ROOT / "_config.yml").open(encoding="utf-8") as stream:
        config = yaml.safe_load(stream)

    assert config["execute"]["execute_notebooks"] == "off"


def test_source_notebooks_have_no_outputs():
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with_outputs = [index for index, cell in enumerate(nb.cells) if cell.get("outputs")]
        assert not with_outputs, f"{path.relative_to(ROOT)} has outputs in cells {with_outputs}; clear them"


def test_smoke_build_renders_every_page(tmp_path):
    sources = {path: path.read_bytes() for path in (ROOT / "book").rglob("*.ipynb")}
    build_dir = tmp_path / "build"

    result = run_build("--scale", "smoke", "--build-dir", str(build_dir))

    assert result.returncode == 0, output_of(result)
    pages = load_build_book().list_pages(ROOT)
    for page in pages:
        html = build_dir / "html" / f"{page.docname}.html"
        assert html.is_file(), f"{html} is missing\n{output_of(result)}"
        if page.is_notebook or page.docname == "book/index":
            assert CONTENT_IMAGE.search(html.read_text(encoding="utf-8")), f"{html} shows no image"
        if page.is_notebook:
            assert f"{page.path}: done in" in result.stdout, f"no wall time for {page.path}\n{output_of(result)}"
    for path, content in sources.items():
        assert path.read_bytes() == content, f"the build changed the source notebook {path}"


def test_failing_notebook_stops_build(tmp_path):
    root = tmp_path / "book"
    write_book(root, "broken")
    write_notebook(
        root / "broken.ipynb",
        'print("before the failure")',
        'raise ValueError("deliberate failure")',
        'print("after the failure")',
    )
    build_dir = tmp_path / "build"

    result = run_build("--root", str(root), "--build-dir", str(build_dir), "--scale", "smoke")

    executed = build_dir / "source" / "broken.ipynb"
    assert result.returncode == 1, output_of(result)
    assert "broken.ipynb failed in cell 3" in result.stderr, output_of(result)
    assert 'raise ValueError("deliberate failure")' in result.stderr, output_of(result)
    assert "ValueError: deliberate failure" in result.stderr, output_of(result)
    assert str(executed) in result.stderr, output_of(result)
    assert not (build_dir / "html").exists(), "the HTML was built although a notebook failed"

    cells = nbformat.read(executed, as_version=4).cells
    outputs = "".join(output.get("text", "") for cell in cells if cell.cell_type == "code" for output in cell.outputs)
    assert "before the failure" in outputs
    assert "after the failure" not in outputs


def test_cell_timeout_stops_build(tmp_path):
    root = tmp_path / "book"
    write_book(root, "slow")
    write_notebook(root / "slow.ipynb", "import time", "time.sleep(600)")
    build_dir = tmp_path / "build"

    result = run_build(
        "--root", str(root), "--build-dir", str(build_dir), "--scale", "smoke", "--cell-timeout", "5", timeout=300
    )

    executed = build_dir / "source" / "slow.ipynb"
    assert result.returncode == 1, output_of(result)
    assert "slow.ipynb failed in cell 3" in result.stderr, output_of(result)
    assert "time.sleep(600)" in result.stderr, output_of(result)
    assert "--cell-timeout 5 s" in result.stderr, output_of(result)
    assert str(executed) in result.stderr, output_of(result)

    cells = nbformat.read(executed, as_version=4).cells
    code_cells = [cell for cell in cells if cell.cell_type == "code"]
    errors = [output for cell in code_cells for output in cell.outputs if output.output_type == "error"]
    assert errors and errors[-1].ename == "CellTimeoutError", [error.ename for error in errors]


def test_only_executes_named_notebook(tmp_path):
    root = tmp_path / "book"
    write_book(root, "first", "second")
    write_notebook(root / "first.ipynb", 'print(f"first ran with scale={scale}")')
    write_notebook(root / "second.ipynb", 'print("second ran")')
    build_dir = tmp_path / "build"

    first_build = run_build("--root", str(root), "--build-dir", str(build_dir), "--scale", "smoke")
    assert first_build.returncode == 0, output_of(first_build)
    second_before = (build_dir / "source" / "second.ipynb").read_bytes()

    result = run_build("--root", str(root), "--build-dir", str(build_dir), "--scale", "quick", "--only", "first")

    assert result.returncode == 0, output_of(result)
    assert "first ran with scale=quick" in (build_dir / "html" / "first.html").read_text(encoding="utf-8")
    assert (build_dir / "html" / "second.html").is_file()
    assert (build_dir / "source" / "second.ipynb").read_bytes() == second_before, "second.ipynb was executed again"
    assert "second.ipynb: not in --only, so the page keeps its earlier executed copy (scale=smoke" in result.stdout, (
        output_of(result)
    )


def test_only_without_earlier_copy_is_rejected(tmp_path):
    root = tmp_path / "book"
    write_book(root, "first", "second")
    write_notebook(root / "first.ipynb", 'print("first ran")')
    write_notebook(root / "second.ipynb", 'print("second ran")')

    result = run_build("--root", str(root), "--build-dir", str(tmp_path / "build"), "--only", "first")

    assert result.returncode == 2, output_of(result)
    assert "second.ipynb is not in --only and has no executed copy" in result.stderr, output_of(result)


def test_executed_copy_shows_one_parameters_cell(tmp_path):
    root = tmp_path / "book"
    write_book(root, "first")
    write_notebook(root / "first.ipynb", 'print("first ran")')
    build_dir = tmp_path / "build"

    result = run_build("--root", str(root), "--build-dir", str(build_dir), "--scale", "smoke")

    assert result.returncode == 0, output_of(result)
    cells = nbformat.read(build_dir / "source" / "first.ipynb", as_version=4).cells
    visible_cells = [cell for cell in cells if "remove-cell" not in cell.get("metadata", {}).get("tags", [])]
    assert sum("scale =" in cell.source for cell in visible_cells) == 1
    assert 'scale = "smoke"' in "".join(cell.source for cell in visible_cells)


def test_executed_copy_states_wall_time(tmp_path):
    root = tmp_path / "book"
    write_book(root, "first")
    write_notebook(root / "first.ipynb", 'print("3 of 4 runs loaded from the run cache (they took 1.0 s to train)")')
    build_dir = tmp_path / "build"

    result = run_build("--root", str(root), "--build-dir", str(build_dir), "--scale", "smoke")

    assert result.returncode == 0, output_of(result)
    cells = nbformat.read(build_dir / "source" / "first.ipynb", as_version=4).cells
    assert cells[0].source == "# first"
    note = cells[1].source
    assert re.search(r"executed on \d{4}-\d\d-\d\d \d\d:\d\d UTC in \d+\.\d s of wall time", note), note
    assert "(scale=smoke, seed=0, device=auto)" in note
    assert "3 of 4 in the batched groups came from the run cache" in note
    html = (build_dir / "html" / "first.html").read_text(encoding="utf-8")
    assert "s of wall time" in html


def test_missing_toc_file_is_rejected(tmp_path):
    root = tmp_path / "book"
    write_book(root, "absent")

    result = run_build("--root", str(root), "--build-dir", str(tmp_path / "build"))

    assert result.returncode == 2, output_of(result)
    assert "_toc.yml lists 'absent'" in result.stderr, output_of(result)


def test_unavailable_cuda_is_rejected_before_execution(tmp_path):
    import torch

    if torch.cuda.is_available():
        return
    root = tmp_path / "book"
    write_book(root, "first")
    write_notebook(root / "first.ipynb", 'print("first ran")')

    result = run_build("--root", str(root), "--build-dir", str(tmp_path / "build"), "--device", "cuda")

    assert result.returncode == 2, output_of(result)
    assert "--device cuda was requested" in result.stderr, output_of(result)
    assert "first.ipynb: running" not in result.stdout, output_of(result)


def test_invalid_device_is_rejected(tmp_path):
    result = run_build("--device", "gpu", "--build-dir", str(tmp_path / "build"))

    assert result.returncode == 2, output_of(result)
    assert "invalid --device 'gpu'" in result.stderr, output_of(result)
