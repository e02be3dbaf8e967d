"""Faults: SIGKILL mid-epoch and resume; 2-process distributed training equals 1 process;
the feature dataset stays lazy on a file far larger than what it keeps in memory."""
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import BIN, REPO, USER_DIR, clean_env, first_batch, logged_values, setup_task_and_model


def train_command(data, save_dir, updates, *extra):
    return [os.path.join(BIN, "fairseq-train"), data, "--user-dir", USER_DIR, "--task", "saic_captioning",
            "--features", f"{data}/features.h5", "--arch", "saic_tiny", "--criterion", "saic_loss",
            "--p-hybr", "1", "--optimizer", "adam", "--lr", "1e-3", "--batch-size", "16", "--max-update",
            str(updates), "--save-dir", save_dir, "--log-interval", "1", "--log-format", "simple",
            "--num-workers", "0", "--seed", "7", "--no-epoch-checkpoints", "--disable-validation", *extra]


def single_thread_env():
    env = clean_env()
    env["OMP_NUM_THREADS"] = "1"
    return env


def run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env or single_thread_env(),
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def final_loss(proxy_data, checkpoint):
    """Loss of a checkpoint's model on a fixed validation batch (deterministic: eval mode)."""
    task, model, criterion, _ = setup_task_and_model(proxy_data)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    with torch.no_grad():
        loss, sample_size, _ = criterion(model, first_batch(task, "valid", batch_size=16))
    return float(loss) / sample_size, state["optimizer_history"][-1]["num_updates"]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(proxy_data, tmp_path):
    updates = 16
    straight = str(tmp_path / "straight")
    run(train_command(proxy_data, straight, updates, "--save-interval-updates", "4"))
    resumed = str(tmp_path / "resumed")
    command = train_command(proxy_data, resumed, updates, "--save-interval-updates", "4")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                               env=single_thread_env())
    for line in process.stdout:
        if "Saved checkpoint" in line and "@ 8 updates" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    log = run(command)  # the same command again
    assert "Loaded checkpoint" in log and "@ 8 updates" in log.split("Loaded checkpoint")[1][:300]
    p_g = logged_values(log, "p_g", by_update=True)
    # the step logged as update 9 ran with t = 8 updates done: the curriculum goes on from there
    assert min(p_g) == 9 and p_g[9] == pytest.approx(8 / updates, abs=1e-3)
    loss_straight, n_straight = final_loss(proxy_data, f"{straight}/checkpoint_last.pt")
    loss_resumed, n_resumed = final_loss(proxy_data, f"{resumed}/checkpoint_last.pt")
    assert n_straight == n_resumed == updates
    assert abs(loss_straight - loss_resumed) < 1e-4


def test_two_processes_equal_one_with_the_same_total_batch(proxy_data, tmp_path):
    common = ["--dropout", "0", "--ddp-backend", "legacy_ddp", "--batch-size", "8", "--no-save"]
    one = run(train_command(proxy_data, str(tmp_path / "one"), 6, *common, "--update-freq", "2"))
    # torchrun starts the processes; on a CPU fairseq needs each one's rank on its command line
    torchrun = [os.path.join(BIN, "torchrun"), "--nproc_per_node", "2", "--master_port", "29517", "--no-python",
                "bash", "-c", 'exec "$@" --distributed-world-size $WORLD_SIZE --distributed-rank $RANK '
                '--distributed-init-method env:// --distributed-no-spawn', "fairseq-train"]
    two = run(torchrun + train_command(proxy_data, str(tmp_path / "two"), 6, *common, "--distributed-backend", "gloo"))
    assert "training on 2 devices" in two
    loss_one, loss_two = logged_values(one, "loss", by_update=True), logged_values(two, "loss", by_update=True)
    assert sorted(loss_one) == sorted(loss_two) == [1, 2, 3, 4, 5, 6]
    for update in loss_one:
        assert loss_one[update] == pytest.approx(loss_two[update], abs=2e-3)
    assert logged_values(one, "p_g", by_update=True) == logged_values(two, "p_g", by_update=True)


def test_feature_dataset_stays_lazy_on_a_large_file(proxy_data, tmp_path):
    """Iterate one epoch over a 320 MB feature file; resident memory grows by far less."""
    import numpy as np

    from saic_fairseq.features.feature_writer import FeatureWriter

    images = 800
    features = tmp_path / "big.h5"
    block = np.random.default_rng(0).standard_normal((100, 1000)).astype(np.float32)  # 400 KB per image
    with FeatureWriter(features) as writer:
        for image_id in range(1, images + 1):
            writer.add(image_id, block)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("a man riding a horse\n" * images)
    (data / "train.ids").write_text("".join(f"{i}\n" for i in range(1, images + 1)))
    subprocess.run([os.path.join(BIN, "fairseq-preprocess"), "--only-source", "--trainpref", data / "train.txt",
                    "--destdir", data, "--srcdict", f"{proxy_data}/dict.txt"], check=True, capture_output=True)
    code = f"""
import resource, sys
sys.path.insert(0, {os.path.join(REPO, 'tests')!r})
from conftest import setup_task_and_model
task = setup_task_and_model({str(data)!r}, extra=["--features", {str(features)!r}])[0]
task.load_dataset("train")
itr = task.get_batch_iterator(task.dataset("train"), max_sentences=32).next_epoch_itr(shuffle=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
seen = sum(len(batch["id"]) for batch in itr)
print(seen, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    seen, grown_mb = map(int, result.stdout.split()[-2:])
    assert seen == images
    assert os.path.getsize(features) > 300 * 2**20
    assert grown_mb < 60, f"resident memory grew by {grown_mb} MB over one epoch"


def test_captions_longer_than_max_target_positions_are_skipped_and_counted(proxy_data, tmp_path):
    sizes = [len(line.split()) + 1 for line in open(f"{proxy_data}/train.txt")]
    too_long = sum(size > 10 for size in sizes)
    assert too_long > 0
    log = run(train_command(proxy_data, str(tmp_path / "short"), 2, "--max-target-positions", "10", "--no-save"))
    assert f"{too_long:,} samples have invalid sizes and will be skipped, max_positions=(10, 10)" in log
