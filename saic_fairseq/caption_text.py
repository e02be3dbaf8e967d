"""Token ids -> caption text: the one place a hypothesis or a sampled row becomes words."""


def caption_text(dictionary, tokens):
    """Words of ``tokens`` (1-D ids) joined by spaces, without ``</s>`` and padding."""
    return dictionary.string(tokens, extra_symbols_to_ignore={dictionary.eos(), dictionary.pad()})
