"""saic_fairseq: Semi-Autoregressive Image Captioning as a fairseq plugin.

``--user-dir saic_fairseq`` imports this package; fairseq then registers what it finds in
``tasks/`` and ``models/``. Criteria and generators are imported here, and fairseq
checkpoints are made loadable with torch's ``weights_only=True`` kept on. fairseq is imported
without its import-time logging set-up (``quiet_import.py``).
"""
from saic_fairseq.quiet_import import quiet_fairseq_import

with quiet_fairseq_import():  # no DEBUG / tensorboardX lines from fairseq's own imports
    import fairseq.models  # noqa: F401  (imports every fairseq model and task module once)

    from saic_fairseq.checkpoint_safety import allow_fairseq_checkpoint_types

    allow_fairseq_checkpoint_types()

    from saic_fairseq import criterions, generators, models, tasks  # noqa: F401
    from saic_fairseq.criterions import saic_loss, saic_scst  # noqa: F401
    from saic_fairseq.models import saic_transformer  # noqa: F401
    from saic_fairseq.tasks import saic_captioning  # noqa: F401
