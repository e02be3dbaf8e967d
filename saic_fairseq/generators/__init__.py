"""The four decoding modes of ``--decoding`` (DESIGN.md): aic, saic, naic, ir-naic."""
from saic_fairseq.generators.aic_generator import AICSequenceGenerator
from saic_fairseq.generators.mask_predict_generator import MaskPredictGenerator
from saic_fairseq.generators.saic_generator import SAICGenerator, never_generated
from saic_fairseq.modules.outliner_filler_layout import OutlinerFillerLayout


def layout_of(task, group_size=None):
    """The task's token layout for ``group_size`` (default: ``--group-size``)."""
    d = task.target_dictionary
    return OutlinerFillerLayout(group_size or task.cfg.group_size, task.bog_idx, task.mask_idx, d.eos(), d.pad())


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


def build_caption_generator(task, models, gen, decoding=None, outline_beam=None, fill_beam=None, iterations=None):
    """Generator of ``decoding`` for ``models``; the task's options (``--decoding``,
    ``--outline-beam``, ``--fill-beam``, ``--iterations``) unless given here."""
    decoding = decoding or task.cfg.decoding
    outline_beam = outline_beam or task.cfg.outline_beam
    fill_beam = fill_beam or task.cfg.fill_beam
    iterations = iterations or task.cfg.iterations
    d = task.target_dictionary
    max_len = task.cfg.max_target_positions
    opts = search_options(gen)
    if decoding == "aic":
        return AICSequenceGenerator(models, d, task.bog_idx, beam_size=getattr(gen, "beam", 5), **opts)
    if len(models) != 1:
        raise ValueError(f"--decoding {decoding} decodes with one model; got an ensemble of {len(models)}")
    layout = layout_of(task)
    if decoding == "saic":
        opts.pop("max_len_a"), opts.pop("max_len_b")
        return SAICGenerator(models[0], d, layout, outline_beam, fill_beam, max_len=max_len, **opts)
    iterations = 1 if decoding == "naic" else iterations
    return MaskPredictGenerator(models[0], d, layout, never_generated(d, layout), iterations, fill_beam,
                                max_len=max_len)
