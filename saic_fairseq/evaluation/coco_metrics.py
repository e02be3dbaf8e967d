"""COCO caption metrics with pycocoevalcap's own scorers and PTB tokenizer.

``COCOEvalCap.evaluate()`` always builds SPICE, which downloads Stanford CoreNLP on first use
and so crashes offline; the scorers are called directly instead, and SPICE runs only when the
CoreNLP 3.6.0 jars are where pycocoevalcap looks for them.
"""
import contextlib
import io
import os

METRICS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE"]


def spice_missing_jars():
    """Paths of the Stanford CoreNLP jars SPICE needs that are not installed (empty: SPICE works)."""
    from pycocoevalcap.spice import spice

    lib = os.path.join(os.path.dirname(spice.__file__), "lib")
    jars = [os.path.join(lib, name) for name in ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")]
    return [jar for jar in jars if not os.path.exists(jar)]


def coco_scores(references, captions, spice=True, only=None):
    """Corpus scores, as fractions (CIDEr 1.0 = 100 in papers).

    Args:
        references: {image id: [raw reference captions]}.
        captions: {image id: one generated caption}; every id must have references.
        spice: compute SPICE when its jars are installed.
        only: optional metric names; scorers that give none of them are skipped (speed).
    Returns:
        ({metric: score}, {metric: per-image list}, note): ``note`` says why SPICE is absent.
    """
    return coco_scores_of_runs(references, {None: captions}, spice, only)[None]


def coco_scores_of_runs(references, runs, spice=True, only=None):
    """:func:`coco_scores` of several caption sets at once, {name: that function's result}:
    the same numbers, but the Java tools (PTB tokenizer, METEOR, SPICE) start once for all
    sets instead of once per set (what a table of decoding modes needs).

    Args:
        references: {image id: [raw reference captions]}.
        runs: {name: {image id: one generated caption}}.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    ids = {name: sorted(captions, key=str) for name, captions in runs.items()}
    needed = sorted({i for run_ids in ids.values() for i in run_ids}, key=str)
    tokenizer = PTBTokenizer()
    all_gts = tokenizer.tokenize({i: [{"caption": c} for c in references[i]] for i in needed})
    all_res = tokenizer.tokenize({(name, i): [{"caption": runs[name][i]}] for name in runs for i in ids[name]})
    # scorer classes (made once below, after the filter: one METEOR / SPICE process for all sets)
    scorers = [(lambda: Bleu(4), ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]), (Meteor, ["METEOR"]),
               (Rouge, ["ROUGE-L"]), (Cider, ["CIDEr"])]
    if only is not None:
        scorers = [(scorer, names) for scorer, names in scorers if set(names) & set(only)]
        spice = spice and "SPICE" in only
    note = None
    if spice:
        missing = spice_missing_jars()
        if missing:
            note = ("SPICE skipped: Stanford CoreNLP 3.6.0 is not installed (missing "
                    + ", ".join(missing) + "); copy those jars there to enable it")
        else:
            from pycocoevalcap.spice.spice import Spice

            scorers.append((Spice, ["SPICE"]))
    scorers = [(make(), names) for make, names in scorers]
    results = {}
    for name in runs:
        gts = {i: all_gts[i] for i in ids[name]}
        res = {i: all_res[(name, i)] for i in ids[name]}
        totals, per_image = {}, {}
        for scorer, names in scorers:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocoevalcap's BLEU prints its counts
                score, scores = scorer.compute_score(gts, res)
            if len(names) == 1:
                score, scores = [score], [scores]
            for metric, value, values in zip(names, score, scores):
                totals[metric] = float(value)
                per_image[metric] = [float(v["All"]["f"]) if isinstance(v, dict) else float(v) for v in values]
        results[name] = (totals, per_image, note)
    return results
