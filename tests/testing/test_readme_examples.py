"""The README's "Testing with rdbtool" examples run as written: a block that defines tests is a test module run
by pytest with the plugin (pytester), every test in it passing; any other block is run as a script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Testing with rdbtool"
TEST_DEFINITION = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)


def examples() -> list[tuple[str, str]]:
    """(the subsection's title, the block) for each python block of the section, in order."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.find("\n## ", len(SECTION))]
    found, heading = [], SECTION
    for part in re.split(r"^(### .*)$", section, flags=re.MULTILINE):
        if part.startswith("### "):
            heading = part[4:].strip()
            continue
        found += [(heading, block) for block in re.findall(r"^```python\n(.*?)^```$", part, re.S | re.M)]
    return found


EXAMPLES = examples()


def test_the_section_has_the_examples_of_its_subsections():
    assert {"pytest fixtures", "Crash tests", "In-process client", "Persistence failures"} <= {
        heading for heading, _ in EXAMPLES}


@pytest.mark.parametrize("heading, block", EXAMPLES,
                         ids=[f"{heading}-{index}" for index, (heading, _) in enumerate(EXAMPLES)])
def test_the_example_runs_as_written(pytester, monkeypatch, heading, block):
    tests = TEST_DEFINITION.findall(block)
    if not tests:
        monkeypatch.chdir(pytester.path)
        exec(compile(block, f"README.md ({heading})", "exec"), {"__name__": "__main__"})
        return
    pytester.makepyfile(test_example=block)
    result = pytester.runpytest("-p", "rdbtools.testing.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(tests))
