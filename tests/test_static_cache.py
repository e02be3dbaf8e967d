"""The static-cache decoder step and our beam search against the paths they replace: the same
logits as fairseq's incremental state (bit for bit on this CPU), the same hypotheses, scores and
order as fairseq's SequenceGenerator, the same captions in every mode."""
import argparse
import math

import pytest
import torch

from conftest import first_batch, trained_task_and_model
from saic_fairseq.generators import build_caption_generator
from saic_fairseq.generators.aic_generator import AICSequenceGenerator
from saic_fairseq.generators.beam_search import BeamGenerator, BeamSearch
from saic_fairseq.generators.outliner_model import OutlinerModel
from saic_fairseq.generators.saic_generator import merge_fills
from saic_fairseq.modules.outliner_filler_layout import BIDIRECTIONAL, layout_of
from saic_fairseq.modules.static_cache import ImageMemory, StaticCache, full_width_step
from test_decoder_equivalence import encode, random_tokens


@pytest.fixture(scope="module")
def k3(proxy_data, trained_state):
    return trained_task_and_model(proxy_data, trained_state, 3, ["--outline-beam", "4", "--fill-beam", "2"])


def gen_args(beam, **options):
    defaults = dict(max_len_a=0, max_len_b=200, min_len=1, unnormalized=False, lenpen=1.0, unkpen=0.0,
                    temperature=1.0, no_repeat_ngram_size=0)
    return argparse.Namespace(beam=beam, **{**defaults, **options})


@pytest.mark.parametrize("stride", [1, 3])  # AIC positions, Outliner positions (k = 3)
def test_static_step_equals_incremental_step_through_a_beam_reorder(k3, stride):
    """Step for step the same logits as fairseq's incremental state, before and after a beam
    reorder (rows stay with their image, as in a beam), padded image regions included."""
    task, model = k3
    decoder = model.decoder
    rows = torch.arange(3).repeat_interleave(2)  # 3 images x 2 hypotheses
    enc = model.encoder.reorder_encoder_out(encode(model, dim=16), rows)
    tokens = random_tokens(task, 6, 9)
    positions = torch.arange(9) * stride
    incremental, static = {}, StaticCache(decoder, ImageMemory.of(decoder, enc), 10)
    assert static.memory.mask is not None  # the padded regions are masked
    order = torch.tensor([1, 1, 2, 3, 5, 4])
    with torch.no_grad():
        for t in range(9):
            if t == 5:
                decoder.reorder_incremental_state_scripting(incremental, order)
                static.reorder(order)
            expected, _ = decoder(tokens[:, : t + 1], enc, incremental_state=incremental, positions=positions[: t + 1])
            got, _ = decoder(tokens[:, t : t + 1], None, incremental_state=static, positions=positions[t : t + 1])
            assert got.shape == expected.shape == (6, 1, len(task.target_dictionary))
            assert torch.equal(got, expected), f"step {t}: {(got - expected).abs().max()}"
    assert static.length == 9


def test_full_width_step_equals_static_step(k3):
    """The compile / CUDA-graph step (every cache slot, the empty ones masked) gives the
    sliced step's logits within 1e-5 and writes the same cache."""
    task, model = k3
    decoder = model.decoder
    memory = ImageMemory.of(decoder, encode(model, dim=16))
    tokens, positions = random_tokens(task, 3, 7), torch.arange(7) * 3
    sliced, full = StaticCache(decoder, memory, 8), StaticCache(decoder, memory, 8)
    full.self_kv.zero_()  # zeroed, as the runner's buffers are: its empty slots are read (times 0)
    with torch.no_grad():
        for t in range(7):
            expected, _ = decoder(tokens[:, t : t + 1], None, incremental_state=sliced, positions=positions[t : t + 1])
            got = full_width_step(decoder, full.self_kv, full.positions, memory.keys, memory.values, memory.mask,
                                  tokens[:, t : t + 1], torch.tensor([t]), positions[t : t + 1])
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(full.self_kv[:, :, :, :, :7], sliced.self_kv[:, :, :, :, :7], atol=1e-6, rtol=0)
    assert torch.equal(full.positions[:7], sliced.positions[:7])


