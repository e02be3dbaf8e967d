"""One decoding mode under variants of its search's settings, timed in one process, interleaved
(``saic-benchmark --search-variants``): how the figures of docs/speed.md that compare a
search's bookkeeping or its batch cut were measured.

A variant is a few settings of the left-to-right searches inside a mode's generator
(``GreedySearch``, ``BeamSearch``), e.g. ``bookkeeping=host`` or ``cut_when_open=0``; the
settings a variant leaves out keep their defaults. Every batch is captioned by every variant
of a mode, in an order shuffled per batch and round, for several rounds; a variant's time is
relative to the first variant's **measured in the same round** (the median over rounds, with
its spread), and its captions are compared with the first variant's, image by image.
"""
import numpy as np

from saic_fairseq.generators.beam_search import BeamSearch
from saic_fairseq.generators.greedy_search import GreedySearch, checked_bookkeeping, checked_cut_when_open

#: the settings a variant may give: name -> (parse the text, check the value)
SETTINGS = {"bookkeeping": (str, checked_bookkeeping), "cut_when_open": (float, checked_cut_when_open)}
COLUMNS = ["mode", "variant", "ms per batch", "x first", "spread", "same captions as first"]


def parse_variant(text):
    """``"name=value[,name=value]"`` -> {name: value}, each name one of :data:`SETTINGS` and its
    value checked; anything else refused with the text and what is allowed."""
    settings = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SETTINGS:
            raise ValueError(f"search variant {text!r}: expected name=value with a name from "
                             f"{', '.join(SETTINGS)}, got {item!r}")
        parse, check = SETTINGS[name]
        try:
            settings[name] = check(parse(value.strip()))
        except ValueError as err:
            raise ValueError(f"search variant {text!r}: {err}") from None
    return settings


def searches_of(generator):
    """The left-to-right searches inside ``generator``: AIC's GreedySearch or BeamSearch, the SAIC
    Outliner's; none for NAIC, IR-NAIC or fairseq's SequenceGenerator."""
    found = [getattr(generator, name, None) for name in ("search", "greedy", "beam")]
    return [s for s in found if isinstance(s, (GreedySearch, BeamSearch))]


def variant_runner(generator, variants):
    """``(run, taken)``: ``run(v)`` sets variant ``v``'s settings on every search of ``generator``
    that has them (the others at their values when this was built; ``run(None)``: all of them),
    ``taken`` the names some search has; None when no search takes any setting the variants name."""
    searches = searches_of(generator)
    names = {name for variant in variants for name in variant}
    defaults = [{name: getattr(s, name) for name in names if hasattr(s, name)} for s in searches]
    if not any(defaults):
        return None

    def run(v):
        for search, default in zip(searches, defaults):
            for name, value in default.items():
                setattr(search, name, value if v is None else variants[v].get(name, value))

    return run, {name for default in defaults for name in default}


def time_variants(generator, model, variants, batches, rounds, clock, warmup=1, seed=0, progress=None):
    """Seconds of each variant per round, (rounds, variants), each variant's first-round
    best-hypothesis tokens per image (lists of lists) and the setting names its searches take,
    for one mode's ``generator``; None when no search of it takes the variants' settings."""
    runner = variant_runner(generator, variants)
    if runner is None:
        return None
    apply, taken = runner
    for v in range(len(variants)):  # compile each variant's shapes before timing
        apply(v)
        for sample in batches[:warmup]:
            generator.generate([model], sample)
    rng = np.random.default_rng(seed)
    seconds = np.zeros((rounds, len(variants)))
    tokens = [[] for _ in variants]
    for r in range(rounds):
        for sample in batches:
            for v in rng.permutation(len(variants)):
                apply(v)
                start = clock()
                hypos = generator.generate([model], sample)
                seconds[r, v] += clock() - start
                if r == 0:
                    tokens[v] += [h[0]["tokens"].tolist() for h in hypos]
            if progress:
                progress()
    apply(None)
    return seconds, tokens, taken


def variant_rows(label, texts, variants, seconds, tokens, taken, batches):
    """Table rows of one mode (its variants as written, ``texts``, and parsed): each variant's
    median time per batch, its time relative to the first variant's in the same round (median,
    spread) and how many captions equal the first's; a variant naming a setting no search of
    the mode has says so (it ran at the default)."""
    ratios = seconds / seconds[:, [0]]
    rows = []
    for v, (text, variant) in enumerate(zip(texts, variants)):
        untaken = [name for name in variant if name not in taken]
        rows.append({"mode": label, "variant": text + (f" (no {', '.join(untaken)} here: default)" if untaken else ""),
                     "ms per batch": 1000 * float(np.median(seconds[:, v])) / batches,
                     "x first": float(np.median(ratios[:, v])),
                     "spread": f"{ratios[:, v].min():.3f}-{ratios[:, v].max():.3f}",
                     "same captions as first": f"{sum(a == b for a, b in zip(tokens[v], tokens[0]))}/{len(tokens[0])}"})
    return rows
