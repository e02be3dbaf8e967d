"""AIC decoding: fairseq's own SequenceGenerator, started from ``<bog>`` instead of ``</s>``."""
from fairseq.sequence_generator import SequenceGenerator


class AICSequenceGenerator(SequenceGenerator):
    """fairseq's beam search (length penalty, n-gram blocking, sampling: all of it), whose
    first input token is ``<bog>``, the begin symbol our decoder was trained with."""

    def __init__(self, models, tgt_dict, bog, **kwargs):
        super().__init__(models, tgt_dict, **kwargs)
        self.bog = bog

    def generate(self, models, sample, **kwargs):
        kwargs.setdefault("bos_token", self.bog)
        return super().generate(models, sample, **kwargs)