@pytest.mark.parametrize("layout", ["bidirectional-padded", "causal"])
def test_memory_pass_equals_full_pass(k3, layout):
    """A full pass reading the projected-once image memory = the decoder's own full pass."""
    task, model = k3
    enc = encode(model, dim=16)
    tokens = random_tokens(task, 3, 8)
    kwargs = {}
    if layout == "bidirectional-padded":
        tokens[1, 5:] = task.target_dictionary.pad()
        kwargs = {"self_attn_layout": BIDIRECTIONAL}
    with torch.no_grad():
        expected, _ = model.decoder(tokens, enc, **kwargs)
        got, _ = model.decoder(tokens, enc, memory=ImageMemory.of(model.decoder, enc), **kwargs)
    assert torch.equal(got, expected)


def test_static_cache_refuses_what_it_cannot_decode(k3):
    task, model = k3
    enc = encode(model, dim=16)
    cache = StaticCache(model.decoder, ImageMemory.of(model.decoder, enc), 1)
    tokens = random_tokens(task, 3, 2)
    with torch.no_grad():
        model.decoder(tokens[:, :1], None, incremental_state=cache, positions=torch.tensor([0]))
        with pytest.raises(ValueError, match="holds 1 steps; step 2 does not fit"):
            model.decoder(tokens[:, 1:], None, incremental_state=cache, positions=torch.tensor([1]))
        with pytest.raises(ValueError, match="positions shared by the batch"):
            model.decoder(tokens, None, incremental_state=cache.fresh(), positions=torch.arange(2).repeat(3, 1))


def assert_same_hypotheses(got, expected):
    """Per sentence: the same number of hypotheses, in the same order, with the same tokens,
    scores and positional scores."""
    assert len(got) == len(expected)
    for g_hypos, e_hypos in zip(got, expected):
        assert len(g_hypos) == len(e_hypos)
        for g, e in zip(g_hypos, e_hypos):
            assert g["tokens"].tolist() == e["tokens"].tolist()
            assert float(g["score"]) == float(e["score"])
            assert torch.equal(g["positional_scores"], e["positional_scores"])


@pytest.mark.parametrize("group_size", [1, 3])
@pytest.mark.parametrize("beam", [2, 4])
@pytest.mark.parametrize("options", [{}, {"len_penalty": 0.5, "unk_penalty": 2.0, "min_len": 3},
                                     {"normalize_scores": False, "temperature": 0.7},
                                     {"len_penalty": 2.0, "unk_penalty": math.inf}])
def test_beam_search_equals_sequence_generator(proxy_data, trained_state, group_size, beam, options):
    """Our beam search, with its bookkeeping in tensors and in Python lists on the host, =
    fairseq's SequenceGenerator: the same hypotheses, scores, positional scores and order, at
    AIC positions and the Outliner's, with sentences that finish at different steps and some
    that hit the length limit."""
    task, model = trained_task_and_model(proxy_data, trained_state, group_size)
    lay = layout_of(task)
    sample = first_batch(task, batch_size=16)
    outliner = OutlinerModel(model, lay)
    max_len = {1: 6, 3: 3}[group_size]  # short enough that some hypotheses hit the limit
    fairseq_search = AICSequenceGenerator([outliner], task.target_dictionary, lay.bog, beam_size=beam, max_len_a=0,
                                          max_len_b=max_len, **options)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    outliner.encoder.encoder_out = encoder_out
    expected = fairseq_search.generate([outliner], sample)
    for bookkeeping in ("tensors", "host"):
        got = BeamSearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, beam, max_len,
                         bookkeeping=bookkeeping, **options).search(encoder_out)
        assert_same_hypotheses(got, expected)
    lengths = {len(h["tokens"]) for hypos in got for h in hypos}
    assert max_len + 1 in lengths  # the length limit is covered
    if not options:
        assert len(lengths) > 1  # and hypotheses that end early


