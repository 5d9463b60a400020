"""The per-key table (``--per-key``): one row a key, as CSV for spreadsheets, JSON Lines for jq, Parquet for
DuckDB, Polars or Spark (pyarrow, an optional extra). Rows arrive in batches and are written at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

import orjson

from rdbtools.errors import MissingDependency
from rdbtools.export.records import bytes_to_json
from rdbtools.report.measure import KeyFacts

COLUMNS = ("file", "db", "key", "type", "encoding", "bytes", "elements", "largest_element", "expire_ms")
FORMATS = ("csv", "jsonl", "parquet")

Row = tuple[str, KeyFacts]  # (file, facts)


class RowWriter(Protocol):
    """Writes batches of rows to a binary stream; ``close`` ends the table (Parquet's footer)."""

    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class CsvRows:
    """A header line, then a key a line; a key that is not UTF-8 shows its other bytes as ``\\xNN`` (lossy: the
    jsonl and parquet tables keep every byte)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.csv = csv.writer(self.out)
        self.csv.writerow(COLUMNS)

    def write(self, rows: list[Row]) -> None:
        self.csv.writerows((file, f.db, f.key.decode("utf-8", "backslashreplace"), f.type, f.encoding, f.bytes,
                            f.elements, f.largest_element, "" if f.expire_ms is None else f.expire_ms)
                           for file, f in rows)

    def close(self) -> None:
        self.out.flush()
        self.out.detach()


class JsonlRows:
    """An object a line; keys as ``rdbtool dump`` writes byte strings (a string, or ``{"b64": ...}``)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def write(self, rows: list[Row]) -> None:
        self.out.write(b"".join(orjson.dumps(
            {"file": file, "db": f.db, "key": bytes_to_json(f.key), "type": f.type, "encoding": f.encoding,
             "bytes": f.bytes, "elements": f.elements, "largest_element": f.largest_element,
             "expire_ms": f.expire_ms}) + b"\n" for file, f in rows))

    def close(self) -> None:
        """Lines need no ending."""


class ParquetRows:
    """A Parquet file, a row group a batch; keys as binary (every byte kept)."""

    def __init__(self, out: BinaryIO) -> None:
        pa, parquet = _pyarrow()
        self.pa = pa
        self.schema = pa.schema([("file", pa.string()), ("db", pa.int32()), ("key", pa.binary()),
                                 ("type", pa.string()), ("encoding", pa.string()), ("bytes", pa.int64()),
                                 ("elements", pa.int64()), ("largest_element", pa.int64()),
                                 ("expire_ms", pa.int64())])
        self.writer = parquet.ParquetWriter(out, self.schema)

    def write(self, rows: list[Row]) -> None:
        columns: list[list[Any]] = [[file for file, _ in rows]]
        columns += [[getattr(f, name) for _, f in rows] for name in COLUMNS[1:]]
        self.writer.write_table(self.pa.Table.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingDependency("--per-key parquet needs pyarrow: pip install 'rdbtool[parquet]'") from None
    return pyarrow, pyarrow.parquet


WRITERS: dict[str, Callable[[BinaryIO], RowWriter]] = {"csv": CsvRows, "jsonl": JsonlRows, "parquet": ParquetRows}
