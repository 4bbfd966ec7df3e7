"""Progress of long work in a real pytest run: throttled lines in a log, a live line on a
terminal (a pseudo-terminal here) that is erased before pytest writes, nothing with
`never` or under `-q`, and pytest's own output intact, also under xdist."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.plugin.conftest import CONSISTENT, Writer

SAMPLED = """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
    sampling: {temperature: 0.7, samples: 8}
"""
"""24 requests: with `stab_batch_size = 1`, 24 batches."""
ONE_BY_ONE = "stab_batch_size = 1\n"
SLOW_BACKEND = """
import time

from stabtest.generation.fake import FakeBackend


class Slow(FakeBackend):
    def generate(self, requests):
        time.sleep(0.05)  # 24 batches: at least 1.2 s, so the live line is drawn
        return super().generate(requests)
"""
LINE = re.compile(r"^stabtest: generating (\d+)/(\d+) answers \((\d+)%\)")
RESULT_LINE = "suites/capitals.yaml .... *[[]100%[]]"


def progress_lines(result: pytest.RunResult) -> list[tuple[int, int]]:
    found = [LINE.match(line) for line in result.outlines]
    return [(int(m[1]), int(m[2])) for m in found if m]


def test_a_log_gets_a_line_per_tenth_and_pytest_output_stays_whole(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT, ini=ONE_BY_ONE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-progress", "always")
    result.assert_outcomes(passed=4)
    lines = progress_lines(result)
    assert lines[0] == (0, 24) and lines[-1] == (24, 24)
    assert 3 <= len(lines) <= 11 < 24  # tenths, never one per batch
    done = [d for d, _ in lines]
    assert done == sorted(set(done))
    # Each line lands in a later tenth than the one before it.
    tenths = [d * 10 // 24 for d in done]
    assert tenths == sorted(set(tenths))
    # pytest's line is given back after ours: the file and its results on one line.
    result.stdout.fnmatch_lines(["suites/capitals.yaml ", "stabtest: generating 0/24*", "*"])
    result.stdout.fnmatch_lines(["stabtest: generating 24/24 answers (100%)*", RESULT_LINE])
    result.stdout.fnmatch_lines(["*= 4 passed*"])


def test_never_shows_no_progress(pytester: pytest.Pytester, stab_project: Writer) -> None:
    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT, ini=ONE_BY_ONE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-progress", "never")
    result.assert_outcomes(passed=4)
    assert not [line for line in result.outlines if line.startswith("stabtest: ")]


@pytest.mark.parametrize("quiet", [False, True], ids=["default", "quiet"])
def test_by_default_a_log_shows_work_that_runs_over_two_seconds_unless_quiet(
    pytester: pytest.Pytester, stab_project: Writer, quiet: bool
) -> None:
    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT, ini=ONE_BY_ONE)
    pytester.makepyfile(slow_backend=SLOW_BACKEND.replace("0.05", "0.1"))  # >= 2.4 s in all
    pytester.syspathinsert()
    args = ["-p", "no:cacheprovider", "--stab-backend=slow_backend:Slow"] + ["-q"] * quiet
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=4)
    lines = progress_lines(result)
    if quiet:
        assert lines == []
    else:  # nothing in the first 2 s (so not the start), then the next tenth on
        assert 1 <= len(lines) <= 10 and lines[0][0] > 0 and lines[-1] == (24, 24)


def test_xdist_workers_never_write_progress(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT, ini=ONE_BY_ONE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-n", "2", "--stab-progress", "always")
    result.assert_outcomes(passed=4)
    assert not [line for line in result.outlines if "stabtest: generating" in line]
    result.stdout.fnmatch_lines(["....*[[]100%[]]", "*stabtest*", "*capital-of-france*PASS*"])


def test_a_bad_progress_setting_is_one_usage_error(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT)
    result = pytester.runpytest("--stab-progress", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stab-progress*expected one of auto, always, never*"])


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def screen(raw: str) -> list[str]:
    """What a terminal shows after `raw`: carriage returns and backspaces move the cursor,
    what is written over is gone."""
    lines: list[list[str]] = [[]]
    column = 0
    for char in _ANSI.sub("", raw):
        line = lines[-1]
        if char == "\n":
            lines.append([])
            column = 0
        elif char == "\r":
            column = 0
        elif char == "\b":
            column = max(0, column - 1)
        else:
            line.extend(" " * (column + 1 - len(line)))
            line[column] = char
            column += 1
    return ["".join(line).rstrip() for line in lines]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_gets_a_live_line_erased_before_pytest_writes(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    import pty

    stab_project({"capitals.yaml": SAMPLED}, CONSISTENT, ini=ONE_BY_ONE)
    pytester.makepyfile(slow_backend=SLOW_BACKEND)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--stab-progress"]
    command += ["always", "--stab-backend=slow_backend:Slow"]
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(pytester.path)}
    with subprocess.Popen(
        command, cwd=pytester.path, stdin=follower, stdout=follower, stderr=follower, env=env
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    os.close(leader)
    raw = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert "stabtest: generating" in raw and "\b" in raw  # drawn, then rewritten in place
    shown = screen(raw)
    assert not [line for line in shown if "stabtest: generating" in line]  # all erased
    assert [line for line in shown if re.fullmatch(r"suites/capitals\.yaml \.{4} +\[100%\]", line)]
    assert any(re.search(r"= 4 passed in", line) for line in shown)