def test_beam_search_keeps_its_books_on_the_host_for_small_cpu_batches(k3):
    """"auto" bookkeeping: Python lists for up to HOST_MAX_HYPOTHESES live hypotheses (sentences
    x beam) on a CPU, tensors beyond and on other devices; an unknown choice is refused by name."""
    from saic_fairseq.generators.greedy_search import HOST_MAX_HYPOTHESES, keeps_books_on_host

    assert HOST_MAX_HYPOTHESES == 20
    task, model = k3
    lay = layout_of(task)
    search = BeamSearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, 4, 5)
    assert search.on_host(1, "cpu") and search.on_host(5, "cpu")  # 4 x 5 = 20 hypotheses
    assert not search.on_host(6, "cpu") and not search.on_host(1, "cuda")
    assert keeps_books_on_host("auto", 20, "cpu") and not keeps_books_on_host("auto", 21, "cpu")  # greedy: 20 rows
    assert BeamSearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, 3, 5,
                      bookkeeping="host").on_host(100, "cuda")
    with pytest.raises(ValueError, match="bookkeeping must be one of auto, tensors, host, got 'lists'"):
        BeamSearch(model.decoder, task.target_dictionary, lay.bog, lay.outliner_positions, 3, 5, bookkeeping="lists")


def test_static_decoding_uses_our_searches_and_falls_back_to_fairseqs(k3):
    task, model = k3
    assert isinstance(build_caption_generator(task, [model], gen_args(4), decoding="aic"), BeamGenerator)
    assert build_caption_generator(task, [model], gen_args(4), decoding="saic").beam is not None
    blocked = gen_args(4, no_repeat_ngram_size=2)  # n-gram blocking: SequenceGenerator's
    assert isinstance(build_caption_generator(task, [model], blocked, decoding="aic"), AICSequenceGenerator)
    assert build_caption_generator(task, [model], blocked, decoding="saic").beam is None
    old = build_caption_generator(task, [model], gen_args(4), decoding="aic", decoder_step="incremental")
    assert isinstance(old, AICSequenceGenerator)
    with pytest.raises(ValueError, match="--decoder-step must be one of static, incremental, got 'fast'"):
        build_caption_generator(task, [model], gen_args(4), decoding="aic", decoder_step="fast")


MODES = [  # (decoding, beam, outline_beam, fill_beam, iterations, fill_iterations)
    ("aic", 4, None, None, None, 0), ("aic", 1, None, None, None, 0), ("saic", 1, 4, 2, None, 0),
    ("saic", 1, 4, 1, None, 0), ("saic", 1, 1, 1, None, 0), ("saic", 1, 1, 1, None, 2), ("naic", 1, None, 1, None, 0),
    ("ir-naic", 1, None, 1, 3, 0), ("ir-naic", 1, None, 3, 5, 0),
]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(str(x) for x in m))
def test_every_mode_gives_the_same_captions_on_both_decoder_steps(k3, mode):
    """--decoder-step static (the default) and incremental: the same hypotheses and scores."""
    task, model = k3
    decoding, beam, outline_beam, fill_beam, iterations, fill_iterations = mode
    sample = first_batch(task, batch_size=8)
    outputs = [build_caption_generator(task, [model], gen_args(beam), decoding, outline_beam, fill_beam, iterations,
                                       fill_iterations=fill_iterations, decoder_step=step).generate([model], sample)
               for step in ("incremental", "static")]
    for old, new in zip(*outputs):
        assert [h["tokens"].tolist() for h in new] == [h["tokens"].tolist() for h in old]
        assert [float(h["score"]) for h in new] == [float(h["score"]) for h in old]


