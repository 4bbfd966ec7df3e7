"""Push verdicts to Label Studio and pull human labels back.

Both directions report trouble instead of raising it: a push that cannot reach the server,
or is refused, parks its tasks in the outbox and says so; a pull that fails leaves the gold
store as it was. The token is passed to the SDK and nowhere else: it is never part of a
message, a log line, or a file we write; nor is a credential in the URL (user:password@,
?token=...): reports, messages and the gold store see the URL redacted.

A push stages its tasks in the outbox before its first request and takes each out once the
server has it, so Ctrl-C or a kill part-way loses nothing: the next push sends the rest,
and skips what the server already has (by external id). Concurrent pushes to one server
and prefix take turns under a file lock (`outbox.push_lock`), so they never create one
project twice nor import one task twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stabtest.adjudication.gold import GoldRecord, GoldStore
from stabtest.adjudication.labeling_config import LABEL_CONFIG
from stabtest.adjudication.outbox import LOCK_TIMEOUT, Outbox, push_lock
from stabtest.adjudication.parse import ParsedTask, parse_task
from stabtest.adjudication.tasks import DEFAULT_INCLUDE, original_prompts, selection, task_for
from stabtest.core.results import VariantResult
from stabtest.core.text import redact_url, scrub_url, shorten_middle, terminal_safe

TOKEN_SETTINGS = "LABEL_STUDIO_API_KEY (environment) or the ini key stab_label_studio_token"
TITLE_MAX = 50  # Label Studio rejects longer project titles
# Tasks per import request (~1.5 MB of JSON; the server takes 200 MB). Measured: per-request
# overhead dominates small chunks; the server's per-task cost (counters of tasks with
# predictions) is linear, so one big request is fastest.
CHUNK = 1000
PAGE = 1000
SNIPPET = 200  # characters of a server's (non-HTML) error body quoted in a message
BASE_URL_HINT = "give the server's base URL (scheme://host:port, no page path or query)"


def project_title(prefix: str, suite: str) -> str:
    """`<prefix>: <suite>`, shortened with a digest when over Label Studio's 50 chars so
    two long suite names never share a project."""
    title = f"{prefix}: {suite}"
    if len(title) <= TITLE_MAX:
        return title
    digest = hashlib.sha256(suite.encode()).hexdigest()[:8]
    keep = TITLE_MAX - len(prefix) - 2 - len(digest) - 1
    return f"{prefix}: {suite[: max(keep, 0)]}~{digest}"[:TITLE_MAX]


def _is_ours(title: str, prefix: str) -> bool:
    return title.startswith(f"{prefix}: ")


# -- reports -------------------------------------------------------------------------------


@dataclass
class PushReport:
    """What a push did. `parked` counts tasks left in the outbox for the next push;
    `interrupted`: Ctrl-C stopped it (see `PushInterrupted`)."""

    url: str
    outbox_path: str
    selected: int = 0
    drained: int = 0
    imported: int = 0
    already_present: int = 0
    parked: int = 0
    projects: dict[str, int] = field(default_factory=dict)
    created_projects: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line: what the push did (the plugin's and the CLI's wording)."""
        drained = f" ({self.drained} from the outbox)" if self.drained else ""
        parked = f" in the outbox {self.outbox_path}" if self.parked else " in the outbox"
        return (
            f"label studio: pushed {self.imported} task(s){drained} to "
            f"{len(self.projects)} project(s) at {self.url}, {self.already_present} "
            f"already there, {self.parked} parked{parked}"
        )

    def summary(self) -> str:
        return self.line() + (f"\n{self.error}" if self.error else "")


