#!/usr/bin/env python3
"""Execute a notebook that displays an ipywidgets panel many times with papermill and count hangs.

The notebook's last cell builds a panel like a figure notebook's rerun panel
(sliders, drop-downs, a Button with an on_click callback and an Output widget),
calls the callback once and displays the panel. Each run is a separate
papermill process that executes the notebook in the 'python3' kernel of this
interpreter's environment. A run has a per-cell timeout and a limit on its
whole time, so a hang in kernel start-up or shutdown counts as well as a hang
in a cell.

Usage: python scripts/check_kernel_hang.py --runs 40 [--workload torch]
Run it with the interpreter of the environment under test; it needs papermill,
ipykernel, ipywidgets and nbformat there. Exit status 1 when any run hung or failed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PANEL_CELL = """\
import ipywidgets as widgets
from IPython.display import display

penalty = widgets.Dropdown(options=["none", "0-GP", "0-GP-sample", "1-GP"], value="0-GP", description="penalty")
optimizer = widgets.Dropdown(options=["SGD", "Adam"], value="SGD", description="optimizer")
lam = widgets.FloatLogSlider(value=10.0, base=10, min=-2, max=3, description="lambda")
iterations = widgets.IntSlider(value=1000, min=100, max=20000, step=100, description="iterations")
button = widgets.Button(description="Rerun", button_style="primary")
output = widgets.Output()


def rerun(_button):
    output.clear_output(wait=True)
    with output:
        draw(penalty.value, lam.value, iterations.value, optimizer.value)


button.on_click(rerun)
rerun(button)
display(widgets.VBox([widgets.HBox([penalty, optimizer]), widgets.HBox([lam, iterations]), button, output]))
"""

# The callback body of each workload. "print" only writes a line into the Output
# widget. "torch" trains a small discriminator with the 0-GP penalty on two fixed
# Gaussian samples for iterations / 100 steps and draws its value surface with
# matplotlib inside the Output widget, like a figure notebook's rerun panel.
DRAW_CELLS = {
    "print": """\
def draw(penalty, lam, iterations, optimizer):
    print(f"run {run}: train {penalty} with lambda={lam:g} for {iterations} iterations ({optimizer})")
""",
    "torch": """\
import matplotlib.pyplot as plt
import torch


