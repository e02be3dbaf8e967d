"""Console commands installed by setup.py (saic-caption, saic-evaluate, saic-benchmark, ...):
their shared logging set-up and error-to-exit-status rule."""
import functools
import logging
import sys

from saic_fairseq.errors import SAICInputError


def setup_logging(verbose=True):
    """Logs on stderr in fairseq's format: INFO and up, or only warnings and errors when not
    ``verbose`` (saic-caption and saic-evaluate print their results and nothing else unless
    ``--verbose``). fairseq's own import-time logging set-up is kept out by quiet_import.py."""
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
                        level=logging.INFO if verbose else logging.WARNING, force=True)


def command(main):
    """The one error-to-exit-status rule of every command: a SAICInputError (bad input, named
    by file and line or image id) becomes one line ``error: ...`` on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except SAICInputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return wrapped


def format_table(rows, columns, markdown=False):
    """``rows`` (dicts) under ``columns`` as tabulate writes them: a GitHub Markdown table or a
    plain-text one, numbers right-aligned with two decimals, a missing value as ``-``."""
    from tabulate import tabulate

    return tabulate([[row.get(c) for c in columns] for row in rows], headers=columns, floatfmt=".2f",
                    tablefmt="github" if markdown else "simple", missingval="-")
