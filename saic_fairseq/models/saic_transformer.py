"""``saic_transformer``: visual encoder + one decoder for AIC, NAIC, Outliner and Filler.

Architectures: ``saic_base`` (the paper: 6 + 6 layers, d 512, ffn 2048, 8 heads) and
``saic_tiny`` (tests and the CPU demo).
"""
import logging

from fairseq.models import FairseqEncoderDecoderModel, register_model, register_model_architecture
from torch import nn

from saic_fairseq.models.saic_decoder import SAICDecoder
from saic_fairseq.models.visual_encoder import VisualEncoder

logger = logging.getLogger(__name__)


@register_model("saic_transformer")
class SAICTransformerModel(FairseqEncoderDecoderModel):
    """Semi-autoregressive image captioner (paper Sec. 4.1)."""

    def __init__(self, args, encoder, decoder):
        super().__init__(encoder, decoder)
        self.args = args
        self.num_updates = 0

    @staticmethod
    def add_args(parser):
        parser.add_argument("--encoder-layers", type=int, metavar="N")
        parser.add_argument("--decoder-layers", type=int, metavar="N")
        parser.add_argument("--encoder-embed-dim", type=int, metavar="D")
        parser.add_argument("--decoder-embed-dim", type=int, metavar="D")
        parser.add_argument("--encoder-ffn-embed-dim", type=int, metavar="D")
        parser.add_argument("--decoder-ffn-embed-dim", type=int, metavar="D")
        parser.add_argument("--encoder-attention-heads", type=int, metavar="N")
        parser.add_argument("--decoder-attention-heads", type=int, metavar="N")
        parser.add_argument("--dropout", type=float, metavar="P")
        parser.add_argument("--attention-dropout", type=float, metavar="P")
        parser.add_argument("--activation-dropout", type=float, metavar="P")
        parser.add_argument(
            "--relative-window", type=int, metavar="W",
            help="clip distance w of the relative positions (default: the task's --group-size); "
            "keep it equal between the AIC teacher and the SAIC model fine-tuned from it",
        )
        parser.add_argument(
            "--no-relative-positions", action="store_true",
            help="ablation -RPR (paper Table 7): decoder self-attention without relative positions, absolute "
            "sinusoidal positions only; fine-tuning from a teacher that has them drops its relative tables",
        )
        parser.add_argument("--use-boxes", action="store_true", help="add projected region boxes to the features")

    @classmethod
    def build_model(cls, args, task):
        base_architecture(args)
        if args.relative_window is None:
            args.relative_window = task.cfg.group_size
        args.max_target_positions = task.cfg.max_target_positions
        args.feature_dim = cls.feature_dim(args, task)
        if args.encoder_embed_dim != args.decoder_embed_dim:
            raise ValueError("--encoder-embed-dim and --decoder-embed-dim must be equal")
        dictionary = task.target_dictionary
        embed_tokens = nn.Embedding(len(dictionary), args.decoder_embed_dim, dictionary.pad())
        nn.init.normal_(embed_tokens.weight, mean=0, std=args.decoder_embed_dim**-0.5)
        nn.init.constant_(embed_tokens.weight[dictionary.pad()], 0)
        encoder = VisualEncoder(args, args.feature_dim)
        decoder = SAICDecoder(args, dictionary, embed_tokens)
        return cls(args, encoder, decoder)

    @staticmethod
    def feature_dim(args, task):
        """The width of the features the encoder reads: saved in the checkpoint once trained,
        and checked against the task's feature file."""
        from saic_fairseq.errors import SAICInputError

        saved, given = getattr(args, "feature_dim", None), task.feature_dim
        if saved and given and saved != given:
            raise SAICInputError(task.cfg.features, None,
                                 f"features of width {given}, but the model reads features of width {saved}")
        if not (saved or given):
            raise SAICInputError("--features", None, "give a feature file: the model's feature width is unknown")
        return saved or given

    def forward(self, features, padding_mask, prev_output_tokens, boxes=None, encoder_rows=None, **decoder_kwargs):
        """Teacher-forced AIC pass (what fairseq's own criteria call): (B, T, V) logits.
        ``encoder_rows`` (B,): features hold one entry per image, caption b is of image
        ``encoder_rows[b]`` (batches of ``--batch-by-image``)."""
        encoder_out = self.encoder(features, padding_mask=padding_mask, boxes=boxes)
        return self.decoder(prev_output_tokens, encoder_out=encoder_out, encoder_rows=encoder_rows, **decoder_kwargs)

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """fairseq's loading; a model without relative positions (``--no-relative-positions``)
        started from a checkpoint that has them drops exactly those tables, and says so."""
        if getattr(self.args, "no_relative_positions", False):
            dropped = [k for k in state_dict if ".relative_keys." in k or ".relative_values." in k]
            if dropped:
                logger.info(f"--no-relative-positions: not loading {len(dropped)} relative-position tables")
                state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)

    def set_num_updates(self, num_updates):
        """The curriculum (p_g) reads the update number from here; restored on resume."""
        self.num_updates = num_updates
        super().set_num_updates(num_updates)