def draw(penalty, lam, iterations, optimizer):
    torch.manual_seed(run)
    x_real = torch.randn(100, 2) + torch.tensor([0.4, 0.9])
    x_fake = torch.randn(100, 2) + torch.tensor([1.3, 1.2])
    discriminator = torch.nn.Sequential(
        torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
    )
    optim = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    bce = torch.nn.BCEWithLogitsLoss()
    for _ in range(iterations // 100):
        alpha = torch.rand(100, 1)
        v = (alpha * x_real + (1 - alpha) * x_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminator(v).sum(), v, create_graph=True)
        loss = bce(discriminator(x_real), torch.ones(100, 1)) + bce(discriminator(x_fake), torch.zeros(100, 1))
        loss = loss + lam * grad.pow(2).sum(dim=1).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()

    axis = torch.linspace(-2.5, 4.5, 100)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        surface = torch.sigmoid(discriminator(grid)).reshape(100, 100)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.contourf(axis, axis, surface, levels=11)
    ax.scatter(*x_real.T, s=5, c="tab:blue")
    ax.scatter(*x_fake.T, s=5, c="tab:red")
    ax.set_title(f"run {run}: {penalty}, lambda={lam:g}, {iterations} iterations")
    plt.show()
""",
}

VERSIONED_PACKAGES = (
    "ipykernel", "ipywidgets", "papermill", "nbclient", "jupyter_client", "ipython", "pyzmq", "tornado", "torch", "matplotlib",
)


def write_notebook(path: Path, workload: str) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("# Kernel hang check\n\nThe last cell displays an ipywidgets panel."),
        new_code_cell("run = 0", metadata={"tags": ["parameters"]}),
        new_code_cell("import sys\nimport ipykernel\n\nprint(f'kernel: {sys.executable} ipykernel {ipykernel.__version__}')"),
        new_code_cell(DRAW_CELLS[workload]),
        new_code_cell(PANEL_CELL),
    ]
    nbformat.write(nb, path)


def kill_tree(process: subprocess.Popen) -> None:
    """Kill papermill and every process it started, the kernel included."""
    import psutil

    try:
        parent = psutil.Process(process.pid)
        processes = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        processes = []
    for proc in processes:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def execute_once(
    notebook: Path, output: Path, run: int, cell_timeout: int, run_timeout: int
) -> tuple[str, float, str]:
    """Execute the notebook once and return (outcome, wall seconds, papermill's output).

    The outcome is "ok", "hung" (a cell timed out or the run passed run_timeout) or "failed".
    """
    command = [
        sys.executable, "-m", "papermill", str(notebook), str(output),
        "--kernel", "python3",
        "--execution-timeout", str(cell_timeout),
        "--no-progress-bar",
        "-p", "run", str(run),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=notebook.parent
    )
    try:
        log, _ = process.communicate(timeout=run_timeout)
    except subprocess.TimeoutExpired:
        kill_tree(process)
        log, _ = process.communicate()
        return "hung", time.perf_counter() - start, f"killed after the run limit of {run_timeout} s\n{log}"
    seconds = time.perf_counter() - start

    if process.returncode == 0:
        return "ok", seconds, log
    if "CellTimeoutError" in log or "timed out" in log:
        return "hung", seconds, log
    return "failed", seconds, log


def cell_seconds(output: Path) -> float | None:
    """Return the summed cell run times that papermill recorded in the executed notebook.

    The difference to the run's wall time is kernel start-up, shutdown and papermill's
    own work, which separates a slow cell from a slow kernel start or exit.
    """
    if not output.is_file():
        return None
    nb = nbformat.read(output, as_version=4)
    durations = [cell.get("metadata", {}).get("papermill", {}).get("duration") for cell in nb.cells]
    return sum(duration for duration in durations if duration)


def kernel_line(output: Path) -> str:
    """Return the line in which the executed notebook's kernel reported its Python and ipykernel."""
    nb = nbformat.read(output, as_version=4)
    for cell in nb.cells:
        for item in cell.get("outputs", []):
            text = item.get("text", "")
            if text.startswith("kernel:"):
                return text.strip()
    return "kernel: (not reported)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="number of executions; default: 40")
    parser.add_argument("--cell-timeout", type=int, default=60, help="per-cell timeout in seconds; default: 60")
    parser.add_argument(
        "--run-timeout",
        type=int,
        help="limit on one whole run in seconds, kernel start and shutdown included; default: 3 x --cell-timeout",
    )
    parser.add_argument(
        "--workload",
        choices=sorted(DRAW_CELLS),
        default="print",
        help="what the panel's callback does: print a line, or train a small torch model and draw it "
        "with matplotlib (needs torch and matplotlib); default: print",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.cell_timeout < 1:
        parser.error(f"--runs ({args.runs}) and --cell-timeout ({args.cell_timeout}) must be at least 1")
    run_timeout = args.run_timeout or 3 * args.cell_timeout

    versions = []
    for name in VERSIONED_PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    print(f"Python {sys.version.split()[0]} at {sys.executable}")
    print(", ".join(versions))
    print(
        f"{args.runs} runs of the {args.workload} workload, per-cell timeout {args.cell_timeout} s, "
        f"run limit {run_timeout} s",
        flush=True,
    )

    outcomes: list[str] = []
    durations: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kernel-hang-") as workdir:
        notebook = Path(workdir) / "widget_panel.ipynb"
        write_notebook(notebook, args.workload)
        for run in range(1, args.runs + 1):
            output = Path(workdir) / f"run-{run}.ipynb"
            outcome, seconds, log = execute_once(notebook, output, run, args.cell_timeout, run_timeout)
            outcomes.append(outcome)
            durations.append(seconds)
            cells = cell_seconds(output)
            in_cells = f" (cells {cells:.1f} s)" if cells is not None else ""
            print(f"run {run}/{args.runs}: {outcome} in {seconds:.1f} s{in_cells}", flush=True)
            if run == 1 and output.is_file():
                print(kernel_line(output), flush=True)
            if outcome != "ok":
                print("  " + "\n  ".join(log.strip().splitlines()[-15:]), flush=True)

    hung = outcomes.count("hung")
    failed = outcomes.count("failed")
    print(
        f"\n{args.runs} runs: {outcomes.count('ok')} ok, {hung} hung, {failed} failed; wall time "
        f"min {min(durations):.1f} s, median {statistics.median(durations):.1f} s, max {max(durations):.1f} s"
    )
    return 1 if hung or failed else 0


if __name__ == "__main__":
    sys.exit(main())