@dataclass
class PullReport:
    """What a pull did. Gold labels are only ever added or re-versioned, never removed."""

    url: str
    projects: dict[str, int] = field(default_factory=dict)
    tasks: int = 0
    annotated: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    missing_fields: int = 0
    warnings: list[str] = field(default_factory=list)
    unknown_tasks: list[str] = field(default_factory=list)
    missing_projects: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line: what the pull did (the plugin's and the CLI's wording)."""
        return (
            f"label studio: pulled {self.annotated} annotated task(s) from "
            f"{len(self.projects)} project(s) at {self.url}: {self.inserted} new, "
            f"{self.changed} changed, {self.unchanged} unchanged gold label(s)"
        )

    def summary(self) -> str:
        lines = [self.line(), *self.warnings, *self.missing_projects]
        lines += [f"skipped unknown task: {t}" for t in self.unknown_tasks]
        if self.error:
            lines.append(self.error)
        return "\n".join(lines)


# -- errors --------------------------------------------------------------------------------


_HTML = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)


def one_line(text: str, limit: int = SNIPPET) -> str:
    """`text` shortened to about `limit` characters, on one line, terminal-safe."""
    return terminal_safe(" ".join(shorten_middle(text, limit).split()), layout=False)


def _detail(body: Any, headers: Mapping[str, str] | None = None) -> str | None:
    """What the server said, short and on one line; None for a web page (a server's HTML
    error page runs to kilobytes and says nothing a person can act on here)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, Mapping):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return one_line(" ".join(p for p in parts if p) or str(dict(body)))
    kind = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type", "")
    text = "" if body is None else str(body)
    if "html" in kind.lower() or _HTML.search(text[:2000]):
        return None
    return one_line(text) or None


def describe_error(error: BaseException, url: str, token: str | None, consequence: str) -> str:
    """One line that names the server (its URL redacted), the cause, the setting to fix and
    what happened to the data; the token and the URL's credentials are scrubbed from it
    whatever the exception carried, and a server's HTML page is never quoted."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    raw_url = url
    url = redact_url(url)
    if isinstance(error, ApiError):
        status = error.status_code
        detail = _detail(error.body, error.headers)
        if status in (401, 403):
            text = (
                f"Label Studio at {url} refused the token (HTTP {status}): set {TOKEN_SETTINGS} "
                f"to a valid access token of this server (Account & Settings; a legacy token "
                f"needs legacy tokens enabled in the organization). {consequence}"
            )
        elif detail is None:
            text = (
                f"Label Studio at {url} answered HTTP {status} with a web page, not its API: "
                f"{BASE_URL_HINT}. {consequence}"
            )
        elif status == 404:
            text = (
                f"Label Studio at {url} has no such API endpoint (HTTP 404: {detail}): "
                f"{BASE_URL_HINT}. {consequence}"
            )
        elif status is not None and status >= 500:
            text = f"Label Studio at {url} failed (HTTP {status}: {detail}). {consequence}"
        else:
            text = (
                f"Label Studio at {url} rejected the request (HTTP {status}: {detail}). "
                f"{consequence}"
            )
    elif isinstance(error, httpx.TransportError):
        text = (
            f"Label Studio at {url} is unreachable ({type(error).__name__}: "
            f"{one_line(str(error))}). {consequence}"
        )
    else:
        text = (
            f"Label Studio at {url}: unexpected {type(error).__name__}: "
            f"{one_line(str(error))}. {consequence}"
        )
    return scrub(text, token, raw_url)


def scrub(text: str, token: str | None, url: str | None = None) -> str:
    """The text with the token masked, and `url` (if given) redacted with its credentials
    masked wherever they appear: no message, report or log shows them."""
    if url:
        text = scrub_url(text, url)
    return text.replace(token, "***") if token else text


def _connect(url: str, token: str, timeout: float) -> Any:
    from label_studio_sdk import LabelStudio

    # One retry rides out a blip; more would only delay parking the tasks.
    return LabelStudio(  # type: ignore[no-untyped-call]
        base_url=url, api_key=token, timeout=timeout, max_retries=1
    )


def _projects(client: Any, prefix: str) -> dict[str, list[int]]:
    """Our projects on the server, by title, oldest first (one listing). `include` trims
    the reply to the fields named; `title` filters by substring, so the prefix is checked
    here too. One title can name several projects (made by hand, or by two concurrent
    pushes of older versions): a push adds to the oldest, a pull reads them all."""
    found: dict[str, list[int]] = {}
    for project in client.projects.list(page_size=100, include="id,title", title=prefix):
        if project.title and _is_ours(project.title, prefix):
            found.setdefault(project.title, []).append(project.id)
    return {title: sorted(ids) for title, ids in found.items()}


def _existing_ids(client: Any, project_id: int) -> set[str]:
    """External ids already in the project. Our tasks carry the id in `meta` too, and a
    listing trimmed to id+meta is several times cheaper than one with the data; only when
    some task lacks it (added by hand, re-imported from an export) do we read the data."""
    ids: set[str] = set()
    incomplete = False
    for task in client.tasks.list(
        project=project_id, fields="task_only", include="id,meta", page_size=PAGE
    ):
        meta = task.meta if isinstance(task.meta, Mapping) else {}
        if isinstance(meta.get("external_id"), str):
            ids.add(meta["external_id"])
        else:
            incomplete = True
    if incomplete:
        for task in client.tasks.list(
            project=project_id, fields="task_only", include="id,data", page_size=PAGE
        ):
            data = task.data if isinstance(task.data, Mapping) else {}
            if isinstance(data.get("external_id"), str):
                ids.add(data["external_id"])
    return ids


# -- push ----------------------------------------------------------------------------------


def _kept(count: int, outbox_path: str | Path) -> str:
    return f"{count} task(s) are kept in the outbox {outbox_path}; the next push sends them."


def _queue(
    parked: Mapping[str, list[dict[str, Any]]], fresh: Mapping[str, list[dict[str, Any]]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Parked tasks first (they waited longest), then this run's; one task per id."""
    queue: dict[str, dict[str, dict[str, Any]]] = {}
    for source in (parked, fresh):
        for title, tasks in source.items():
            for task in tasks:
                queue.setdefault(title, {}).setdefault(task["data"]["external_id"], task)
    return queue


