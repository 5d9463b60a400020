"""``rdbtool report`` over the shared corpus (files of real servers and of other tools): every file the reader
takes is reported, its totals those of its per-key rows; a file the reader refuses stops the run with one located
line."""

from __future__ import annotations

from collections import defaultdict

import pytest

from rdbtools.errors import RdbtoolError
from rdbtools.rdb.reader import open_rdb
from tests.corpus import CorpusFile, rdb_files, rdb_ids
from tests.report.conftest import json_report, jsonl_rows, run


def _refused(file: CorpusFile) -> bool:
    """Whether the reader stops at something in the file (what every rdbtool command then stops at)."""
    try:
        with open_rdb(file.path) as rdb:
            for _ in rdb:
                pass
    except RdbtoolError:
        return True
    return False


_REFUSED = [f for f in rdb_files() if _refused(f)]
_READ = [f for f in rdb_files() if f not in _REFUSED]


def test_every_corpus_file_read_adds_up_to_its_rows(tmp_path):
    rows_path = tmp_path / "rows.jsonl"
    doc = json_report(*(f.path for f in _READ), "--per-key", "jsonl", "-o", rows_path, "--jobs", 2)
    per_file: dict = defaultdict(lambda: [0, 0])
    for row in jsonl_rows(rows_path):
        per_file[row["file"]][0] += 1
        per_file[row["file"]][1] += row["bytes"]
    assert len(doc["files"]) == len(_READ) >= 50
    for line in doc["files"]:
        assert [line["keys"], line["bytes"]] == per_file.get(line["path"], [0, 0]), line["path"]
    assert doc["keys"] == sum(keys for keys, _ in per_file.values())
    assert sum(line["keys"] for line in doc["types"]) == doc["keys"]


@pytest.mark.parametrize("refused", _REFUSED, ids=rdb_ids(_REFUSED))
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_the_reader_refuses_is_one_located_line(refused, jobs):
    """Also when it is read in a worker process beside a sound file."""
    done = run("report", _READ[0].path, refused.path, "--format", "json", "--jobs", jobs)
    assert done.returncode == 1 and done.stdout == b""
    message = done.stderr.decode().splitlines()
    assert len(message) == 1 and message[0].startswith(f"rdbtool: error: {refused.path}, offset ")
