"""`mammovqa --help` explains every command; errors print a message, not a traceback."""

import subprocess
import sys

import pytest

from mammovqa.cli import build_parser, main

COMMANDS = ("data", "predict", "models", "score", "baselines", "train", "stats", "stage")


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_nested_commands_have_help(capsys):
    parser = build_parser()
    for argv in (["data", "build", "--help"], ["data", "inspect", "--help"], ["train", "vqa", "--help"],
                 ["stage", "--help"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    assert "--profile" in capsys.readouterr().out


def test_user_error_is_a_message_not_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", "data", "build", "--profile", "huge"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "unknown profile 'huge'" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_output_is_a_message_not_a_traceback() -> None:
    """/sys refuses new entries even to root (EPERM): the same path a read-only or foreign folder takes."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", "models", "build-tiny", "--out",
                           "/sys/mammovqa-cannot-write-here/tiny"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "mammovqa: error: cannot write" in proc.stderr and "MAMMOVQA_ROOT" in proc.stderr


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", p) for n, p in _subparsers(sub))


def test_every_run_argument_is_spelled_one_way():
    """Issue 15: --source/--profile/--seed come from one parent (mammovqa.runargs); a sub-command with another
    default, no choices or other help would read or write another run than the user meant."""
    from mammovqa.cli import build_parser
    from mammovqa.runargs import SOURCES

    seen = 0
    for name, parser in _subparsers(build_parser()):
        opts = {a.dest: a for a in parser._actions if a.option_strings}
        if "source" in opts:
            seen += 1
            assert tuple(opts["source"].choices or ()) == SOURCES and opts["source"].default == "phantom", name
            assert opts["profile"].default == "default" and "configs/profiles.yaml" in opts["profile"].help, name
    assert seen >= 12
