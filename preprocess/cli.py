"""What every preprocess script shares: one clear line on bad input, exit code 2."""
import sys

from saic_fairseq.cli import setup_logging
from saic_fairseq.errors import SAICInputError


def run(main):
    """Call ``main()``; a SAICInputError becomes ``error: FILE, WHERE: PROBLEM`` and exit 2."""
    setup_logging()
    try:
        main()
    except SAICInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
