"""Matplotlib figures for the console commands, drawn off-screen and written atomically."""
from saic_fairseq.atomic_write import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path):
    """Lay out ``fig``, write it to ``path`` as PNG (complete or not at all), and close it."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    pyplot().close(fig)
