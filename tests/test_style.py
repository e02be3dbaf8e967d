"""The code follows ruff.toml (pycodestyle, pyflakes, import order, 120 columns): ruff, pinned in
setup.py's dev extra, finds nothing to say about the package, its scripts and its tests."""
from conftest import run_script


def test_ruff_finds_nothing():
    result = run_script("ruff", "check", "--no-cache", "saic_fairseq", "preprocess", "examples", "tests", "setup.py")
    assert result.returncode == 0, result.stdout + result.stderr
