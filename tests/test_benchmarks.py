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


def test_penalty_step_prints_every_side():
    script = ROOT / "benchmarks" / "penalty_step.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--iterations", "2", "--repeats", "1", "--cases", "gaussians-64"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    checks = [line.strip() for line in lines if "same values on one batch" in line]
    assert [line.split(":")[0] for line in checks] == ["0-GP", "none"]
    assert all(line.endswith("all parameter gradients equal") for line in checks)
    rows = [line.split() for line in lines if line.startswith("8 Gaussians, width 64 ")]
    assert [(row[4], row[5]) for row in rows] == [
        ("0-GP", "authors"), ("0-GP", "gp_core"), ("none", "authors"), ("none", "gp_core")
    ]
    assert [row[9] for row in rows[::2]] == ["1.00×", "1.00×"]
