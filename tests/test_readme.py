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

DOCS = ["README.md", "examples/coco/README.md", "docs/design.md"]
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
