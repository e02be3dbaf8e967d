"""saic_fairseq: Semi-Autoregressive Image Captioning as a fairseq plugin.

``--user-dir saic_fairseq`` imports this package; fairseq then registers what it finds in
``tasks/`` and ``models/``. Criteria and generators are imported here, and fairseq
checkpoints are made loadable with torch's ``weights_only=True`` kept on.
"""
from saic_fairseq.checkpoint_safety import allow_fairseq_checkpoint_types

allow_fairseq_checkpoint_types()

from saic_fairseq import criterions, generators, models, tasks  # noqa: E402,F401
from saic_fairseq.criterions import saic_loss, saic_scst  # noqa: E402,F401
from saic_fairseq.models import saic_transformer  # noqa: E402,F401
from saic_fairseq.tasks import saic_captioning  # noqa: E402,F401
