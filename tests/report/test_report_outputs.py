"""The per-key table in each format, and many files at once: ``--jobs`` gives the report one process gives."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import orjson
import pyarrow.parquet

from rdbtools.export.records import bytes_from_json
from tests.report.conftest import json_report, jsonl_rows, run


def _comparable(rows: list[dict]) -> list[tuple]:
    return [(r["file"], r["db"], bytes_from_json(r["key"]), r["type"], r["encoding"], r["bytes"], r["elements"],
             r["largest_element"], r["expire_ms"]) for r in rows]


def test_csv_rows_are_the_jsonl_rows(written, tmp_path):
    assert run("report", written.path, "--per-key", "jsonl", "-o", tmp_path / "rows.jsonl").returncode == 0
    done = run("report", written.path, "--per-key", "csv")
    assert done.returncode == 0, done.stderr.decode()
    table = list(csv.DictReader(done.stdout.decode().splitlines()))
    expected = [(*row[:2], row[2].decode("utf-8", "backslashreplace"), *row[3:])  # (the bytes not UTF-8 as \xNN)
                for row in _comparable(jsonl_rows(tmp_path / "rows.jsonl"))]
    assert [(r["file"], int(r["db"]), r["key"], r["type"], r["encoding"], int(r["bytes"]), int(r["elements"]),
             int(r["largest_element"]), int(r["expire_ms"]) if r["expire_ms"] else None) for r in table] == expected
    assert "binary:\\xff" in {r["key"] for r in table}


def test_parquet_round_trips_every_row_with_binary_keys(written, tmp_path):
    assert run("report", written.path, "--per-key", "jsonl", "-o", tmp_path / "rows.jsonl").returncode == 0
    done = run("report", written.path, "--format", "parquet", "-o", tmp_path / "rows.parquet")
    assert done.returncode == 0, done.stderr.decode()
    table = pyarrow.parquet.read_table(tmp_path / "rows.parquet").to_pylist()
    assert [tuple(row.values()) for row in table] == _comparable(jsonl_rows(tmp_path / "rows.jsonl"))


def test_parquet_needs_an_output_file(written):
    done = run("report", written.path, "--per-key", "parquet")
    assert done.returncode == 2 and b"needs --output" in done.stderr


def test_parquet_without_pyarrow_is_a_clear_error(written, tmp_path):
    probe = ("import sys; sys.modules['pyarrow'] = None; from rdbtools.cli.app import main; "
             f"sys.argv = ['rdbtool', 'report', {str(written.path)!r}, '--format', 'parquet', '-o', "
             f"{str(tmp_path / 'rows.parquet')!r}]; main()")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=300)
    assert done.returncode == 2
    assert b"needs pyarrow: pip install 'rdbtool[parquet]'" in done.stderr
    assert not (tmp_path / "rows.parquet").exists()


def test_summary_and_table_cannot_share_stdout(written):
    done = run("report", written.path, "--format", "json", "--per-key", "jsonl")
    assert done.returncode == 2 and b"both go to stdout" in done.stderr


def test_jobs_give_the_report_and_rows_of_one_process(written, tmp_path):
    files = [written.path, shutil.copyfile(written.path, tmp_path / "copy.rdb")]
    fixed = ("--now-ms", written.now_ms, "--top", 3)
    one = json_report(*files, *fixed, "--per-key", "jsonl", "-o", tmp_path / "one.jsonl")
    two = json_report(*files, *fixed, "--jobs", 2, "--per-key", "jsonl", "-o", tmp_path / "two.jsonl")
    assert one == two
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert [line["path"] for line in one["files"]] == [str(f) for f in files]
    assert one["keys"] == 2 * one["files"][0]["keys"] and one["bytes"] == 2 * one["files"][0]["bytes"]
    assert [line["file"] for line in one["top_keys"]] == [str(files[1]), str(files[0]), str(files[1])]


def test_rows_of_many_files_follow_the_order_they_were_named(written, tmp_path):
    files = [shutil.copyfile(written.path, tmp_path / f"{n}.rdb") for n in range(3)]
    done = run("report", *files, "--jobs", 3, "--per-key", "jsonl")
    rows = [orjson.loads(line) for line in done.stdout.splitlines()]
    order = [row["file"] for row in rows]
    assert order == sorted(order) and len(set(order)) == 3


def test_standard_input_is_read_with_other_files_whatever_the_jobs(written):
    done = subprocess.run([sys.executable, "-m", "rdbtools.cli", "report", "-", str(written.path), "--jobs", "2",
                           "--format", "json"], input=written.path.read_bytes(), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    doc = orjson.loads(done.stdout)
    assert [line["keys"] for line in doc["files"]] == [len(written.keys)] * 2
