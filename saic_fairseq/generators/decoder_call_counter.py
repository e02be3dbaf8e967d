"""Counts decoder forward calls: the sequential steps each decoding mode really takes."""


class DecoderCallCounter:
    """``with DecoderCallCounter(model.decoder) as calls: ...``; then ``calls.count``.

    Wraps ``decoder.forward`` itself rather than using a forward hook: fairseq's
    SequenceGenerator calls ``model.decoder.forward(...)`` directly, which hooks never see.
    """

    def __init__(self, decoder):
        self.decoder = decoder
        self.count = 0

    def __enter__(self):
        forward = self.decoder.forward

        def counted(*args, **kwargs):
            self.count += 1
            return forward(*args, **kwargs)

        self.decoder.forward = counted
        return self

    def __exit__(self, *exc):
        del self.decoder.forward  # the class's method shows through again
        return False
