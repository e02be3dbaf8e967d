"""Latency and quality of every decoding mode of one checkpoint, measured so that a noisy
machine cannot favour one mode (what ``saic-benchmark`` prints).

* Modes are **interleaved**: every image (batch) is captioned by every mode, in an order
  shuffled per image and round, for several rounds; a mode's speed-up is the **median over
  rounds** of the ratio of total times measured in that round, with its spread (min, max).
* In every round every mode's decoder calls are recorded and **replayed on the bare decoder**
  (same model, same inputs, same cache lengths, no search around them; with the vocabulary
  projections and length predictions their callers ran), plus the encoder: ``overhead`` = the
  median over rounds of the mode's time in a round / its bare time in the same round, so
  bookkeeping is visible, a machine that slows down or speeds up between rounds moves both
  alike, and a one-off cost of one round (``--compile`` compiling a new shape) stays out.
  The replays of an image's modes run **interleaved** as the modes did, each after another
  mode's, so that a replay finds the caches as cold as its mode did; in the first round each
  mode's calls are also replayed right after it ran, warm (``warm overhead``, over the
  per-batch median times: what a one-mode run's overhead looks like, and how the benchmark
  measured it before).
* Python's garbage collector is paused during the timed rounds (as ``timeit`` does).
* The model's own cost is printed beside the modes: one cached decoder step and one full
  pass over a caption-length input, each timed alone.
"""
import argparse
import contextlib
import copy
import gc
import inspect
import math
import os
import time

import numpy as np
import torch

from saic_fairseq.caption_text import caption_text
from saic_fairseq.captioning import caption_samples

#: (label, --decoding, beam, outline_beam, fill_beam, iterations[, fill_iterations])
TABLE2_MODES = [
    ("AIC b5", "aic", 5, None, None, None),
    ("AIC b1", "aic", 1, None, None, None),
    ("SAIC 5/5", "saic", None, 5, 5, None),
    ("SAIC 5/1", "saic", None, 5, 1, None),
    ("SAIC 1/1", "saic", None, 1, 1, None),
    ("NAIC", "naic", None, None, 1, None),
    ("IR-NAIC I=3", "ir-naic", None, None, 1, 3),
    ("IR-NAIC I=5", "ir-naic", None, None, 1, 5),
]
#: beyond the paper: SAIC with r Filler refinement passes (--fill-iterations)
REFINED_MODES = [("SAIC 1/1 r=1", "saic", None, 1, 1, None, 1), ("SAIC 1/1 r=2", "saic", None, 1, 1, None, 2)]
#: IR-NAIC trying 3 lengths per image (mask-predict's length beam): the fair IR-NAIC baseline
LENGTH_BEAM_MODES = [("IR-NAIC I=5 L=3", "ir-naic", None, None, 3, 5)]
MODES = TABLE2_MODES + REFINED_MODES + LENGTH_BEAM_MODES
#: batch size of the untimed captioning that extends quality beyond the timed images
QUALITY_BATCH = 50
QUALITY = ["BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
COLUMNS = ["mode", "ms mean", "ms p50", "ms p90", "x vs AIC b5", "spread b5", "x vs AIC b1", "spread b1", "calls",
           "bound", "ms/call", "bare ms", "overhead", "overhead spread", "warm overhead", "captions/s"] + QUALITY


def step_bound(decoding, words, group_size, iterations, fill_iterations=0, outline_from_length=False):
    """Sequential decoder calls the mode needs for a caption of ``words`` words
    (``outline_from_length``: a SAIC Outliner that makes no ``</s>`` step, ``--outline-length
    length-head``)."""
    if decoding == "aic":
        return words + 1
    if decoding == "saic":
        outline = math.ceil(words / group_size) if outline_from_length else math.ceil((words + 1) / group_size)
        return outline + 1 + fill_iterations
    return 1 if decoding == "naic" else iterations


def per_mode(mode, value, aic_value):
    """What an AIC ``mode`` is decoded with when ``aic_value`` is given (the AIC model, its own
    length penalty), else ``value``."""
    return aic_value if aic_value is not None and mode[1] == "aic" else value


def mode_generator(task, model, mode, lenpen=1.0, **options):
    """The generator of one ``mode`` tuple; ``lenpen``: the length penalty of its beam search
    and of SAIC's eq. 10 (score / length ** lenpen); ``options``: build_caption_generator's
    keep_repeats, outline_length, decoder_step, compile."""
    from saic_fairseq.generators import build_caption_generator

    _, decoding, beam, outline_beam, fill_beam, iterations = mode[:6]
    return build_caption_generator(task, [model], argparse.Namespace(beam=beam or 1, lenpen=lenpen), decoding,
                                   outline_beam, fill_beam, iterations,
                                   fill_iterations=mode[6] if len(mode) > 6 else 0, **options)


class Clock:
    """perf_counter with the device synchronised before each reading (CUDA runs asynchronously)."""

    def __init__(self, device):
        self.sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)

    def __call__(self):
        self.sync()
        return time.perf_counter()


