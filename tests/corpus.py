"""The shared corpus of real RDB/AOF files (../shared/corpus) and what its README says about them.

Tests read the corpus in place (it is never copied into the project) and fail, not skip, when it
is missing: a green run without it would prove nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from rdbtools.errors import UnsupportedError
from rdbtools.formats.rdb import Header, check_version

REPO = Path(__file__).resolve().parent.parent

#: reasons a real server gives for refusing a file that say nothing about its soundness
NOT_CORRUPTION = (
    "Can't handle RDB format version",
    "Wrong signature trying to load DB from file",  # a Valkey 9 file offered to Redis
    "no matching module",
    "Pre-release function format not supported",  # 7.0-rc functions, refused from 7.2 on
)


def corpus_dir() -> Path:
    """``$RDBTOOL_CORPUS`` or ../shared/corpus beside the repository; fails the test when absent."""
    configured = os.environ.get("RDBTOOL_CORPUS")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    if not (path / "README.md").is_file():
        pytest.fail(f"corpus not found at {path}: put the shared corpus there or set RDBTOOL_CORPUS")
    return path


@dataclass
class CorpusFile:
    """One file's entry in the corpus README."""

    path: Path
    rejections: dict[str, str] = field(default_factory=dict)  # server -> reason

    @property
    def name(self) -> str:
        return str(self.path.relative_to(corpus_dir() / "peers"))

    @property
    def corrupt(self) -> bool:
        """Some real server refuses it for a reason other than its version or a missing module."""
        return any(not any(n in reason for n in NOT_CORRUPTION) for reason in self.rejections.values())

    @property
    def version_readable(self) -> bool:
        """Whether rdbtool reads this RDB's format version (a newer one is refused by name)."""
        header = Header.parse(self.path.read_bytes()[:9])
        try:
            check_version(header.magic, header.version)
        except UnsupportedError:
            return False
        return True

    @property
    def expected(self) -> Path | None:
        candidate = corpus_dir() / "expected" / (self.name + ".json")
        return candidate if candidate.is_file() else None


_SECTION = re.compile(r"^### `peers/(?P<path>[^`]+)`\s*$", re.M)
_REJECTED = re.compile(r"^  - (?P<server>[\w.-]+): \*\*rejected\*\* \((?P<reason>.*)\)\s*$", re.M)


@cache
def corpus_files() -> tuple[CorpusFile, ...]:
    """Every RDB/AOF file the README describes, with the servers that refuse it and why."""
    root = corpus_dir()
    text = (root / "README.md").read_text()
    sections = list(_SECTION.finditer(text))
    files = []
    for i, match in enumerate(sections):
        body = text[match.end() : sections[i + 1].start() if i + 1 < len(sections) else len(text)]
        rejections = {m["server"]: m["reason"] for m in _REJECTED.finditer(body)}
        files.append(CorpusFile(root / "peers" / match["path"], rejections))
    return tuple(files)


def rdb_files() -> list[CorpusFile]:
    """The corpus RDBs of the format versions rdbtool reads."""
    return [f for f in corpus_files() if f.path.suffix == ".rdb" and f.version_readable]


def newer_rdb_files() -> list[CorpusFile]:
    """The corpus RDBs of format versions newer than rdbtool reads: refused by name, never misread."""
    return [f for f in corpus_files() if f.path.suffix == ".rdb" and not f.version_readable]


def rdb_ids(files: list[CorpusFile]) -> list[str]:
    return [f.path.parent.name + "/" + f.path.name for f in files]
