"""The four decoding modes of ``--decoding`` (docs/design.md): aic, saic, naic, ir-naic."""
import math

from saic_fairseq.generators.aic_generator import AICSequenceGenerator
from saic_fairseq.generators.beam_search import BeamGenerator
from saic_fairseq.generators.greedy_search import SEARCH_OPTIONS, GreedyGenerator, search_applies
from saic_fairseq.generators.mask_predict_generator import MaskPredictGenerator
from saic_fairseq.generators.saic_generator import OUTLINE_LENGTHS, SAICGenerator
from saic_fairseq.modules.compiled_step import compile_model
from saic_fairseq.modules.outliner_filler_layout import layout_of, never_generated

#: --decoder-step choices, the default first: our searches on a preallocated cache
#: (modules/static_cache.py), or fairseq's incremental state and SequenceGenerator
DECODER_STEPS = ("static", "incremental")


def search_options(gen):
    """The fairseq generation options (``cfg.generation``) that apply to a beam search."""
    return dict(
        max_len_a=getattr(gen, "max_len_a", 0),
        max_len_b=getattr(gen, "max_len_b", 200),
        min_len=getattr(gen, "min_len", 1),
        normalize_scores=not getattr(gen, "unnormalized", False),
        len_penalty=getattr(gen, "lenpen", 1.0),
        unk_penalty=getattr(gen, "unkpen", 0.0),
        temperature=getattr(gen, "temperature", 1.0),
        no_repeat_ngram_size=getattr(gen, "no_repeat_ngram_size", 0),
    )


def build_caption_generator(task, models, gen, decoding=None, outline_beam=None, fill_beam=None, iterations=None,
                            fill_iterations=None, keep_repeats=None, outline_length=None, forbid_unk=False,
                            decoder_step=None, compile=None):
    """Generator of ``decoding`` for ``models``; the task's options (``--decoding``,
    ``--outline-beam``, ``--fill-beam``, ``--iterations``, ``--fill-iterations``,
    ``--keep-repeats``, ``--outline-length``, ``--decoder-step``) unless given here.
    ``forbid_unk``: no mode ever writes ``<unk>`` (an infinite ``--unkpen``; what captions
    shown to people use). ``decoder_step``: "static" (our searches on a StaticCache) or
    "incremental" (fairseq's incremental state, and SequenceGenerator for beams). ``compile``
    (``--compile``, static only): the cached step compiled, CUDA graphs on a GPU
    (``modules/compiled_step.py``)."""
    decoding = decoding or task.cfg.decoding
    outline_beam = outline_beam or task.cfg.outline_beam
    fill_beam = fill_beam or task.cfg.fill_beam
    iterations = iterations or task.cfg.iterations
    fill_iterations = task.cfg.fill_iterations if fill_iterations is None else fill_iterations
    if keep_repeats is None:  # checkpoints older than the option keep their task's default
        keep_repeats = bool(getattr(task.cfg, "keep_repeats", False))
    outline_length = outline_length or getattr(task.cfg, "outline_length", OUTLINE_LENGTHS[0])
    decoder_step = decoder_step or getattr(task.cfg, "decoder_step", DECODER_STEPS[0])
    if decoder_step not in DECODER_STEPS:
        raise ValueError(f"--decoder-step must be one of {', '.join(DECODER_STEPS)}, got {decoder_step!r}")
    static = decoder_step == "static"
    if static and (getattr(task.cfg, "compile", False) if compile is None else compile):
        for model in models:
            if getattr(model.decoder, "compiled_step", None) is None:
                compile_model(model)
    d = task.target_dictionary
    max_len = task.cfg.max_target_positions
    opts = search_options(gen)
    if forbid_unk:
        opts["unk_penalty"] = math.inf
    prefix_size = getattr(gen, "prefix_size", 0)  # forced first words: SequenceGenerator's alone
    if decoding == "aic":
        beam = getattr(gen, "beam", 5)
        if len(models) == 1 and search_applies(opts) and not prefix_size and (beam == 1 or static):
            limit = min(opts["max_len_b"], models[0].max_decoder_positions() - 1)  # SequenceGenerator's
            ours = {k: opts[k] for k in SEARCH_OPTIONS}
            if beam == 1:
                return GreedyGenerator(models[0], d, task.bog_idx, limit, static=static, **ours)
            return BeamGenerator(models[0], d, task.bog_idx, beam, limit, **ours)
        return AICSequenceGenerator(models, d, task.bog_idx, beam_size=beam, **opts)
    if prefix_size:
        raise ValueError(f"--prefix-size {prefix_size}: forced first words apply to --decoding aic only; "
                         f"--decoding {decoding} does not write a caption left to right")
    if len(models) != 1:
        raise ValueError(f"--decoding {decoding} decodes with one model; got an ensemble of {len(models)}")
    layout = layout_of(task)
    if decoding == "saic":
        opts.pop("max_len_a"), opts.pop("max_len_b")
        return SAICGenerator(models[0], d, layout, outline_beam, fill_beam, max_len=max_len,
                             fill_iterations=fill_iterations, drop_repeats=not keep_repeats,
                             outline_length=outline_length, static=static, **opts)
    iterations = 1 if decoding == "naic" else iterations
    return MaskPredictGenerator(models[0], d, layout, never_generated(d, layout, unk_penalty=opts["unk_penalty"]),
                                iterations, fill_beam,
                                max_len=max_len, drop_repeats=not keep_repeats, static=static)