@contextlib.contextmanager
def paused_garbage_collection():
    """Python's garbage collector off while timing (as ``timeit`` does): a collection of a test
    session's or a long run's objects takes tens of milliseconds and would land on whichever
    mode or replay happens to allocate when it triggers. Collected once on leaving."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


@torch.no_grad()
def replay_bare(model, sample, recorded, clock, heads=()):
    """Seconds of the encoder on ``sample`` plus each recorded decoder call run again alone,
    and each recorded (head name, argument) call (``DecoderCallCounter.heads``: vocabulary
    projections of ``features_only`` passes, the length head).

    Cached calls get a fresh cache per search (the recorded cache object identifies it, whether
    it was passed by keyword or by position, as the Outliner's model view does); the recorded
    caches themselves are never touched. A cache whose search shrank its batch is cut to the new
    rows untimed, like the reorder a search does between steps (search bookkeeping, not model
    cost)."""
    from saic_fairseq.modules.static_cache import StaticCache

    decoder = model.decoder
    signature = inspect.signature(decoder.forward)
    start = clock()
    model.encoder.forward_torchscript(sample["net_input"])
    total = clock() - start
    caches = {}
    for args, kwargs in recorded:
        call = signature.bind(*args, **kwargs)
        state = call.arguments.get("incremental_state")
        if isinstance(state, StaticCache):
            if id(state) not in caches:
                caches[id(state)] = state.fresh()
            cache = caches[id(state)]
            call.arguments["incremental_state"] = cache
            rows = call.arguments["prev_output_tokens"].size(0)
            if cache.batch != rows:
                kept = torch.arange(rows, device=sample["id"].device)
                cache.reorder(kept, images=kept)
        elif state is not None:
            cache = caches.setdefault(id(state), {})
            call.arguments["incremental_state"] = cache
            rows, cached_rows = call.arguments["prev_output_tokens"].size(0), _cached_rows(cache)
            if cached_rows is not None and cached_rows != rows:
                decoder.reorder_incremental_state_scripting(cache, torch.arange(rows, device=sample["id"].device))
        start = clock()
        decoder.forward(*call.args, **call.kwargs)
        total += clock() - start
    for name, argument in heads:
        start = clock()
        getattr(decoder, name)(argument)
        total += clock() - start
    return total


def _cached_rows(cache):
    for value in cache.values():
        if isinstance(value, dict) and value.get("prev_key") is not None:
            return value["prev_key"].size(0)
    return None


#: the decoder-call implementations model_costs times: fairseq's incremental state, the static
#: cache (modules/static_cache.py), and that step compiled (--compile; modules/compiled_step.py)
IMPLEMENTATIONS = ("incremental", "static", "compiled")


@torch.no_grad()
def model_costs(model, sample, words, clock, repeats=20, compiled=False):
    """Milliseconds of one cached decoder step (mean over a caption of ``words`` steps) and of
    one full bidirectional pass over ``words`` tokens, at the sample's batch size, in each
    implementation (interleaved, medians over ``repeats``): "incremental" (fairseq's
    incremental state; the full pass projects the image's keys and values), "static" (a
    StaticCache; the full pass reads an ImageMemory) and, with ``compiled``, "compiled"
    (``--compile``: the step, and on a CPU the memory pass, compiled; the model's decoder must
    have been compiled). Returns
    {"cached step ms", "full pass ms"} of the fastest path used, "image ms" (the encoder and
    the projection of the image's keys and values: every mode's fixed cost per batch) and
    "implementations": one dict per implementation."""
    from saic_fairseq.modules.outliner_filler_layout import BIDIRECTIONAL
    from saic_fairseq.modules.static_cache import StaticCache

    decoder = model.decoder
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    rows = encoder_out["encoder_out"][0].size(1)
    device = encoder_out["encoder_out"][0].device
    tokens = torch.full((rows, words), decoder.dictionary.unk(), dtype=torch.long, device=device)
    positions = [torch.tensor([t], device=device) for t in range(words)]
    memory = decoder.image_memory(encoder_out)
    runner = getattr(decoder, "compiled_step", None)
    names = [n for n in IMPLEMENTATIONS if n != "compiled" or (compiled and runner is not None)]
    times = {name: ([], []) for name in names}
    image = []

    def steps(name):
        if name == "incremental":
            cache = {}
            for t in range(1, words + 1):
                decoder(tokens[:, :t], encoder_out, incremental_state=cache)
            return
        cache = StaticCache(decoder, memory, words)
        for t in range(words):
            decoder(tokens[:, t : t + 1], None, incremental_state=cache, positions=positions[t])

    def full_pass(name):
        if name == "incremental":
            decoder(tokens, encoder_out, self_attn_layout=BIDIRECTIONAL)
        else:  # the memory pass, compiled under --compile on a CPU
            decoder(tokens, encoder_out, self_attn_layout=BIDIRECTIONAL, memory=memory)

    for _ in range(repeats):
        start = clock()
        decoder.image_memory(model.encoder.forward_torchscript(sample["net_input"]))
        image.append(clock() - start)
        for name in names:
            decoder.compiled_step = runner if name == "compiled" else None
            try:
                start = clock()
                steps(name)
                times[name][0].append((clock() - start) / words)
                start = clock()
                full_pass(name)
                times[name][1].append(clock() - start)
            finally:
                decoder.compiled_step = runner
    table = [{"implementation": name, "cached step ms": 1000 * float(np.median(step)),
              "full pass ms": 1000 * float(np.median(full))} for name, (step, full) in times.items()]
    for row in table:
        row["x incremental step"] = row["cached step ms"] / table[0]["cached step ms"]
        row["x incremental pass"] = row["full pass ms"] / table[0]["full pass ms"]
    fastest = table[-1]
    return {"cached step ms": fastest["cached step ms"], "full pass ms": fastest["full pass ms"],
            "image ms": 1000 * float(np.median(image)), "implementations": table}


def run_benchmark(task, model, split, images, batch_size, warmup, device, modes=TABLE2_MODES, quality=True,
                  rounds=3, seed=0, progress=None, aic_model=None, quality_images=None, compare_incremental=False,
                  lenpen=1.0, aic_lenpen=None, **options):
    """Rows of the benchmark table (dicts with COLUMNS), in ``modes`` order, and the model's
    bare costs (:func:`model_costs`). ``aic_model`` (e.g. the AIC teacher) decodes the AIC
    modes instead of ``model`` when given. Quality is scored on the first ``quality_images``
    images (default ``images``): the timed images' captions, then the remaining images
    captioned untimed in batches of :data:`QUALITY_BATCH` (latency on a few hundred images at
    batch 1, quality on many more). ``options``: build_caption_generator's keep_repeats,
    outline_length, decoder_step, compile. ``compare_incremental``: every mode also runs on
    ``--decoder-step incremental`` (rows labelled "... (incremental)", interleaved with the
    others), and each row says on how many images both give the same caption
    ("same as incremental"). ``lenpen``: every mode's length penalty; ``aic_lenpen`` (default
    ``lenpen``): the AIC modes' (two models, each with the penalty chosen for it)."""
    from fairseq import utils

    from saic_fairseq.generators.decoder_call_counter import DecoderCallCounter

    dataset = task.dataset(split)
    count = min(images, len(dataset))
    batches = [utils.apply_to_sample(lambda t: t.to(device), b) for b in dataset.batches(count, batch_size)]
    steps = [options.get("decoder_step")] * len(modes)
    models = [per_mode(mode, model, aic_model) for mode in modes]
    if compare_incremental:  # under --compile on copies: it compiles the encoder of the models it decodes
        copies = {id(m): copy.deepcopy(m) if options.get("compile") else m for m in models}
        models += [copies[id(m)] for m in models]
        modes = list(modes) + [(f"{mode[0]} (incremental)", *mode[1:]) for mode in modes]
        steps += ["incremental"] * (len(modes) - len(steps))
    lenpens = [per_mode(mode, lenpen, aic_lenpen) for mode in modes]
    generators = [mode_generator(task, m, mode, lenpen=penalty, **{**options, "decoder_step": step})
                  for m, mode, step, penalty in zip(models, modes, steps, lenpens)]
    clock = Clock(device)
    with torch.no_grad():
        for generator, m in zip(generators, models):
            for sample in batches[:warmup]:
                generator.generate([m], sample)
    rng = np.random.default_rng(seed)
    seconds = np.zeros((rounds, len(modes), len(batches)))
    bare = np.zeros((rounds, len(modes), len(batches)))  # every round: replays interleaved as the modes ran
    warm = np.zeros((len(modes), len(batches)))  # first round only: each replay right after its mode
    calls = np.zeros((len(modes), len(batches)))
    hypotheses = [dict() for _ in modes]
    with torch.no_grad(), paused_garbage_collection():
        for r in range(rounds):
            for b, sample in enumerate(batches):
                recorded = {}
                for m in rng.permutation(len(modes)):
                    with DecoderCallCounter(models[m].decoder, record=True) as counter:
                        start = clock()
                        hypos = generators[m].generate([models[m]], sample)
                        seconds[r, m, b] = clock() - start
                    recorded[m] = counter
                    if r == 0:
                        warm[m, b] = replay_bare(models[m], sample, counter.recorded, clock, counter.heads)
                        calls[m, b] = counter.count
                        for image_id, sentence in zip(sample["image_id"].tolist(), hypos):
                            hypotheses[m][str(image_id)] = caption_text(task.target_dictionary,
                                                                        sentence[0]["tokens"])
                for m in rng.permutation(len(modes)):  # the replays interleaved, as the modes ran
                    bare[r, m, b] = replay_bare(models[m], sample, recorded[m].recorded, clock, recorded[m].heads)
                if progress:
                    progress()
    costs = model_costs(model, batches[0], 12, clock, compiled=bool(options.get("compile")))
    rows = [summarise(mode, seconds[:, m], bare[:, m], calls[m], hypotheses[m], count, task.cfg.group_size,
                      task.cfg.iterations, outline_from_length(generators[m]), warm[m]) for m, mode in enumerate(modes)]
    if quality:  # the images beyond the timed ones, captioned untimed
        extra = [utils.apply_to_sample(lambda t: t.to(device), b) for b in
                 dataset.batches(min(max(quality_images or 0, count), len(dataset)), QUALITY_BATCH, start=count)]
        for row, generator, m in zip(rows, generators, models):
            for image_ids, hypos in caption_samples(generator, m, extra):
                row["captions"].update((str(i), caption_text(task.target_dictionary, h[0]["tokens"]))
                                       for i, h in zip(image_ids, hypos))
    labels = [mode[0] for mode in modes]
    for reference in ("AIC b5", "AIC b1"):
        if reference in labels:
            totals = seconds.sum(-1)  # (rounds, modes)
            ratios = totals[:, [labels.index(reference)]] / totals  # per round, measured together
            for m, row in enumerate(rows):
                row[f"x vs {reference}"] = float(np.median(ratios[:, m]))
                row[f"spread {reference[-2:]}"] = f"{ratios[:, m].min():.2f}-{ratios[:, m].max():.2f}"
    if compare_incremental:
        half = len(rows) // 2
        for row, old in zip(rows[:half], rows[half:]):
            same = sum(row["captions"][i] == old["captions"].get(i) for i in row["captions"])
            row["same as incremental"] = old["same as incremental"] = f"{same}/{len(row['captions'])}"
    if quality:
        add_quality(task, split, rows)
    return rows, costs


