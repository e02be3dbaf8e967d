"""The Outliner seen as an ordinary left-to-right model, so fairseq's SequenceGenerator can
run its beam search: step t sits at sentence position t * k (docs/design.md)."""
import math

from fairseq.models import FairseqEncoder, FairseqEncoderDecoderModel, FairseqIncrementalDecoder

from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout


class PrecomputedEncoder(FairseqEncoder):
    """Hands out an encoder output computed before the search, so the image is encoded once
    and shared by the Outliner's beam search and the Filler pass."""

    def __init__(self, encoder):
        super().__init__(dictionary=None)
        self.encoder = encoder
        self.encoder_out = None

    def forward(self, **unused):
        if self.encoder_out is None:
            raise RuntimeError("set PrecomputedEncoder.encoder_out before searching")
        return self.encoder_out

    def reorder_encoder_out(self, encoder_out, new_order):
        return self.encoder.reorder_encoder_out(encoder_out, new_order)


class OutlinerDecoder(FairseqIncrementalDecoder):
    """The shared SAIC decoder, fed at the Outliner's sentence positions 0, k, 2k, ..."""

    def __init__(self, decoder, layout: OutlinerFillerLayout):
        super().__init__(decoder.dictionary)
        self.decoder = decoder
        self.layout = layout

    def forward(self, prev_output_tokens, encoder_out=None, incremental_state=None, **kwargs):
        positions = self.layout.outliner_positions(prev_output_tokens.size(1), prev_output_tokens.device)
        return self.decoder(prev_output_tokens, encoder_out, incremental_state, positions=positions, **kwargs)

    def get_normalized_probs(self, net_output, log_probs, sample=None):
        return self.decoder.get_normalized_probs(net_output, log_probs, sample)

    def set_beam_size(self, beam_size):
        self.decoder.set_beam_size(beam_size)

    def max_positions(self):
        return math.ceil(self.decoder.max_positions() / self.layout.k)


class OutlinerModel(FairseqEncoderDecoderModel):
    """``model`` with the Outliner's positions and a precomputed encoder output."""

    def __init__(self, model, layout: OutlinerFillerLayout):
        super().__init__(PrecomputedEncoder(model.encoder), OutlinerDecoder(model.decoder, layout))
