"""Console commands installed by setup.py: saic-evaluate, saic-benchmark, saic-caption."""
import functools
import logging
import sys

from saic_fairseq.errors import SAICInputError


def setup_logging():
    """INFO-level logs in fairseq's format. Importing fairseq leaves the root logger at DEBUG
    (h5py then prints its converter set-up), so the level is forced back here."""
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        force=True)


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
