"""The benchmark scripts run and print their table; their numbers are not checked."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_seeds_per_minute_prints_every_way():
    script = ROOT / "benchmarks" / "seeds_per_minute.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--iterations", "2", "--seeds", "1", "--width", "8", "--workers", "2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("4 runs (4 penalties × 1 seed) of 2 iterations, width 8")
    assert [line.split()[0] for line in lines[2:]] == ["one", "processes", "batched"]
    assert lines[2].rstrip().endswith("1.00×")


def test_penalty_step_checks_values_then_prints_both_steps():
    script = ROOT / "benchmarks" / "penalty_step.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--iterations", "2", "--repeats", "1", "--cases", "gaussians-64"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert any(line.strip().startswith("same values on one batch: D loss") for line in lines)
    rows = [line for line in lines if line.startswith("8 Gaussians, width 64 ")]
    assert [row.split()[4] for row in rows] == ["authors", "gp_core"]
    assert rows[0].split()[8] == "1.00×"