class PushInterrupted(KeyboardInterrupt):
    """Ctrl-C during a push. Still a KeyboardInterrupt (the process stops as asked), and it
    carries the push's report: what was sent, and that the rest is in the outbox."""

    def __init__(self, report: PushReport):
        super().__init__(report.error)
        self.report = report


def push_results(
    variants: Iterable[VariantResult],
    *,
    url: str,
    token: str | None,
    outbox_path: str | Path,
    project_prefix: str = "stabtest",
    include: Iterable[str] = DEFAULT_INCLUDE,
    run_id: str | None = None,
    store: GoldStore | None = None,
    timeout: float = 60.0,
    chunk_size: int = CHUNK,
    lock_timeout: float = LOCK_TIMEOUT,
) -> PushReport:
    """Send the selected answers (by default failed and escalated ones) as tasks, one
    project per suite, after whatever the outbox holds. Tasks the server already has (same
    external id) are not imported again. Never raises for server trouble: the tasks go to
    the outbox and `report.error` says why. Ctrl-C raises `PushInterrupted`, every task
    the server has not confirmed being in the outbox. With `store`, the projects are
    remembered so a later pull can tell a deleted project from an empty one."""
    began = time.monotonic()
    url = url.rstrip("/")
    variants = list(variants)
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    originals = original_prompts(variants)
    fresh: dict[str, list[dict[str, Any]]] = {}
    for variant, answer in selection(variants, include):
        original = originals.get((variant.suite, variant.case_id), variant.prompt)
        title = project_title(project_prefix, variant.suite)
        fresh.setdefault(title, []).append(task_for(variant, answer, original, run_id))
    outbox = Outbox(outbox_path)
    report = PushReport(url=redact_url(url), outbox_path=str(outbox_path))
    report.selected = sum(len(tasks) for tasks in fresh.values())
    lock = push_lock(outbox_path, report.url, project_prefix)
    try:
        if _acquire(lock, lock_timeout):
            try:
                _push_locked(
                    report, outbox, fresh, url, token, project_prefix, store, timeout, chunk_size
                )
            finally:
                lock.release()
        else:
            message = (
                f"another stabtest push to {report.url} has held the lock {lock.lock_file} for "
                f"{lock_timeout:.0f} s. {_kept(report.selected, outbox_path)}"
            )
            for title, tasks in fresh.items():
                outbox.park(title, tasks, error=message)
            report.error = message
            report.parked = len(outbox)
    except KeyboardInterrupt as stop:
        report.interrupted = True
        report.parked = len(outbox)
        report.error = (
            f"push to {report.url} interrupted: {report.imported} task(s) sent. "
            + _kept(report.parked, outbox_path)
        )
        report.seconds = time.monotonic() - began
        raise PushInterrupted(report) from stop
    report.seconds = time.monotonic() - began
    return report


