"""COCO metrics wrapper (known pycocoevalcap numbers), corpus CIDEr-D, caption readers."""
import pytest

from saic_fairseq.errors import SAICInputError
from saic_fairseq.evaluation.coco_metrics import coco_scores
from saic_fairseq.evaluation.corpus_cider import CorpusCiderD
from saic_fairseq.evaluation.generate_output import read_captions

REFS = {
    "1": ["A man is riding a horse on the beach.", "A person rides a brown horse near the ocean.",
          "Someone on horseback by the sea."],
    "2": ["Two dogs play with a red ball in the grass.", "A pair of dogs chasing a ball on a lawn.",
          "Dogs running after a ball."],
    "3": ["A plate of pasta with tomato sauce.", "Spaghetti with red sauce on a white plate.",
          "A dish of noodles and sauce."],
}
CAPTIONS = {"1": "a man riding a horse on the beach", "2": "two dogs playing with a ball on the grass",
            "3": "a plate of spaghetti with sauce"}
# pycocoevalcap 1.2 (Java PTB tokenizer, METEOR 1.5) on the input above
KNOWN = {"BLEU-1": 0.876860, "BLEU-2": 0.750122, "BLEU-3": 0.566761, "BLEU-4": 0.434868,
         "METEOR": 0.394734, "ROUGE-L": 0.806640, "CIDEr": 2.180643}


@pytest.fixture(scope="module")
def scored():
    return coco_scores(REFS, CAPTIONS)


def test_coco_metrics_match_known_pycocoevalcap_numbers(scored):
    totals, per_image, _ = scored
    assert set(totals) == set(KNOWN)
    for metric, value in KNOWN.items():
        assert totals[metric] == pytest.approx(value, abs=1e-5), metric
    assert len(per_image["CIDEr"]) == 3


def test_several_caption_sets_scored_at_once_equal_each_scored_alone(scored):
    """coco_scores_of_runs starts the Java tools once for all sets; the numbers are unchanged,
    also for a set over fewer images (its CIDEr-D document frequencies are its own)."""
    from saic_fairseq.evaluation.coco_metrics import coco_scores_of_runs

    other = {"1": "a horse on the beach", "2": "dogs dogs in the grass"}
    runs = coco_scores_of_runs(REFS, {"known": CAPTIONS, "other": other}, spice=False)
    assert runs["known"][0] == {m: v for m, v in scored[0].items() if m != "SPICE"}
    assert runs["known"][1] == {m: v for m, v in scored[1].items() if m != "SPICE"}
    assert runs["other"][:2] == coco_scores(REFS, other, spice=False)[:2]


def test_spice_says_what_is_missing(scored):
    from saic_fairseq.evaluation.coco_metrics import spice_missing_jars

    note = scored[2]
    if spice_missing_jars():
        assert "SPICE skipped" in note and "stanford-corenlp-3.6.0-models.jar" in note
    else:
        assert note is None and "SPICE" in scored[0]


def test_corpus_cider_equals_pycocoevalcap_when_the_corpus_is_the_scored_set():
    from pycocoevalcap.cider.cider import Cider

    from saic_fairseq.data.coco_captions import karpathy_tokenize

    refs = {k: [" ".join(karpathy_tokenize(r)) for r in v] for k, v in REFS.items()}
    caps = {k: [v] for k, v in CAPTIONS.items()}
    expected_mean, expected = Cider().compute_score(refs, caps)
    ours = CorpusCiderD(refs.values()).scores([CAPTIONS[k] for k in refs], list(refs.values()))
    assert ours.tolist() == pytest.approx(list(expected), abs=1e-9)
    # with a fixed corpus, one image's score no longer depends on which others are scored
    alone = CorpusCiderD(refs.values()).scores([CAPTIONS["2"]], [refs["2"]])
    assert alone[0] == pytest.approx(expected[1], abs=1e-9)


def test_read_fairseq_generate_output(tmp_path):
    ids = [7, 7, 9, 9, 9, 4]  # caption lines of a split
    out = tmp_path / "gen.txt"
    out.write_text("T-1\tx\nH-1\t-0.5\ta cat\nD-1\t-0.5\ta cat\nH-0\t-0.2\ta dog\nH-2\t-0.1\ta bird\n")
    assert read_captions(out, ids) == {7: "a dog", 9: "a cat", 4: "a bird"}  # --unique-images order
    out.write_text("".join(f"H-{i}\t-1\tcap {i}\n" for i in range(6)))
    assert read_captions(out, ids) == {7: "cap 0", 9: "cap 2", 4: "cap 5"}  # every line; first per image wins


def test_read_plain_captions_and_errors(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text("391895\ta man on a bike\n7\ta cat\n")
    assert read_captions(plain) == {391895: "a man on a bike", 7: "a cat"}
    plain.write_text("abc\tsomething\n")
    with pytest.raises(SAICInputError, match=r"plain.tsv, line 1: not 'image_id<TAB>caption'"):
        read_captions(plain)
    gen = tmp_path / "gen.txt"
    gen.write_text("H-0\t-1\tx\n")
    with pytest.raises(SAICInputError, match="needs the split's .ids file"):
        read_captions(gen)
    gen.write_text("H-40\t-1\tx\n")
    with pytest.raises(SAICInputError, match="sample id 40 is past the 3 caption lines"):
        read_captions(gen, [1, 2, 3])
