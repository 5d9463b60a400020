"""Start-up: a run imports only the command it runs (every run pays for each command's imports);
help still lists every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rdbtools.cli.app import COMMANDS

PROBE = """
import sys
from rdbtools.cli.app import main
sys.argv = ["rdbtool", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(" ".join(sorted(m for m in sys.modules if m.startswith("rdbtools.cli."))), file=sys.stderr)
"""


def cli_modules_loaded(*args: str, probe: str = PROBE) -> set[str]:
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
    return set(done.stderr.strip().splitlines()[-1].split())


def cli_modules_imported_by(module: str) -> set[str]:
    """What importing one command module brings in (verify uses check-aof's report, for example)."""
    return cli_modules_loaded(probe=f"import rdbtools.cli.{module}\n" + PROBE.replace("main()", "pass"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_run_imports_only_the_command_it_runs(command):
    loaded = cli_modules_loaded(command, "--help")
    assert loaded == cli_modules_imported_by(COMMANDS[command])
    assert len(loaded) < len(COMMANDS)


def test_help_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "rdbtools.cli", "--help"], capture_output=True, text=True,
                          check=True)
    assert all(name in done.stdout for name in COMMANDS)
    assert cli_modules_loaded("--help") == set().union(*(cli_modules_imported_by(m) for m in COMMANDS.values()))


def test_a_single_registered_command_is_still_run_by_its_name(tmp_path):
    empty = tmp_path / "empty.rdb"
    empty.write_bytes(b"REDIS0009\xff" + bytes(8))
    done = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(empty), "--format", "keys"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("arguments", [["--port", "not-a-number"], ["/no/such/redis.conf"]])
def test_serve_started_without_typer_reports_errors_as_rdbtool_serve_does(arguments):
    """python -m rdbtools.cli.serving (the pytest plugin's start): the same one-line error and exit status."""
    runs = [subprocess.run([sys.executable, "-m", *module, *arguments], capture_output=True, text=True)
            for module in (["rdbtools.cli", "serve"], ["rdbtools.cli.serving"])]
    assert [(run.returncode, run.stderr) for run in runs[1:]] == [(runs[0].returncode, runs[0].stderr)]
    assert runs[0].returncode == 1 and runs[0].stderr.startswith("rdbtool: error: ")


def test_serve_started_without_typer_imports_neither_typer_nor_pydantic():
    probe = "import sys, rdbtools.cli.serving; print(' '.join({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert not {"typer", "pydantic", "click"} & set(done.stdout.split())
