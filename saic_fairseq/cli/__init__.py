"""Console commands installed by setup.py: saic-evaluate, saic-benchmark, saic-caption."""
import logging


def setup_logging():
    """INFO-level logs in fairseq's format. Importing fairseq leaves the root logger at DEBUG
    (h5py then prints its converter set-up), so the level is forced back here."""
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO,
                        force=True)
