"""Run Debian's redis-check-aof 7.0 and read its verdict, for parity tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from tests.servers import PROCESS_TIMEOUT

BINARY = "/usr/bin/redis-check-aof"
_ERROR = re.compile(r"^0x\s*([0-9a-f]+): (.*)$", re.M)
_ANALYZED = re.compile(r"AOF analyzed: filename=(.*), size=(\d+), ok_up_to=(\d+), ok_up_to_line=(\d+), diff=(\d+)")


@dataclass
class RealVerdict:
    exit_code: int
    output: str
    error_offset: int | None
    error: str | None
    ok_up_to: int | None
    line: int | None
    format_error: bool
    empty: bool


def require_redis_check_aof() -> str:
    if shutil.which(BINARY) is None:
        message = "redis-check-aof (Debian's redis-tools) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return BINARY


def run_real(path, *options: str) -> RealVerdict:
    result = subprocess.run([require_redis_check_aof(), *options, str(path)], capture_output=True, text=True,
                            input="y\n", timeout=PROCESS_TIMEOUT, errors="replace")
    out = result.stdout
    error = _ERROR.search(out)
    analyzed = ([None, *_ANALYZED.finditer(out)])[-1]  # the last file checked (multi-part prints one a file)
    return RealVerdict(result.returncode, out, int(error.group(1), 16) if error else None,
                       error.group(2) if error else None, int(analyzed.group(3)) if analyzed else None,
                       int(analyzed.group(4)) if analyzed else None, " format error" in out, " is empty" in out)
