"""Counts decoder forward calls: the sequential steps each decoding mode really takes."""


class DecoderCallCounter:
    """``with DecoderCallCounter(model.decoder) as calls: ...``; then ``calls.count``.

    Wraps ``decoder.forward`` itself rather than using a forward hook: fairseq's
    SequenceGenerator calls ``model.decoder.forward(...)`` directly, which hooks never see.
    With ``record=True`` every call's arguments are kept in ``calls.recorded`` so that the
    same calls can be replayed on the bare decoder (``saic_fairseq.studies.decoding_benchmark``).
    """

    def __init__(self, decoder, record=False):
        self.decoder = decoder
        self.count = 0
        self.record = record
        self.recorded = []

    def __enter__(self):
        forward = self.decoder.forward

        def counted(*args, **kwargs):
            self.count += 1
            if self.record:
                self.recorded.append((args, kwargs))
            return forward(*args, **kwargs)

        self.decoder.forward = counted
        return self

    def __exit__(self, *exc):
        del self.decoder.forward  # the class's method shows through again
        return False