def _acquire(lock: Any, timeout: float) -> bool:
    from filelock import Timeout

    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        return False
    return True


def _push_locked(
    report: PushReport,
    outbox: Outbox,
    fresh: Mapping[str, list[dict[str, Any]]],
    url: str,
    token: str | None,
    project_prefix: str,
    store: GoldStore | None,
    timeout: float,
    chunk_size: int,
) -> None:
    """The push proper, under the push lock: no other push reads the outbox, lists, creates
    or imports into our projects meanwhile."""
    outbox_path = report.outbox_path
    parked = outbox.pending()
    parked_ids = {(t, task["data"]["external_id"]) for t, tasks in parked.items() for task in tasks}
    queue = _queue(parked, fresh)

    def park_rest(message: str) -> None:
        report.error = message
        for title, tasks in queue.items():
            outbox.park(title, tasks.values(), error=message)
        report.parked = len(outbox)

    if not queue:
        report.parked = len(outbox)
        return
    consequence = _kept(sum(len(t) for t in queue.values()), outbox_path)
    if not token:
        park_rest(f"No Label Studio token for {report.url}: set {TOKEN_SETTINGS}. {consequence}")
        return
    for title, tasks in fresh.items():  # before the first request: a kill loses nothing
        outbox.stage(title, tasks)
    try:
        client = _connect(url, token, timeout)
        projects = _projects(client, project_prefix)
        for title in list(queue):
            pending = queue[title]
            existing: set[str] = set()
            if title in projects:
                for project_id in projects[title]:  # a task in any of them is there
                    existing |= _existing_ids(client, project_id)
            else:
                suite = next(iter(pending.values()))["data"].get("suite", "")
                created = client.projects.create(
                    title=title,
                    label_config=LABEL_CONFIG,
                    description=f"stabtest: answers of suite {suite} to adjudicate",
                )
                projects[title] = [created.id]
                report.created_projects.append(title)
            target = projects[title][0]
            report.projects[title] = target
            if store is not None:
                store.record_project(report.url, title, target)
            present = [i for i in pending if i in existing]
            report.already_present += len(present)
            report.drained += sum(1 for i in present if (title, i) in parked_ids)
            outbox.remove(title, present)
            for i in present:
                del pending[i]
            while pending:
                ids = list(pending)[:chunk_size]
                client.projects.import_tasks(target, request=[pending[i] for i in ids])
                report.imported += len(ids)
                report.drained += sum(1 for i in ids if (title, i) in parked_ids)
                outbox.remove(title, ids)
                for i in ids:
                    del pending[i]
            del queue[title]
    except Exception as error:  # anything: the tasks must survive it
        waiting = sum(len(t) for t in queue.values())
        park_rest(describe_error(error, url, token, _kept(waiting, outbox_path)))
    else:
        report.parked = len(outbox)


# -- pull ----------------------------------------------------------------------------------


def _annotated_tasks(client: Any, project_id: int) -> list[dict[str, Any]]:
    """Annotated tasks with full annotations. The export endpoint, not the task list: the
    list trimmed with `include` drops the annotation results, and untrimmed it is 2-3x
    slower than the export (measured on 1,000 tasks)."""
    raw = b"".join(
        client.projects.exports.download_sync(
            project_id, export_type="JSON", download_all_tasks=False
        )
    )
    tasks = json.loads(raw or b"[]")
    return tasks if isinstance(tasks, list) else []


def _users(client: Any) -> dict[int, str]:
    """User id -> email, to name annotators (the export gives ids); best effort."""
    try:
        return {u.id: u.email for u in client.users.list() if u.id is not None and u.email}
    except Exception:
        return {}


