"""The ablation switches of the paper's Tables 5 and 7 each change what they say:
--no-relative-positions, --fixed-p-g (curriculum off), --distillation raw / sequence-level,
and training without --finetune-from-model."""

import pytest
import torch

from conftest import clean_env, fairseq_cli, fake_sample, logged_values, setup_task_and_model, train_args


def relative_parameters(model):
    return [name for name, _ in model.named_parameters() if "relative" in name]


def test_without_relative_positions_the_model_has_no_relative_parameters(proxy_data):
    _, with_rpr, _, _ = setup_task_and_model(proxy_data)
    _, without, _, _ = setup_task_and_model(proxy_data, extra=["--no-relative-positions"])
    assert len(relative_parameters(with_rpr)) == 2 * 2  # keys and values in each of saic_tiny's 2 layers
    assert relative_parameters(without) == []
    extra = sum(p.numel() for n, p in with_rpr.named_parameters() if "relative" in n)
    assert sum(p.numel() for p in with_rpr.parameters()) - sum(p.numel() for p in without.parameters()) == extra


def test_a_model_without_relative_positions_starts_from_a_teacher_that_has_them(proxy_data):
    _, teacher, _, _ = setup_task_and_model(proxy_data, seed=1)
    _, student, _, _ = setup_task_and_model(proxy_data, extra=["--no-relative-positions"], seed=2)
    student.load_state_dict(teacher.state_dict())
    for name, value in student.state_dict().items():
        assert torch.equal(value, teacher.state_dict()[name]), name
    _, rpr_student, _, _ = setup_task_and_model(proxy_data, seed=2)
    without = {k: v for k, v in teacher.state_dict().items() if "relative" not in k}
    with pytest.raises(RuntimeError, match="relative_keys"):  # a model that has them still needs them
        rpr_student.load_state_dict(without)


def test_distillation_source_switch(proxy_data):
    _, _, raw, _ = setup_task_and_model(proxy_data, extra=["--distillation", "raw", "--p-hybr", "0.5"])
    _, _, teacher_only, _ = setup_task_and_model(proxy_data, extra=["--distillation", "sequence-level"])
    sample = fake_sample(200)
    assert all(t.tolist() == [10, 10, 10, 2] for t in raw.plan(sample, 5, training=True)[0])
    assert all(t.tolist() == [20, 20, 2] for t in teacher_only.plan(sample, 5, training=True)[0])
    del sample["distill_target"]
    assert len(raw.plan(sample, 5, training=True)[0]) == 200  # raw needs no teacher captions
    with pytest.raises(ValueError, match="--distillation sequence-level needs teacher captions"):
        teacher_only.plan(sample, 5, training=True)


def test_curriculum_off_keeps_p_g_fixed_in_the_logs(distilled, checkpoints, tmp_path):
    """One fairseq-train run with every Table 7 switch: from the teacher without its relative
    tables, sequence-level targets, and a constant p_g of 1 (only {Outliner, Filler} train)."""
    run = fairseq_cli("fairseq-train", *train_args(
        distilled, str(tmp_path / "ablation"), "saic_loss", 12, "--fixed-p-g", "1", "--log-interval", "2",
        "--distillation", "sequence-level", "--no-relative-positions", "--finetune-from-model", checkpoints[0]),
        env=clean_env())
    output = run.stdout + run.stderr
    assert "not loading 4 relative-position tables" in output
    assert logged_values(output, "p_g") == [1.0] * 6
    assert logged_values(output, "filler_loss") and not logged_values(output, "aic_loss")
    with_curriculum = fairseq_cli("fairseq-train", *train_args(
        distilled, str(tmp_path / "curriculum"), "saic_loss", 12, "--log-interval", "2"), env=clean_env())
    p_g = logged_values(with_curriculum.stdout + with_curriculum.stderr, "p_g")
    assert len(p_g) == 6 and p_g == sorted(p_g) and p_g[0] < 0.2 and p_g[-1] > 0.8
