"""The decoder's paths agree: cached vs full (RPR included), short Outliner vs the paper's
full-length group mask, and relative-attention internals."""
import pytest
import torch

from conftest import setup_task_and_model
from saic_fairseq.modules.relative_self_attention import RelativeSelfAttention


@pytest.fixture(scope="module")
def tiny(proxy_data):
    task, model, _, _ = setup_task_and_model(proxy_data, group_size=3, extra=["--dropout", "0"])
    return task, model.eval()


def encode(model, batch=3, regions=5, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, regions, dim, generator=g)
    mask = torch.zeros(batch, regions, dtype=torch.bool)
    mask[0, -2:] = True  # padded regions in one row
    return model.encoder(features, mask)


def random_tokens(task, batch, length, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, len(task.target_dictionary) - 2, (batch, length), generator=g)


@pytest.mark.parametrize("stride", [1, 3])  # AIC positions, Outliner positions (k = 3)
def test_cached_incremental_decoding_equals_full_pass(tiny, stride):
    task, model = tiny
    enc = encode(model)
    tokens = random_tokens(task, 3, 9)
    positions = torch.arange(9) * stride
    with torch.no_grad():
        full, _ = model.decoder(tokens, enc, positions=positions)
        state = {}
        steps = [model.decoder(tokens[:, : t + 1], enc, incremental_state=state, positions=positions[: t + 1])[0]
                 for t in range(9)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)


def test_outliner_equals_full_length_group_mask(tiny):
    """Paper Fig. 3: the Outliner on the short sequence = the full-length decoder whose row i
    sees only group-first columns j <= i, read at the group-first rows."""
    task, model = tiny
    k, groups = 3, 4
    enc = encode(model)
    short = random_tokens(task, 3, groups, seed=2)
    full = random_tokens(task, 3, k * groups, seed=3)  # what sits between group-first slots is irrelevant
    full[:, ::k] = short
    length = k * groups
    i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
    group_mask = torch.zeros(length, length).masked_fill(~((j % k == 0) & (j <= i)), float("-inf"))
    with torch.no_grad():
        outliner, _ = model.decoder(short, enc, positions=torch.arange(groups) * k)
        masked, _ = model.decoder(full, enc, positions=torch.arange(length), self_attn_layout=group_mask)
    torch.testing.assert_close(outliner, masked[:, ::k], atol=1e-5, rtol=0)
    # and the relative positions matter: the same tokens at contiguous positions differ
    with torch.no_grad():
        contiguous, _ = model.decoder(short, enc, positions=torch.arange(groups))
    assert (contiguous - outliner).abs().max() > 1e-3


def test_relative_attention_matches_explicit_formula():
    """Gather/scatter over 2w+1 buckets == Shaw et al.'s per-pair formula (eqs. 6-8)."""
    torch.manual_seed(0)
    attn = RelativeSelfAttention(8, 2, window=2).eval()
    x, pos = torch.randn(5, 1, 8), torch.tensor([0, 2, 4, 6, 8])
    out = attn(x, pos)
    q, k, v = attn.in_proj(x).chunk(3, -1)
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        qh, kh, vh = q[:, 0, sl], k[:, 0, sl], v[:, 0, sl]
        rel = (pos[None, :] - pos[:, None]).clamp(-2, 2) + 2
        ak, av = attn.relative_keys.weight[rel], attn.relative_values.weight[rel]  # (T, T, d)
        logits = torch.einsum("id,ijd->ij", qh, kh[None] + ak) / 2.0
        p = logits.softmax(-1)
        heads.append(torch.einsum("ij,ijd->id", p, vh[None] + av))
    expected = attn.out_proj(torch.cat(heads, -1))[:, None]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_window_clips_distances():
    attn = RelativeSelfAttention(8, 2, window=2)
    buckets = attn.relative_buckets(torch.tensor([0, 4]), torch.arange(0, 9, 2))
    assert buckets.tolist() == [[2, 4, 4, 4, 4], [0, 0, 2, 4, 4]]


def test_rows_sharing_an_image_equal_copied_encoder_states(tiny):
    """encoder_rows (training's two samples per sentence read one image's keys and values)
    gives fairseq's MultiheadAttention on copied encoder states: outputs and gradients, with
    padded regions, an unused image and an image read three times; a cache is refused."""
    task, model = tiny
    rows = torch.tensor([2, 0, 2, 0, 2])  # image 1 unused; image 0 has padded regions
    tokens = random_tokens(task, 5, 7)
    grads = []
    for shared in (False, True):
        model.zero_grad()
        enc = encode(model)
        if shared:
            out, _ = model.decoder(tokens, enc, self_attn_layout="bidirectional", encoder_rows=rows)
        else:
            out, _ = model.decoder(tokens, model.encoder.reorder_encoder_out(enc, rows),
                                   self_attn_layout="bidirectional")
        out.float().pow(2).mean().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-5, rtol=0)
    assert len(grads[0][1]) == len(grads[1][1]) > 0
    for copied, shared in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(shared, copied, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="encoder_rows goes with full passes"):
        model.decoder(tokens, encode(model), incremental_state={}, encoder_rows=rows)