def _record(parsed: ParsedTask, title: str) -> GoldRecord:
    return GoldRecord(
        label=parsed.label,  # type: ignore[arg-type]
        auto_outcome=parsed.context.get("auto_outcome"),
        auto_leaning=parsed.context.get("auto_leaning"),
        confidence=parsed.context.get("confidence"),
        category=parsed.context.get("category"),
        votes=parsed.context.get("votes", ()),
        prompt=parsed.context.get("prompt"),
        original_prompt=parsed.context.get("original_prompt"),
        answer=parsed.context.get("answer"),
        suite=parsed.context.get("suite"),
        case_id=parsed.context.get("case_id"),
        project=title,
    )


def pull_gold(
    *,
    url: str,
    token: str | None,
    store: GoldStore,
    project_prefix: str = "stabtest",
    timeout: float = 60.0,
) -> PullReport:
    """Read the annotations of every `<prefix>: ...` project into the gold store (the
    latest non-cancelled annotation of a task wins, also across projects that share a
    title). A project the store knew that is gone from the server is reported and its gold
    kept. Never raises for server trouble."""
    from label_studio_sdk.core.api_error import ApiError

    began = time.monotonic()
    raw_url = url.rstrip("/")
    url = redact_url(raw_url)  # what messages and the gold store see
    report = PullReport(url=url)
    keep = "No labels were pulled; the gold store is unchanged."
    if not token:
        report.error = f"No Label Studio token for {url}: set {TOKEN_SETTINGS}. {keep}"
        return report
    records: dict[tuple[str, str], GoldRecord] = {}
    try:
        client = _connect(raw_url, token, timeout)
        projects = _projects(client, project_prefix)
        users = _users(client)
        for title, known_id in store.known_projects(url).items():
            if known_id not in projects.get(title, ()):
                report.missing_projects.append(
                    f"project {title!r} (id {known_id}) is gone from {url}; "
                    f"its {store.count(title)} gold label(s) are kept"
                )
                if title not in projects:
                    store.forget_project(url, title)
        for title, project_ids in projects.items():
            if len(project_ids) > 1:
                report.warnings.append(
                    f"{len(project_ids)} projects are titled {title!r} (ids "
                    f"{', '.join(map(str, project_ids))}): labels are read from all of them"
                )
            for project_id in project_ids:
                try:
                    tasks = _annotated_tasks(client, project_id)
                except ApiError as error:
                    if error.status_code != 404:
                        raise
                    report.missing_projects.append(
                        f"project {title!r} (id {project_id}) was deleted during the pull; "
                        f"its {store.count(title)} gold label(s) are kept"
                    )
                    continue
                if title not in report.projects:  # the oldest that answered
                    report.projects[title] = project_id
                    store.record_project(url, title, project_id)
                _read_tasks(report, records, tasks, title, users)
    except Exception as error:
        report.error = describe_error(error, raw_url, token, keep)
        report.seconds = time.monotonic() - began
        return report
    written = store.upsert(records.values())
    report.inserted, report.changed, report.unchanged = (
        written.inserted,
        written.changed,
        written.unchanged,
    )
    report.seconds = time.monotonic() - began
    return report


def _read_tasks(
    report: PullReport,
    records: dict[tuple[str, str], GoldRecord],
    tasks: Iterable[Any],
    title: str,
    users: Mapping[int, str],
) -> None:
    """Exported tasks into `records`, one per answer: of two tasks of one answer (in two
    projects of one title, or twice in one), the later annotation wins, so a pull is
    deterministic and a repeated one writes no new version."""
    for task in tasks:
        report.tasks += 1
        parsed = parse_task(task, users)
        if parsed is None:
            continue  # no usable annotation yet
        if parsed.label is None:
            report.unknown_tasks.append(f"{title} task {parsed.task_id}: {parsed.problem}")
            continue
        report.annotated += 1
        report.missing_fields += len(parsed.warnings)
        report.warnings += [f"{title} task {parsed.task_id}: {w}" for w in parsed.warnings]
        record = _record(parsed, title)
        key = (record.label.uid, record.label.answer_hash)
        kept = records.get(key)
        if kept is None or (record.label.updated_at or "") >= (kept.label.updated_at or ""):
            records[key] = record
