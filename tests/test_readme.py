"""The README's commands run when pasted: every bash block parses, every --flag of one of our
commands exists in that command's --help, and every fairseq command line parses with fairseq's
own option parser, leaving no flag unknown (fairseq's --help cannot show a plugin's task,
model and criterion options). No path in the docs leads outside the repository."""
import functools
import os
import re
import shlex

import pytest

from conftest import REPO

DOCS = ["README.md", "examples/coco/README.md", "saic_fairseq/pretrained/README.md",
        *sorted(f"docs/{name}" for name in os.listdir(os.path.join(REPO, "docs")) if name.endswith(".md"))]
#: where each section of the README before the manual moved to docs/ lives now: (old heading, page, heading)
MOVED = [
    ("Two commands", "install.md", "Installing and the two commands"),
    ("Requirements", "install.md", "Requirements"),
    ("What gets installed, and why this way", "install.md", "What gets installed, and why this way"),
    ("Results on this machine (text-proxy data, 2 CPU cores)", "text-proxy.md",
     "Results of `make demo` (text-proxy data, 2 CPU cores)"),
    ("A fair IR-NAIC baseline", "text-proxy.md", "A fair IR-NAIC baseline"),
    ("The bundled default data: a *text proxy* (read this)", "text-proxy.md",
     "The bundled default data: a *text proxy* (read this)"),
    ("Pipeline", "data.md", "Pipeline"),
    ("Data directory (see [docs/design.md](docs/design.md))", "data.md", "Data directory (see [design.md](design.md))"),
    ("Real COCO", "data.md", "COCO"),
    ("Your own images and captions", "data.md", "Flickr8k, Flickr30k and your own images and captions"),
    ("Training", "training.md", "Commands"),
    ("Training recipe: what closes the gap to AIC (measured)", "training.md",
     "Training recipe: what closes the gap to AIC (measured)"),
    ("SCST: self-critical fine-tuning of the AIC teacher (`saic_scst`)", "training.md",
     "SCST: self-critical fine-tuning of the AIC teacher (`saic_scst`)"),
    ("Generation: one model, four decoding modes", "decoding.md", "Generation: one model, four decoding modes"),
    ("Caption your images", "decoding.md", "Caption your images"),
    ("The COCO recipe", "paper.md", "The COCO recipe"),
    ("Evaluation, distillation targets, speed", "evaluation.md", "Evaluation, distillation targets, the benchmark"),
    ("Speed", "speed.md", "Measurements"),
    ("Reproducing the paper", "paper.md", "Studies"),
    ("How it is built (and which library does what)", "architecture.md", "Files and libraries"),
    ("Reliability", "reliability.md", "Reliability"),
    ("Tests", "reliability.md", "Tests"),
    ("Citing", "../README.md", "Citing"),
    ("License", "../README.md", "License"),
]
FAIRSEQ_PARSERS = {"fairseq-preprocess": "get_preprocessing_parser", "fairseq-train": "get_training_parser",
                   "fairseq-generate": "get_generation_parser"}


def bash_commands(path):
    """[(block number, argv)] of every command line of the file's ```bash blocks."""
    text = open(os.path.join(REPO, path), encoding="utf-8").read()
    commands = []
    for number, block in enumerate(re.findall(r"```bash\n(.*?)```", text, re.S), 1):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append((number, argv))
    return commands


def main_of(argv):
    """``module:main`` of one of our commands (its console-script entry point, or the
    ``python -m preprocess.X`` module), or None for other programs."""
    from importlib.metadata import entry_points

    if argv[0].startswith("saic-"):
        (entry,) = [e for e in entry_points(group="console_scripts") if e.name == argv[0]]
        return entry.value
    if argv[:2] == ["python", "-m"] and argv[2].startswith("preprocess."):
        return f"{argv[2]}:main"
    return None


def fairseq_unknown_flags(argv):
    """The flags of a fairseq command line that fairseq's own parser (with the plugin's task,
    model, criterion, optimizer and scheduler options added) does not know."""
    from fairseq import options

    parser = getattr(options, FAIRSEQ_PARSERS[argv[0]])()
    if argv[0] == "fairseq-preprocess":
        _, extra = parser.parse_known_args(argv[1:])
    else:
        _, extra = options.parse_args_and_arch(parser, argv[1:], parse_known=True)
    return [a for a in extra if a.startswith("-")]


@functools.lru_cache(maxsize=None)
def help_text(target):
    """What ``main(["--help"])`` prints (in this process: the commands' own parsers; that the
    real processes print nothing else is tested in test_own_data_and_captioning.py)."""
    import contextlib
    import importlib
    import io

    module, function = target.split(":")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        getattr(importlib.import_module(module), function)(["--help"])
    return out.getvalue()


COMMANDS = [(path, number, argv) for path in DOCS for number, argv in bash_commands(path)]


def test_the_readme_shows_the_commands_people_use():
    programs = {argv[0] if argv[0] != "python" else argv[2] for path, _, argv in COMMANDS if path == "README.md"}
    assert {"make", "saic-caption", "saic-evaluate", "saic-benchmark", "fairseq-train", "fairseq-generate",
            "fairseq-preprocess", "preprocess.own_data"} <= programs


@pytest.mark.parametrize("path, number, argv", COMMANDS, ids=[f"{p}:{n}:{a[0]}" for p, n, a in COMMANDS])
def test_every_flag_of_a_readme_command_is_in_its_help(path, number, argv, monkeypatch):
    monkeypatch.chdir(REPO)  # --user-dir saic_fairseq is a path
    assert not any(a.startswith("[") or a == "..." for a in argv), f"{path} bash block {number}: not pasteable"
    if argv[0] in FAIRSEQ_PARSERS:
        assert fairseq_unknown_flags(argv) == [], f"{path} bash block {number}: {argv[0]}"
        return
    target = main_of(argv)
    if target is None:
        return
    shown = help_text(target)
    flags = {a.split("=")[0] for a in argv if a.startswith("--")}
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", shown))
    assert not missing, f"{path} bash block {number}: {argv[0]} has no {missing}"


def test_no_path_leads_outside_the_repository():
    for path in DOCS + ["saic_fairseq", "preprocess", "examples"]:
        full = os.path.join(REPO, path)
        files = [full] if os.path.isfile(full) else [os.path.join(d, f) for d, _, fs in os.walk(full) for f in fs
                                                     if f.endswith((".py", ".md", ".sh"))]
        for name in files:
            text = open(name, encoding="utf-8").read()
            assert "../shared" not in text and "DESIGN.md" not in text, name


@pytest.mark.parametrize("old, page, heading", MOVED, ids=[m[0] for m in MOVED])
def test_every_section_of_the_old_readme_has_a_home(old, page, heading):
    text = open(os.path.join(REPO, "docs", page), encoding="utf-8").read()
    assert re.search(r"^#{2,3} " + re.escape(heading) + "$", text, re.M), f"{old!r}: no {heading!r} in {page}"


def test_the_readme_is_a_front_page_whose_links_lead_somewhere():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    assert len(text.splitlines()) <= 220
    for path in DOCS:
        here = os.path.dirname(os.path.join(REPO, path))
        for target in re.findall(r"\]\(([^)#]+)\)", open(os.path.join(REPO, path), encoding="utf-8").read()):
            if "://" not in target:
                assert os.path.exists(os.path.join(here, target)), f"{path}: link to {target} leads nowhere"