def test_compiled_step_gives_the_static_captions(k3):
    """--compile (torch.compile of the full-width step, of the memory pass, of the encoder's
    states and of SAIC's merge on this CPU): the same AIC beam, SAIC and IR-NAIC captions as
    the eager static step, scores within 1e-5; the Filler's and IR-NAIC's full passes, every
    mode's encoder and SAIC's merge run through their compiled functions."""
    import copy

    task, model = k3
    compiled = copy.deepcopy(model)
    sample = first_batch(task, batch_size=4)
    ran = []

    def counted(name, function):
        def run(*args):
            ran.append(name)
            return function(*args)

        return run

    for decoding, beam in (("aic", 3), ("saic", 1), ("ir-naic", 1)):
        eager = build_caption_generator(task, [model], gen_args(beam), decoding, 1, 1).generate([model], sample)
        generator = build_caption_generator(task, [compiled], gen_args(beam), decoding, 1, 1, compile=True)
        runner = compiled.decoder.compiled_step
        assert runner is not None and runner.compiles_full_passes
        compiled_pass, compiled_states = runner.full_pass, compiled.encoder.compiled_states
        runner.full_pass = counted(f"{decoding} pass", compiled_pass)
        compiled.encoder.compiled_states = counted(f"{decoding} encoder", compiled_states)
        if decoding == "saic":
            assert generator._merge_fills is not merge_fills
            generator._merge_fills = counted("saic merge", generator._merge_fills)
        fast = generator.generate([compiled], sample)
        runner.full_pass, compiled.encoder.compiled_states = compiled_pass, compiled_states
        for e_hypos, f_hypos in zip(eager, fast):
            assert [h["tokens"].tolist() for h in f_hypos] == [h["tokens"].tolist() for h in e_hypos]
            for e, f in zip(e_hypos, f_hypos):
                torch.testing.assert_close(f["score"], e["score"], atol=1e-5, rtol=0)
    assert "aic pass" not in ran and {"saic pass", "ir-naic pass", "saic merge"} <= set(ran)
    assert {"aic encoder", "saic encoder", "ir-naic encoder"} <= set(ran)
    assert getattr(model.decoder, "compiled_step", None) is None  # only the model asked for is compiled
    assert getattr(model.encoder, "compiled_states", None) is None


def test_compiled_batch_one_steps_give_the_static_captions(k3):
    """At batch 1 a greedy step's projections are one-row products, which the compiled step
    decomposes into generated loops (STEP_OPTIONS): greedy AIC and SAIC 1/1 still write the
    eager static step's captions, scores within 1e-5, image by image."""
    import copy

    from saic_fairseq.modules.compiled_step import STEP_OPTIONS

    assert "decompose_mm_pass" in STEP_OPTIONS["post_grad_fusion_options"]
    task, model = k3
    compiled = copy.deepcopy(model)
    sample = first_batch(task, batch_size=2)
    images = [{"net_input": {k: v[row : row + 1] if torch.is_tensor(v) else v for k, v in sample["net_input"].items()}}
              for row in range(2)]
    for decoding in ("aic", "saic"):
        eager = build_caption_generator(task, [model], gen_args(1), decoding, 1, 1)
        fast = build_caption_generator(task, [compiled], gen_args(1), decoding, 1, 1, compile=True)
        for one in images:
            (e,), (f,) = eager.generate([model], one)[0], fast.generate([compiled], one)[0]
            assert f["tokens"].tolist() == e["tokens"].tolist()
            torch.testing.assert_close(f["score"], e["score"], atol=1e-5, rtol=0)


