"""The CLI package: its command index, and what a command loads."""

from __future__ import annotations

import subprocess
import sys

import click

from roofline.cli import COMMANDS, main


def test_index_matches_each_commands_own_help():
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name, (_, short) in COMMANDS.items():
        cmd = main.get_command(ctx, name)
        assert cmd is not None and cmd.help is not None, name
        assert cmd.help.strip().splitlines()[0] == short, name
    assert main.get_command(ctx, "no-such-command") is None


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\nfrom roofline.cli import main\n"
        f"try:\n    main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)"
    )
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr.split())


def test_help_and_predict_load_neither_plotting_nor_symbolic_library():
    heavy = {"matplotlib", "sympy"}  # (scipy comes with pint, the units library, whenever specs load)
    assert not heavy & _modules_after(["--help"])
    assert "roofline.specs.hardware" not in _modules_after(["--help"])
    loaded = _modules_after(["predict", "--device", "apple-m2-pro", "--model", "olmoe-1b-7b", "--json"])
    assert "roofline.api" in loaded and not heavy & loaded
