"""Every place that writes state survives SIGKILL and SIGINT mid-write.

Each writer runs in a child process that writes in a loop; the child is killed at a
random moment (seeded) and the state it left must read back whole: a report is the old
one or the new one, never half; SQLite stores (cache, gold store, outbox) hold whole
batches only; a model directory is listed only when complete. A crash loses at most the
batch being written.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

BATCH = 25

PRELUDE = """
import sys
from pathlib import Path
state = Path(sys.argv[1])
def ready():
    print("ready", flush=True)
"""

WRITERS = {
    "report": """
from stabtest.core.report import RunReport, write_report
from stabtest.core.results import GenerationStats, RunSummary
first = True
n = 0
while True:
    n += 1
    report = RunReport(
        run_id=f"run-{n}", status="running", started_at=0.0, finished_at=0.0,
        summary=RunSummary(), generation=GenerationStats(),
        settings={"blob": "x" * (200_000 + n)},
    )
    write_report(state / "stabtest.json", report)
    if first:
        ready(); first = False
""",
    "cache": """
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.cache import Cache
cache = Cache(state / "cache.sqlite")
params = GenerationParams()
n = 0
while True:
    rows = [
        (f"k{n}-{i}", GenerationRequest(f"prompt {n} {i}", params), "answer " * 200)
        for i in range(BATCH)
    ]
    cache.put_many(rows, "fp")
    n += 1
    if n == 1:
        ready()
""",
    "gold": """
from stabtest.adjudication.gold import GoldStore
from stabtest.core.results import GoldLabel
store = GoldStore(state / "gold.sqlite")
n = 0
while True:
    store.upsert(
        GoldLabel(f"s.yaml::c{n}[v{i}]", f"h{i}", True, False, "fixed " * 50)
        for i in range(BATCH)
    )
    n += 1
    if n == 1:
        ready()
""",
    "outbox": """
from stabtest.adjudication.outbox import Outbox
box = Outbox(state / "outbox.sqlite")
n = 0
while True:
    box.park("project", [
        {"data": {"external_id": f"e{n}-{i}", "text": "t" * 2000}} for i in range(BATCH)
    ])
    n += 1
    if n == 1:
        ready()
""",
    "models": """
from stabtest.remediation import models
n = 0
while True:
    n += 1
    partial = models.partial_dir(state)
    partial.mkdir(parents=True)
    for i in range(BATCH):
        (partial / f"shard-{i}.bin").write_bytes(b"w" * 40_000)
    models.finish(partial, models.models_dir(state) / f"base-r{n}", {"round": n, "base": "b"})
    if n == 1:
        ready()
""",
}


def _check_report(state: Path) -> None:
    from stabtest.core.report import read_report

    report = read_report(state / "stabtest.json")
    assert len(report.settings["blob"]) > 200_000


def _check_cache(state: Path) -> None:
    from stabtest.generation.cache import Cache

    with Cache(state / "cache.sqlite") as cache:
        count = cache.count()
    assert count > 0 and count % BATCH == 0


def _check_gold(state: Path) -> None:
    from stabtest.adjudication.gold import GoldStore

    count = GoldStore(state / "gold.sqlite").count()
    assert count > 0 and count % BATCH == 0


def _check_outbox(state: Path) -> None:
    from stabtest.adjudication.outbox import Outbox

    count = len(Outbox(state / "outbox.sqlite"))
    assert count > 0 and count % BATCH == 0


def _check_models(state: Path) -> None:
    from stabtest.remediation import models

    listed = models.rounds(state)
    assert listed
    for model_round in listed:
        shards = sorted(model_round.path.glob("shard-*.bin"))
        assert len(shards) == BATCH
        assert all(s.stat().st_size == 40_000 for s in shards)
    models.clean_partials(state)
    assert not list(models.models_dir(state).glob(models.PARTIAL + "*"))
    # The next round starts clean after the leftovers are gone.
    assert models.next_round(state, "b") == max(r.round for r in listed) + 1


CHECKS: dict[str, Callable[[Path], None]] = {
    "report": _check_report,
    "cache": _check_cache,
    "gold": _check_gold,
    "outbox": _check_outbox,
    "models": _check_models,
}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_state_survives_a_kill_mid_write(tmp_path: Path, writer: str, sig: signal.Signals):
    script = PRELUDE + f"BATCH = {BATCH}\n" + textwrap.dedent(WRITERS[writer])
    rng = random.Random(f"{writer}-{sig}")
    for attempt in range(2):
        state = tmp_path / f"attempt-{attempt}"
        state.mkdir()
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "ready":
            child.kill()
            pytest.fail(f"{writer} writer did not start: {line}{child.stderr.read()}")
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(sig)
        try:
            child.wait(timeout=30)
        finally:
            child.kill()
        CHECKS[writer](state)
