"""The report as one JSON-ready document: what ``--format json`` prints, and what the terminal and HTML
renderings show. ``bytes`` are the keys' (MEMORY USAGE), ``overhead`` what no key holds (the keyspace's tables),
``total`` both. Byte strings (keys, prefixes) as ``rdbtool dump`` writes them: a string, or ``{"b64": ...}``."""

from __future__ import annotations

from typing import Any

from rdbtools.export.records import bytes_to_json
from rdbtools.report.measure import KeyFacts
from rdbtools.report.run import Report
from rdbtools.report.summary import TTL_ORDER, Ranked, Summary, ranked


def document(report: Report, prefixes: int | None = None) -> dict[str, Any]:
    """``prefixes``: how many of the prefix tree's rows (the most bytes first), all when None."""
    summary = report.summary
    return {
        "files": [{"path": file.path, "target": file.target, "keys": file.summary.keys, "bytes": file.summary.bytes,
                   "overhead": file.overhead, "total": file.total} for file in report.files],
        "keys": summary.keys,
        "bytes": summary.bytes,
        "overhead": report.overhead,
        "total": report.total,
        "dbs": _groups(summary, summary.dbs, "db", sorted(summary.dbs)),
        "types": _groups(summary, summary.types, "type", _by_bytes(summary.types)),
        "encodings": [{"type": kind, "encoding": encoding, **_counts(summary, summary.encodings[kind, encoding])}
                      for kind, encoding in _by_bytes(summary.encodings)],
        "ttl": _groups(summary, summary.ttls, "bucket", [b for b in TTL_ORDER if b in summary.ttls]),
        "past_thresholds": _groups(summary, summary.thresholds, "directive", _by_bytes(summary.thresholds)),
        "top_keys": [_key(entry) for entry in ranked(summary.top_keys)],
        "largest_elements": [_key(entry) for entry in ranked(summary.largest_elements)],
        "prefixes": [{"prefix": bytes_to_json(row.prefix), "depth": row.depth, "keys": row.keys, "bytes": row.bytes,
                      "share": _share(row.bytes, summary.bytes), "other": row.other}
                     for row in summary.prefixes.rows()[:prefixes]],
        "options": {"top": report.options.top, "separators": list(report.options.separators),
                    "depth": report.options.depth, "max_prefixes": report.options.max_prefixes,
                    "now_ms": report.options.now_ms},
    }


def _by_bytes(groups: dict) -> list:
    return sorted(groups, key=lambda name: (-groups[name][1], name))


def _groups(summary: Summary, groups: dict, label: str, order: list) -> list[dict[str, Any]]:
    return [{label: name, **_counts(summary, groups[name])} for name in order]


def _counts(summary: Summary, counts: list[int]) -> dict[str, Any]:
    return {"keys": counts[0], "bytes": counts[1], "share": _share(counts[1], summary.bytes)}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _key(entry: Ranked) -> dict[str, Any]:
    facts: KeyFacts = entry[-1]
    return {"file": entry[1], "db": facts.db, "key": bytes_to_json(facts.key), "type": facts.type,
            "encoding": facts.encoding, "bytes": facts.bytes, "elements": facts.elements,
            "largest_element": facts.largest_element, "expire_ms": facts.expire_ms}
