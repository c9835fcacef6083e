"""Run the ``filterbank`` command in a subprocess, offline and with its own FILTERBANK_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli_env(home: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["FILTERBANK_HOME"] = str(home)
    env["FILTERBANK_OFFLINE"] = "1"
    env["MPLBACKEND"] = "Agg"
    env.pop("FILTERBANK_DEBUG", None)
    return env


def run_cli(args, cwd: Path, check=True) -> subprocess.CompletedProcess:
    """``python -m filterbank.cli *args`` in ``cwd``; fails the test on a non-zero exit if check."""
    proc = subprocess.run(
        [sys.executable, "-m", "filterbank.cli", *map(str, args)],
        cwd=cwd,
        env=cli_env(cwd / "fbhome"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"filterbank {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc
