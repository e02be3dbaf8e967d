"""The code follows ruff.toml (pycodestyle, pyflakes, import order, 120 columns): ruff, pinned in
setup.py's dev extra, finds nothing to say about the package, its scripts and its tests."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "saic_fairseq", "preprocess",
                             "examples", "tests", "setup.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
