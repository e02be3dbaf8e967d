"""Counts decoder forward calls: the sequential steps each decoding mode really takes."""

#: decoder methods that are model work when a caller runs them outside ``forward``: the
#: projection of ``features_only`` states to the vocabulary, the length head, and the image's
#: cross-attention keys and values projected once for a static cache
HEADS = ("output_layer", "length_logits", "image_memory")


class DecoderCallCounter:
    """``with DecoderCallCounter(model.decoder) as calls: ...``; then ``calls.count``.

    Wraps ``decoder.forward`` itself rather than using a forward hook: fairseq's
    SequenceGenerator calls ``model.decoder.forward(...)`` directly, which hooks never see.
    With ``record=True`` every call's arguments are kept in ``calls.recorded`` so that the
    same calls can be replayed on the bare decoder (``saic_fairseq.studies.decoding_benchmark``),
    and so are the calls of the :data:`HEADS` made outside ``forward``, as (name, argument)
    pairs in ``calls.heads``: a pass run ``features_only`` whose caller projects only some
    positions, and the length prediction, are model work too.
    """

    def __init__(self, decoder, record=False):
        self.decoder = decoder
        self.count = 0
        self.record = record
        self.recorded = []
        self.heads = []

    def __enter__(self):
        forward = self.decoder.forward
        inside = []

        def counted(*args, **kwargs):
            self.count += 1
            if self.record:
                self.recorded.append((args, kwargs))
            inside.append(True)
            try:
                return forward(*args, **kwargs)
            finally:
                inside.pop()

        def wrapped(name):
            head = getattr(self.decoder, name)

            def run(argument):
                if self.record and not inside:
                    self.heads.append((name, argument))
                return head(argument)

            return run

        self.decoder.forward = counted
        for name in HEADS:
            setattr(self.decoder, name, wrapped(name))
        return self

    def __exit__(self, *exc):
        del self.decoder.forward  # the class's methods show through again
        for name in HEADS:
            delattr(self.decoder, name)
        return False
