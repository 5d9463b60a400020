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
    assert cli_modules_loaded("--help") == {"rdbtools.cli.app", *(f"rdbtools.cli.{m}" for m in COMMANDS.values())}


def test_a_single_registered_command_is_still_run_by_its_name(tmp_path):
    empty = tmp_path / "empty.rdb"
    empty.write_bytes(b"REDIS0009\xff" + bytes(8))
    done = subprocess.run([sys.executable, "-m", "rdbtools.cli", "dump", str(empty), "--format", "keys"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
