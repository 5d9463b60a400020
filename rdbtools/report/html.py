"""``--html``: the report as one page that needs nothing else (no network): the document's tables and a
treemap of the prefix tree to click through, drawn by the page's own script (page.html) from the document."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson

from rdbtools.export.records import bytes_to_json
from rdbtools.report.document import document
from rdbtools.report.run import Report


def page(report: Report) -> str:
    """The page with the report's document and its prefix tree in it, safe inside its script element."""
    summary = report.summary
    doc: dict[str, Any] = document(report) | {"tree": summary.prefixes.tree(summary.keys, summary.bytes,
                                                                             bytes_to_json)}
    data = orjson.dumps(doc).decode().replace("<", "\\u003c")  # (no key can end the script or open a comment)
    return files("rdbtools.report").joinpath("page.html").read_text(encoding="utf-8").replace("__REPORT__", data)
