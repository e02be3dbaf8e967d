"""What one training update costs: the AIC teacher's criterion against ``saic_loss`` on the
same model and the same batches, interleaved (what ``saic-benchmark --training`` prints).

An update is forward + backward + an Adam step, timed alone (the batch is ready); the batch's
preparation (feature reads and collation, fairseq's iterator) is timed separately on a first
pass over the batches and on a second one.
"""
import time

import numpy as np
import torch

COLUMNS = ["criterion", "ms/update", "updates/s", "words/s", "x teacher", "spread"]


def training_batches(task, count, max_tokens, seed=1):
    """The first ``count`` training batches as fairseq batches them, and the seconds per batch
    of producing them on a first and on a second pass."""
    dataset = task.dataset("train")
    timings = []
    for _ in range(2):
        itr = task.get_batch_iterator(dataset, max_tokens=max_tokens, max_positions=task.max_positions(),
                                      seed=seed).next_epoch_itr(shuffle=True)
        batches, start = [], time.perf_counter()
        for sample in itr:
            batches.append(sample)
            if len(batches) == count:
                break
        timings.append((time.perf_counter() - start) / len(batches))
    return batches, timings


def criteria(task):
    """{name: criterion}: fairseq's label-smoothed cross entropy (the teacher's, on the raw
    captions), and saic_loss as the demo trains it (on the teacher's captions where they exist,
    ``--distillation sequence-level``) with every sentence on {AIC, NAIC} (p_g = 0, the
    curriculum's start) and on {Outliner, Filler} (p_g = 1, its end); the curriculum's updates
    lie between the two."""
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion

    from saic_fairseq.criterions.saic_loss import SAICLoss

    has_teacher = task.dataset("train").distill is not None
    named = {"teacher (label_smoothed_cross_entropy)": LabelSmoothedCrossEntropyCriterion(task, False, 0.1)}
    for p_g in (0.0, 1.0):
        named[f"saic_loss p_g={p_g:g}"] = SAICLoss(
            task, label_smoothing=0.1, distillation="sequence-level" if has_teacher else "raw", p_hybr=0.5,
            curriculum_lambda=1.0, curriculum_updates=0, fixed_p_g=p_g, length_loss_factor=0.1, seed=1,
            max_update=1000)
    return named


def run_training_benchmark(task, model, batches, rounds=3, seed=0, progress=None):
    """Rows of COLUMNS: per criterion the median over rounds of its update time, and its ratio
    to the teacher's update on the same batches in the same round."""
    named = criteria(task)
    names = list(named)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    model.train()
    seconds = np.zeros((rounds, len(names), len(batches)))
    rng = np.random.default_rng(seed)
    for sample in batches[:2]:  # warm-up
        for name in names:
            update(model, named[name], optimizer, sample)
    for r in range(rounds):
        for b, sample in enumerate(batches):
            for c in rng.permutation(len(names)):
                seconds[r, c, b] = update(model, named[names[c]], optimizer, sample)
            if progress:
                progress()
    words = sum(int(s["ntokens"]) for s in batches)
    totals = seconds.sum(-1)  # (rounds, criteria)
    ratios = totals / totals[:, [0]]
    rows = []
    for c, name in enumerate(names):
        total = float(np.median(totals[:, c]))
        rows.append({"criterion": name, "ms/update": 1000 * total / len(batches), "updates/s": len(batches) / total,
                     "words/s": words / total, "x teacher": float(np.median(ratios[:, c])),
                     "spread": f"{ratios[:, c].min():.2f}-{ratios[:, c].max():.2f}"})
    return rows


def update(model, criterion, optimizer, sample):
    """Seconds of one forward + backward + optimizer step."""
    start = time.perf_counter()
    optimizer.zero_grad()
    loss, sample_size, _ = criterion(model, sample)
    (loss / max(sample_size, 1)).backward()
    optimizer.step()
    return time.perf_counter() - start