def _defaults(args, **values):
    for name, value in values.items():
        setattr(args, name, getattr(args, name, None) if getattr(args, name, None) is not None else value)


@register_model_architecture("saic_transformer", "saic_base")
def base_architecture(args):
    _defaults(
        args,
        encoder_layers=6, decoder_layers=6,
        encoder_embed_dim=512, decoder_embed_dim=512,
        encoder_ffn_embed_dim=2048, decoder_ffn_embed_dim=2048,
        encoder_attention_heads=8, decoder_attention_heads=8,
        dropout=0.1, attention_dropout=0.1, activation_dropout=0.1,
        relative_window=None, no_relative_positions=False, use_boxes=False,
    )
    # what fairseq's TransformerEncoderLayer reads from args
    _defaults(args, encoder_normalize_before=False, activation_fn="relu", relu_dropout=args.activation_dropout)


@register_model_architecture("saic_transformer", "saic_tiny")
def saic_tiny(args):
    _defaults(
        args,
        encoder_layers=1, decoder_layers=2,
        encoder_embed_dim=64, decoder_embed_dim=64,
        encoder_ffn_embed_dim=128, decoder_ffn_embed_dim=128,
        encoder_attention_heads=4, decoder_attention_heads=4,
        dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
    )
    base_architecture(args)


@register_model_architecture("saic_transformer", "saic_small")
def saic_small(args):
    """saic_tiny, twice as wide: trains on 2 CPU cores in minutes (the bundled demo)."""
    _defaults(args, encoder_embed_dim=128, decoder_embed_dim=128, encoder_ffn_embed_dim=256,
              decoder_ffn_embed_dim=256)
    saic_tiny(args)


@register_model_architecture("saic_transformer", "saic_medium")
def saic_medium(args):
    """d 256, one encoder and three decoder layers, dropout 0.3: sized for real photos (Flickr8k's
    1,280-wide grid features of 6,000 photos) on a CPU; about 5 M weights, 10 MB in float16."""
    _defaults(args, encoder_layers=1, decoder_layers=3, encoder_embed_dim=256, decoder_embed_dim=256,
              encoder_ffn_embed_dim=1024, decoder_ffn_embed_dim=1024, encoder_attention_heads=8,
              decoder_attention_heads=8, dropout=0.3, attention_dropout=0.1, activation_dropout=0.1)
    base_architecture(args)


@register_model_architecture("saic_transformer", "saic_large")
def saic_large(args):
    """saic_medium twice as wide (d 512, one encoder and three decoder layers, dropout 0.3): the
    larger teacher of docs/flickr8k.md, about 4x saic_medium's training time on a CPU."""
    _defaults(args, encoder_embed_dim=512, decoder_embed_dim=512, encoder_ffn_embed_dim=2048,
              decoder_ffn_embed_dim=2048)
    saic_medium(args)