def test_compiled_step_leaves_large_caches_to_the_eager_step(k3):
    """On a CPU, --compile steps a cache compiled only while layers x rows x heads x T_max <=
    CPU_MAX_CELLS: a larger one takes the eager step (the same logits as without --compile, bit
    for bit), and a batch that shrinks under the limit moves to zeroed buffers that the compiled
    step can read."""
    from saic_fairseq.modules.compiled_step import CPU_MAX_CELLS, CompiledStep

    task, model = k3
    decoder = model.decoder
    memory = ImageMemory.of(decoder, encode(model, dim=16))  # 3 images
    rows = torch.arange(3).repeat_interleave(30)  # 90 rows
    tokens = random_tokens(task, 90, 2)
    plain = StaticCache(decoder, memory.select(rows), 40)
    decoder.compiled_step = CompiledStep(decoder)
    try:
        assert StaticCache(decoder, memory, 6).compiled  # 3 rows x 16 slots
        big = StaticCache(decoder, memory.select(rows), 40)
        cells = len(decoder.layers) * decoder.layers[0].self_attn.num_heads * 64
        assert big.max_steps == 64 and 90 * cells > CPU_MAX_CELLS >= 10 * cells and not big.compiled
        with torch.no_grad():
            for t in range(2):
                expected, _ = decoder(tokens[:, t : t + 1], None, incremental_state=plain, positions=torch.tensor([t]))
                got, _ = decoder(tokens[:, t : t + 1], None, incremental_state=big, positions=torch.tensor([t]))
                assert torch.equal(got, expected)
        kept = torch.arange(0, 90, 9)  # 10 rows: under the limit
        big.reorder(kept, images=kept)
        assert big.compiled and big.batch == 10
        assert torch.equal(big.self_kv[:, :, :, :, :2], plain.self_kv[:, :, kept, :, :2])
        assert not big.self_kv[:, :, :, :, 2:].any()
    finally:
        del decoder.compiled_step


def test_cuda_graph_caches_stay_in_place_and_are_reused(k3):
    """What CUDA graphs need of a cache, checked on the CPU: its buffers come from a pool (one
    per shape, zeroed for each new search: the graph captured on them is reused across calls),
    a beam reorder writes in place, a shrinking batch moves to the pool's buffer of the new
    shape, and the contents are those of an ordinary reorder."""
    from saic_fairseq.modules.compiled_step import CompiledStep

    task, model = k3
    decoder = model.decoder
    memory = ImageMemory.of(decoder, encode(model, dim=16))
    plain = StaticCache(decoder, memory, 6)
    plain.self_kv.normal_()
    plain.length = 5  # five steps written
    decoder.compiled_step = CompiledStep(decoder, cuda_graphs=True)
    try:
        pooled = StaticCache(decoder, memory, 6)
        assert pooled.max_steps == 16  # rounded up: searches of other lengths share its shape
        address = pooled.self_kv.data_ptr()
        pooled.self_kv.narrow(4, 0, 6).copy_(plain.self_kv)
        pooled.length = 5
        before = plain.self_kv.clone()
        order = torch.tensor([2, 0, 1])
        plain.reorder(order)
        pooled.reorder(order)
        assert pooled.self_kv.data_ptr() == address and torch.equal(pooled.self_kv[:, :, :, :, :6], plain.self_kv)
        assert torch.equal(plain.self_kv[:, :, :, :, :5], before[:, :, order, :, :5])
        assert all(layer.data_ptr() == kv.data_ptr() for layer, kv in zip(pooled.layers, pooled.self_kv.unbind(0)))
        kept = torch.tensor([2, 0])
        plain.reorder(kept, images=kept)
        pooled.reorder(kept, images=kept)
        assert pooled.batch == 2
        assert torch.equal(pooled.self_kv[:, :, :, :, :5], plain.self_kv[:, :, :, :, :5])
        assert torch.equal(plain.self_kv[:, :, :, :, :5], before[:, :, order[kept], :, :5])
        again = StaticCache(decoder, memory, 6)  # the next search of 3 images: the first buffer, zeroed
        assert again.self_kv.data_ptr() == address and not again.self_kv.any()
    finally:
        del decoder.compiled_step
