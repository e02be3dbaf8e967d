"""saic-average: the mean of checkpoints' weights, exactly, as a checkpoint fairseq loads; clear
errors for what cannot be averaged."""
import shutil

import pytest
import torch

from conftest import common, fairseq_cli
from saic_fairseq.cli.average import last_epoch_checkpoints, last_update_checkpoints, main
from saic_fairseq.errors import SAICInputError


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_the_average_is_the_mean_of_the_weights(checkpoints, tmp_path):
    teacher, saic, _ = checkpoints
    out = str(tmp_path / "avg.pt")
    assert main(["--inputs", teacher, saic, "--out", out]) == 0
    a, b, avg = load(teacher)["model"], load(saic)["model"], load(out)
    assert avg["model"].keys() == a.keys() and "last_optimizer_state" not in avg
    for key, value in avg["model"].items():
        assert value.dtype == a[key].dtype
        if value.is_floating_point():
            assert torch.equal(value, ((a[key].double() + b[key].double()) / 2).float()), key
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the two really differ
    assert avg["cfg"]["model"] == load(saic)["cfg"]["model"]  # the last input's configuration


def test_averaging_one_checkpoint_with_itself_changes_nothing_and_fairseq_generates(checkpoints, tmp_path, proxy_data):
    teacher = checkpoints[0]
    out = str(tmp_path / "same.pt")
    assert main(["--inputs", teacher, teacher, teacher, "--out", out]) == 0
    original = load(teacher)["model"]
    assert all(torch.equal(v, original[k]) for k, v in load(out)["model"].items())
    run = fairseq_cli("fairseq-generate", *common(proxy_data), "--path", out, "--gen-subset", "test",
                      "--batch-size", "8", "--decoding", "aic", "--beam", "2", "--unique-images")
    assert sum(line.startswith("H-") for line in run.stdout.splitlines()) == 30


def test_last_takes_the_largest_epoch_numbers(tmp_path):
    for name in ["checkpoint2.pt", "checkpoint10.pt", "checkpoint9.pt", "checkpoint_best.pt", "checkpoint_last.pt"]:
        (tmp_path / name).write_bytes(b"")
    assert last_epoch_checkpoints(str(tmp_path), 2) == [str(tmp_path / "checkpoint9.pt"),
                                                        str(tmp_path / "checkpoint10.pt")]
    with pytest.raises(SAICInputError, match=r"--last 4 needs 4 epoch checkpoints .*found 3: train with "
                                             r"--keep-last-epochs 4"):
        last_epoch_checkpoints(str(tmp_path), 4)


def test_last_updates_takes_the_latest_interval_checkpoints_and_a_later_last_checkpoint(checkpoints, tmp_path):
    teacher = checkpoints[0]
    updates = load(teacher)["optimizer_history"][-1]["num_updates"]  # what checkpoint_last.pt holds
    assert updates >= 10
    shutil.copy(teacher, tmp_path / "checkpoint_last.pt")  # an update that ended an epoch: no interval file
    for name in [f"checkpoint_1_{updates - 9}.pt", f"checkpoint_1_{updates - 2}.pt", f"checkpoint_2_{updates - 1}.pt",
                 "checkpoint_best.pt", "checkpoint3.pt"]:
        (tmp_path / name).write_bytes(b"")
    assert last_update_checkpoints(str(tmp_path), 3) == [str(tmp_path / f"checkpoint_1_{updates - 2}.pt"),
                                                         str(tmp_path / f"checkpoint_2_{updates - 1}.pt"),
                                                         str(tmp_path / "checkpoint_last.pt")]
    (tmp_path / f"checkpoint_2_{updates}.pt").write_bytes(b"")  # the last update saved by name: taken once
    assert last_update_checkpoints(str(tmp_path), 2) == [str(tmp_path / f"checkpoint_2_{updates - 1}.pt"),
                                                         str(tmp_path / f"checkpoint_2_{updates}.pt")]
    with pytest.raises(SAICInputError, match=r"--last-updates 5 needs 5 checkpoints saved every few updates .*"
                                             r"found 4: train with --save-interval-updates"):
        last_update_checkpoints(str(tmp_path), 5)


def test_weights_of_another_shape_are_refused_naming_the_file_and_weight(checkpoints, tmp_path, capsys):
    teacher = checkpoints[0]
    state = load(teacher)
    key = next(k for k, v in state["model"].items() if v.dim() == 2)
    state["model"][key] = state["model"][key][:-1]
    other = str(tmp_path / "other.pt")
    torch.save(state, other)
    out = tmp_path / "avg.pt"
    assert main(["--inputs", teacher, other, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{other}: weight {key} has shape" in err and f"in {teacher}" in err
    assert not out.exists() and not list(tmp_path.glob(".avg.pt*"))
