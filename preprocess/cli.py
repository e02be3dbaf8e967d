"""What every preprocess script shares: logging, and one clear line on bad input, exit code 2."""
import sys

from saic_fairseq.cli import command, setup_logging


def run(main):
    """Call ``main()``; a SAICInputError becomes ``error: FILE, WHERE: PROBLEM`` and exit 2."""
    setup_logging()
    sys.exit(command(main)() or 0)
