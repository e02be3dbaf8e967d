"""The named architectures of model saic_transformer build through fairseq's registry with the
sizes docs/training.md gives them."""
import pytest

from conftest import setup_task_and_model


@pytest.mark.parametrize("arch, dim, ffn, enc_layers, dec_layers, dropout", [
    ("saic_small", 128, 256, 1, 2, 0.1),
    ("saic_medium", 256, 1024, 1, 3, 0.3),
    ("saic_large", 512, 2048, 1, 3, 0.3),
])
def test_architecture_sizes(proxy_data, arch, dim, ffn, enc_layers, dec_layers, dropout):
    _, model, _, cfg = setup_task_and_model(proxy_data, extra=["--arch", arch])
    assert (cfg.model.decoder_embed_dim, cfg.model.encoder_embed_dim) == (dim, dim)
    assert (cfg.model.decoder_ffn_embed_dim, cfg.model.encoder_ffn_embed_dim) == (ffn, ffn)
    assert (len(model.encoder.layers), len(model.decoder.layers)) == (enc_layers, dec_layers)
    assert cfg.model.dropout == dropout
    assert model.decoder.layers[0].fc1.weight.shape == (ffn, dim)


def test_an_explicit_option_overrides_the_architecture(proxy_data):
    _, model, _, cfg = setup_task_and_model(proxy_data, extra=["--arch", "saic_large", "--decoder-layers", "2",
                                                               "--dropout", "0.2"])
    assert len(model.decoder.layers) == 2 and cfg.model.dropout == 0.2
    assert cfg.model.decoder_embed_dim == 512
