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
