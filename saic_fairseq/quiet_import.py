"""Import fairseq without its import-time logging set-up.

Some fairseq 0.12 modules call ``logging.basicConfig`` when imported (one at DEBUG level),
so the first ``import fairseq`` in a fresh process turns on DEBUG output for every library
(h5py prints its type converters) and prints a tensorboardX notice. ``logging.basicConfig``
does nothing when the root logger already has a handler, so while fairseq is imported the root
logger holds a ``NullHandler`` (only if it has no handler of its own); afterwards it is exactly
as before. A program that configured logging itself (``fairseq-train`` does) is not touched.
"""
import contextlib
import logging


@contextlib.contextmanager
def quiet_fairseq_import():
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    placeholder, level = logging.NullHandler(), root.level
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)
        root.setLevel(level)
