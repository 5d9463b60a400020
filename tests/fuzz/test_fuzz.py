"""The fuzz targets in CI: every input that ever failed, and a short coverage-guided run of each target.

scripts/fuzz runs each target in a child process (libFuzzer ends its process) and then replays the corpus
on the accelerated and the pure-Python paths; a finding makes it exit non-zero and print what it found.
A fixed libFuzzer seed and a fixed number of runs keep the CI run the same from one run to the next.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fuzz.targets import REPO, TARGETS

FUZZ = REPO / "scripts" / "fuzz"
REGRESSIONS = REPO / "tests" / "fuzz" / "regressions"
CI_RUNS = 2000  # inputs per target in CI: a few seconds each


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_has_seeds(name):
    assert next(iter(TARGETS[name].seeds()), None) is not None


@pytest.mark.parametrize("name", sorted(p.name for p in REGRESSIONS.iterdir()))
def test_every_committed_regression_runs_clean_on_its_target(name):
    """Each file is an input that once failed (kept minimised): now an outcome, not an exception."""
    run = TARGETS[name].run
    for regression in sorted((REGRESSIONS / name).iterdir()):
        assert run(regression.read_bytes()), regression.name


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_fuzz_run_finds_nothing_and_both_paths_agree(name, tmp_path):
    done = subprocess.run([sys.executable, str(FUZZ), name, "--runs", str(CI_RUNS), "--seed", "1",
                           "--corpus", str(tmp_path / name)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{name}: no findings" in done.stdout


def test_jobs_share_the_runs_and_the_corpus(tmp_path):
    """--jobs: the runs shared out among fuzzers on one corpus, the executions reported their sum."""
    corpus = tmp_path / "manifest"
    done = subprocess.run([sys.executable, str(FUZZ), "manifest", "--runs", "1000", "--seed", "1", "--jobs", "2",
                           "--corpus", str(corpus)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "manifest (accelerated, 2 jobs): 1000 executions" in done.stdout
    assert all("DONE" in (tmp_path / log).read_text() for log in ("manifest.log", "manifest.log.1"))
