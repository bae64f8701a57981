"""Shared by the benchmark tests: run one script at tiny sizes."""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args, out):
    subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=300)
