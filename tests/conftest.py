"""Shared fixtures: a small real text-proxy data set (COCO captions from the installed
packages), binarized by the real fairseq-preprocess, and tiny random models on it."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(REPO, "saic_fairseq")
BIN = os.path.dirname(sys.executable)

#: the test files that take minutes (the Flickr8k recipe ~7, the studies script ~2, the COCO recipe
#: ~1), collected first: `make test` runs the suite on two workers (pytest-xdist, --dist worksteal),
#: and a long test that starts last runs alone at the end
SLOW_FILES = ("test_flickr8k_recipe.py", "test_studies.py", "test_coco_recipe.py")


def pytest_collection_modifyitems(config, items):
    """The tests of :data:`SLOW_FILES` first (in that order), the rest in their usual order."""
    items.sort(key=lambda item: SLOW_FILES.index(item.path.name) if item.path.name in SLOW_FILES else len(SLOW_FILES))


def fairseq_cli(name, *args, check=True, env=None, timeout=600):
    """Run a console script of this environment (fairseq-train, saic-evaluate, python ...)."""
    result = subprocess.run([os.path.join(BIN, name), *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=timeout, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def run_script(module, *args):
    """``python -m module args`` in this environment, not checked: tests read its exit code."""
    return fairseq_cli("python", "-m", module, *args, check=False)


def binarize(data_dir):
    fairseq_cli("fairseq-preprocess", "--only-source", "--trainpref", f"{data_dir}/train.txt",
                "--validpref", f"{data_dir}/valid.txt", "--testpref", f"{data_dir}/test.txt",
                "--destdir", data_dir, "--thresholdsrc", "2", "--workers", "1")


@pytest.fixture(scope="session")
def karpathy_split():
    from saic_fairseq.data.karpathy_split import build_karpathy_style_split

    return build_karpathy_style_split(seed=1)


@pytest.fixture(scope="session")
def proxy_data(tmp_path_factory, karpathy_split):
    """A small binarized text-proxy data directory (features.h5 inside)."""
    from saic_fairseq.data.text_proxy import write_text_proxy

    out = str(tmp_path_factory.mktemp("proxy"))
    write_text_proxy(out, karpathy_split, {"train": 300, "valid": 30, "test": 30}, dim=16, seed=1)
    binarize(out)
    return out


def setup_task_and_model(data_dir, group_size=4, extra=(), seed=0, criterion=("saic_loss", "--p-hybr", "1")):
    """(task, model, criterion, cfg) built through fairseq's own option parsing and registries."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        data_dir, "--user-dir", USER_DIR, "--task", "saic_captioning", "--features",
        os.path.join(data_dir, "features.h5"), "--arch", "saic_tiny", "--group-size", str(group_size),
        "--max-update", "100", "--criterion", *criterion, *extra,
    ])
    cfg = convert_namespace_to_omegaconf(args)
    torch.manual_seed(seed)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    return task, model, criterion, cfg


def first_batch(task, split="test", batch_size=8):
    task.load_dataset(split)
    itr = task.get_batch_iterator(task.dataset(split), max_sentences=batch_size, max_positions=task.max_positions(),
                                  seed=1).next_epoch_itr(shuffle=False)
    return next(iter(itr))


@pytest.fixture(scope="session")
def trained_state(proxy_data):
    """A tiny model trained for a few hundred updates by saic_loss in-process (fixed p_g 0.5),
    so that it ends captions at different lengths: the state dict, and the losses seen."""
    task, model, criterion, _ = setup_task_and_model(
        proxy_data, group_size=3, extra=["--relative-window", "3", "--fixed-p-g", "0.5"])
    task.load_dataset("train")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for epoch in range(3):
        itr = task.get_batch_iterator(task.dataset("train"), max_sentences=64, seed=epoch).next_epoch_itr(shuffle=True)
        for step, sample in enumerate(itr):
            model.set_num_updates(len(losses))
            loss, sample_size, _ = criterion(model, sample)
            optimizer.zero_grad()
            (loss / sample_size).backward()
            optimizer.step()
            losses.append(float(loss) / sample_size)
    return model.state_dict(), losses


def trained_task_and_model(proxy_data, trained_state, group_size, extra=()):
    """The trained tiny model under a task of another group size (same window 3)."""
    task, model, _, _ = setup_task_and_model(proxy_data, group_size, extra=["--relative-window", "3", *extra])
    model.load_state_dict(trained_state[0])
    return task, model.eval()


def clean_env():
    """No variable that would switch weights_only off."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}


def common(data):
    return [data, "--user-dir", USER_DIR, "--task", "saic_captioning", "--features", f"{data}/features.h5"]


def train_args(data, save_dir, criterion, updates, *extra):
    return [*common(data), "--arch", "saic_tiny", "--criterion", criterion, "--optimizer", "adam", "--lr", "2e-3",
            "--max-tokens", "2000", "--max-update", str(updates), "--save-dir", save_dir, "--log-interval", "5",
            "--no-epoch-checkpoints", "--no-last-checkpoints", "--num-workers", "0", "--seed", "3",
            "--log-format", "simple", *extra]


@pytest.fixture(scope="session")
def checkpoints(proxy_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    teacher, saic = str(root / "teacher"), str(root / "saic")
    fairseq_cli("fairseq-train", *train_args(proxy_data, teacher, "label_smoothed_cross_entropy", 30),
                env=clean_env())
    run = fairseq_cli("fairseq-train", *train_args(
        proxy_data, saic, "saic_loss", 40, "--p-hybr", "1", "--finetune-from-model", f"{teacher}/checkpoint_best.pt",
        "--eval-cider"), env=clean_env())
    return f"{teacher}/checkpoint_best.pt", f"{saic}/checkpoint_best.pt", run.stdout + run.stderr


def copy_data(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


@pytest.fixture(scope="session")
def distilled(proxy_data, checkpoints, tmp_path_factory):
    """A copy of the proxy data with the tiny teacher's captions, written by the CLI in one run."""
    data = copy_data(proxy_data, tmp_path_factory.mktemp("distill") / "data")
    fairseq_cli("python", "-m", "preprocess.distill_targets", data, "--features", f"{data}/features.h5",
                "--path", checkpoints[0], "--batch-size", "64")
    return data


def logged_values(log, key, by_update=False):
    """Values of ``key`` in fairseq's ``train_inner`` log lines, in order; with ``by_update``,
    {num_updates: value} from those lines and the end-of-epoch lines."""
    values = {} if by_update else []
    for line in log.splitlines():
        inner = "train_inner" in line
        if not (inner or by_update and "| epoch" in line and "num_updates" in line):
            continue
        value = re.search(rf"\b{key}[= ]([-\d.]+)", line)
        if value is None:
            continue
        if by_update:
            update = re.search(r"num_updates[= ](\d+)", line)
            if update:
                values[int(update.group(1))] = float(value.group(1))
        else:
            values.append(float(value.group(1)))
    return values


def fake_sample(batch, raw_token=10, distill_token=20, first_id=0):
    """A criterion input with every raw caption 10 10 10 </s> and every teacher caption 20 20 </s>."""
    target = torch.full((batch, 4), raw_token)
    target[:, -1] = 2
    distill = torch.full((batch, 3), distill_token)
    distill[:, -1] = 2
    return {"id": torch.arange(first_id, first_id + batch), "target": target, "distill_target": distill}
