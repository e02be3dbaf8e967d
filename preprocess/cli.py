"""What every preprocess script shares: one clear line on bad input, exit code 2."""
import logging
import sys

from saic_fairseq.errors import SAICInputError


def run(main):
    """Call ``main()``; a SAICInputError becomes ``error: FILE, WHERE: PROBLEM`` and exit 2."""
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO)
    try:
        main()
    except SAICInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
