"""Counts decoder forward calls: the sequential steps each decoding mode really takes."""


class DecoderCallCounter:
    """``with DecoderCallCounter(model.decoder) as calls: ...``; then ``calls.count``."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.count = 0
        self._handle = None

    def _hook(self, module, args):
        self.count += 1

    def __enter__(self):
        self._handle = self.decoder.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        return False