def outline_from_length(generator):
    """True for a SAIC generator whose greedy Outliner takes its word count from the length head."""
    return getattr(generator, "counts_outline_words", False)


def summarise(mode, seconds, bare, calls, captions, count, group_size, iterations, from_length=False, warm=None):
    """One table row from a mode's (rounds, batches) times, its (rounds, batches) bare times and
    its (batches,) calls; the overhead is the median over rounds of the round's time over the
    round's bare time (``warm``: the first round's (batches,) bare times replayed right after
    the mode, over which the per-batch median times give the warm overhead; default the first
    round's ``bare``)."""
    warm = bare[0] if warm is None else warm
    per_batch = np.median(seconds, axis=0)
    overheads = seconds.sum(axis=1) / bare.sum(axis=1)  # per round
    words = [len(c.split()) for c in captions.values()]
    refine = mode[6] if len(mode) > 6 else 0
    bound = np.mean([step_bound(mode[1], n, group_size, mode[5] or iterations, refine, from_length) for n in words])
    return {"mode": mode[0], "ms mean": 1000 * per_batch.mean(), "ms p50": 1000 * np.percentile(per_batch, 50),
            "ms p90": 1000 * np.percentile(per_batch, 90), "calls": float(calls.mean()), "bound": float(bound),
            "ms/call": 1000 * per_batch.sum() / calls.sum(), "bare ms": 1000 * float(np.median(bare.mean(axis=1))),
            "overhead": float(np.median(overheads)), "overhead spread": f"{overheads.min():.2f}-{overheads.max():.2f}",
            "warm overhead": float(per_batch.sum() / warm.sum()),
            "captions/s": count / per_batch.sum(), "captions": captions}


def add_quality(task, split, rows):
    """COCO metrics of each row's captions against the split's references."""
    from saic_fairseq.evaluation.coco_metrics import coco_scores_of_runs
    from saic_fairseq.evaluation.reference_captions import read_references

    references = read_references(os.path.join(task.cfg.data, f"{split}.refs.json"))
    scored = coco_scores_of_runs(references, {row["mode"]: row["captions"] for row in rows}, spice=False)
    for row in rows:
        row.update({m: 100 * scored[row["mode"]][0][m] for m in QUALITY})


def example_captions(rows, references, count):
    """Fig. 4: for the first ``count`` images, the references beside every mode's caption."""
    ids = list(rows[0]["captions"])[:count]
    return [{"image id": i, "references": references[i], **{r["mode"]: r["captions"][i] for r in rows}} for i in ids]
