"""The benchmarks' one harness: databases, Django set-up, data through the models, rounds,
medians, verdicts and the report in docs/PERFORMANCE.md.

A benchmark module declares a :class:`Bench` and ends with ``sys.exit(BENCH.main())``. ``main``
parses the common options, creates and migrates the benchmark's database, sets Django up in a
temporary ``CUSTOS_VAR_DIR``, imports the module again as ``benchmarks.<name>`` and calls its
``run(ctx)``, which returns an :class:`Outcome`: verdicts and Markdown. The harness prints them,
writes the module's section of the doc on full runs, cleans up and exits 1 when a target is
missed. ``--child KIND key=value ...`` runs the module's ``child(kind, **kw)`` in a fresh process
and prints its JSON. Nothing of Django is imported at module level: this runs before its set-up.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import functools
import importlib
import json
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
MB = 1_000_000
MIB = 1024 * 1024
GIB = 1024**3

# --- Figures ------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def median_of(rows: Iterable[dict[str, Any]], key: str) -> float:
    """The median of each row's ``key``."""
    return median(row[key] for row in rows)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ordered(variants: Sequence[str], round_no: int) -> list[str]:
    """The variants in this round's order, rotated by one every round, so that the noise of a
    shared machine does not always hit the same one."""
    shift = (round_no - 1) % len(variants)
    return [*variants[shift:], *variants[:shift]]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall-clock seconds and the CPU seconds of this process, all threads."""
    cpu, started = cpu_seconds(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, cpu_seconds() - cpu


def timings_ms(fn: Callable[[], Any], count: int, warmup: int = 0) -> list[float]:
    """``fn()`` ``warmup`` times untimed, then ``count`` times: the milliseconds of each call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def cpu_seconds() -> float:
    """User and system time of this process, all its threads (to the microsecond)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib() -> int:
    """This process's resident set now (KiB), from /proc."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_reset() -> bool:
    """Start this process's peak resident set (VmHWM) again from its resident set now; False
    where Linux's ``clear_refs`` is missing. ``ru_maxrss`` cannot be reset, and a child started
    by ``subprocess`` inherits there its parent's resident set at the spawn (Linux keeps the
    larger of the two across ``exec``): a large parent hides the child's own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_kib() -> int:
    """This process's peak resident set (KiB) since its start or the last ``peak_rss_reset``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


WAV_HEADER_BYTES = 44  # RIFF + fmt + data chunk headers of a plain PCM WAV
SAMPLE_RATE = 8000  # telephony: 8 kHz, 16-bit, mono


def wav_size(approximate: int) -> int:
    """``approximate`` rounded down to a size a 16-bit WAV can have."""
    return approximate - (approximate - WAV_HEADER_BYTES) % 2


def write_wav(path: Path, size: int, *, seed: int) -> Path:
    """A valid 8 kHz 16-bit mono PCM WAV of exactly ``size`` bytes, seeded noise as samples."""
    import random
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    rng, remaining = random.Random(seed), size - WAV_HEADER_BYTES
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        while remaining > 0:
            block = min(remaining, 4 * MIB)
            wav.writeframesraw(rng.randbytes(block))
            remaining -= block
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} has {path.stat().st_size} bytes, not {size}")
    return path


def sha256_file(path: Path) -> str:
    import hashlib

    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def size_label(size: float) -> str:
    """Decimal units, as MB/s: 5000000 -> '5 MB', 2500000000 -> '2.5 GB', 250000 -> '250 kB'."""
    if size >= 1000 * MB:
        return f"{size / (1000 * MB):.1f} GB"
    if size >= MB:
        return f"{size / MB:.0f} MB" if size % MB < 1000 else f"{size / MB:.1f} MB"
    return f"{size / 1000:.0f} kB"


def count_label(n: int) -> str:
    """1000 -> '1k', 1000000 -> '1M'."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} s"


def profiled(fn: Callable[[], Any]) -> tuple[Any, pstats.Stats]:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        result = fn()
    finally:
        profiler.disable()
    return result, pstats.Stats(profiler)


def profile_parts(stats: pstats.Stats, parts: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Cumulative time of each part, named by (file path suffix, function name); parts overlap."""
    total = stats.total_tt  # type: ignore[attr-defined]
    out = []
    for label, (path, function) in parts.items():
        seconds = sum(
            entry[3]
            for (filename, _, name), entry in stats.stats.items()  # type: ignore[attr-defined]
            if name == function and filename.endswith(path)
        )
        out.append({"part": label, "ms": seconds * 1000, "share": seconds / total})
    return out


# --- Verdicts and Markdown ------------------------------------------------------------------------


@dataclass
class Verdict:
    key: str
    title: str
    measured: str
    target: str
    ok: bool | None  # None: informational

    @property
    def cell(self) -> str:
        return "informational" if self.ok is None else ("**met**" if self.ok else "**missed**")


def table(items: Iterable[dict[str, Any]], columns: str) -> list[str]:
    """A Markdown table of ``items``: ``columns`` holds a line per column, its name then a
    ``str.format`` template of an item (``n`` is the item's number, from 1). A name ending in '>'
    is right-aligned, in '^' centred."""
    specs = [
        (line[: line.index("{")].strip(), line[line.index("{") :].strip())
        for line in columns.strip().splitlines()
    ]
    align = {">": "---:", "^": ":---:"}
    out = ["| " + " | ".join(name.rstrip(">^") for name, _ in specs) + " |"]
    out.append("|" + "|".join(align.get(name[-1], "---") for name, _ in specs) + "|")
    for n, item in enumerate(items, 1):
        out.append("| " + " | ".join(template.format(n=n, **item) for _, template in specs) + " |")
    return [*out, ""]


def md(text: str, **values: Any) -> list[str]:
    """Lines of Markdown from an indented template, formatted with ``values``, and a blank line."""
    return [*textwrap.dedent(text).strip("\n").format(**values).splitlines(), ""]


def target_line(verdict: Verdict, target: str) -> list[str]:
    """'Target: <target>. <measured>: <verdict>.' and a blank line."""
    return [f"Target: {target}. {verdict.measured}: {verdict.cell}.", ""]


def verdict_table(verdicts: Sequence[Verdict]) -> list[str]:
    return table(
        [dataclasses.asdict(v) | {"cell": v.cell} for v in verdicts],
        """
        What {title}
        Measured {measured}
        Target {target}
        Verdict^ {cell}
        """,
    )


def update_doc(begin: str, end: str, section: str, path: Path = DOC_PATH) -> None:
    """Replaces the section between ``begin`` and ``end`` (or appends it); the rest is kept."""
    text = path.read_text() if path.exists() else "# Performance\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def environment(server_url: str) -> dict[str, str]:
    """What the figures were measured on."""
    import django
    import psycopg

    cpu, flags, memory = platform.processor() or platform.machine(), set(), ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    with psycopg.connect(server_url) as conn:
        (pg_version,) = conn.execute("SHOW server_version").fetchone()
    return {
        "cores": str(os.cpu_count() or "?"),
        "cpu": cpu,
        "cpu_flags": ", ".join(f for f in ("aes", "vaes", "vpclmulqdq", "sha_ni", "avx2") if f in flags),
        "memory": memory,
        "postgres": pg_version.split()[0],
        "python": platform.python_version(),
        "django": django.get_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


# --- Databases ----------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin(server_url: str, *statements: tuple[str, str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        for statement, name in statements:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def recreate_database(server_url: str, name: str) -> str:
    _admin(server_url, ("DROP DATABASE IF EXISTS {} WITH (FORCE)", name), ("CREATE DATABASE {}", name))
    return with_database(server_url, name)


def create_database(server_url: str, name: str) -> None:
    _admin(server_url, ("CREATE DATABASE {}", name))


def drop_database(server_url: str, name: str) -> None:
    _admin(server_url, ("DROP DATABASE IF EXISTS {} WITH (FORCE)", name))


def database_exists(server_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def migrate(db_url: str) -> None:
    """``manage.py migrate`` in a subprocess, as a deployment runs it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"migrate failed on {db_url}:\n{result.stdout}\n{result.stderr}")


# Data through the models: rows are model instances, written with django-pgbulk's COPY (the
# table and column names come from the models, so a migration that renames one carries over).


def truncate(*models: Any) -> None:
    """Empties the models' tables and restarts their ids (CASCADE: what points at them too)."""
    from django.db import connection

    names = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def copy_rows(model: Any, objs: Iterable[Any], *, with_ids: bool = False) -> None:
    """COPY ``objs`` into the model's table. ``with_ids``: the objects carry their primary keys
    (numbered by the caller after :func:`truncate`), and the id sequence is moved past them."""
    import pgbulk
    from django.core.management.color import no_style
    from django.db import connection

    exclude = None if with_ids else [model._meta.pk.name]
    pgbulk.copy(model, list(objs), exclude=exclude)  # a list: pgbulk walks the rows twice
    if with_ids:
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
                cursor.execute(statement)


def staff_user(username: str, *, superuser: bool = False, group: str | None = None, **defaults: Any) -> Any:
    """The staff user ``username`` (created with ``defaults`` if missing), active, without a usable
    password, a superuser or not, and in ``group`` alone when one is given."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=username, defaults=defaults)
    user.set_unusable_password()
    user.is_staff, user.is_superuser, user.is_active = True, superuser, True
    user.save()
    if group:
        user.groups.set([Group.objects.get(name=group)])
    return user


def numbered_rows(model: Any, count: int, **templates: str) -> None:
    """COPY ``count`` rows numbered 1 to ``count`` (their ids), each field a ``str.format``
    template of the number ``n``: ``numbered_rows(Queue, 10, code="queue-{n:02d}", ...)``."""
    rows = (model(id=n, **{k: v.format(n=n) for k, v in templates.items()}) for n in range(1, count + 1))
    copy_rows(model, rows, with_ids=True)


def recording_notice(version: str) -> Any:
    """The English recording notice ``version``, published now."""
    from django.utils import timezone

    from recordings.models import RecordingNotice

    text = "Calls are recorded for quality assurance."
    return RecordingNotice.objects.create(
        version=version, language="en", published_at=timezone.now(), text=text
    )


def quality_assurance(name: str = "Quality assurance") -> Any:
    """The quality-assurance purpose, created if missing."""
    from recordings.models import Purpose

    defaults = {"name": name, "description": "QA."}
    return Purpose.objects.get_or_create(code=Purpose.QUALITY_ASSURANCE, defaults=defaults)[0]


def wav_call(*, subject: str, queue: str, notice: str, size: int, ended: Any = None) -> dict[str, Any]:
    """The API's metadata of one inbound call of ``subject`` whose 8 kHz 16-bit WAV has ``size``
    bytes, ending ``ended`` (an hour ago by default), recorded with consent to quality assurance."""
    import datetime

    from django.utils import timezone

    ended = ended or timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1)
    started = ended - datetime.timedelta(seconds=size / (2 * SAMPLE_RATE))
    qa = "quality_assurance"
    consent = {"purpose": qa, "decision": "given", "method": "ivr_keypress", "notice_version": notice}
    consent |= {"notice_language": "en", "jurisdiction": "DE", "evidence_offset_seconds": 12}
    consent["captured_at"] = (started + datetime.timedelta(seconds=12)).isoformat()
    return {
        "subject": {"reference": subject},
        "queue": queue,
        "direction": "inbound",
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "lawful_basis": "consent",
        "purposes": [qa],
        "consents": [consent],
    }


def validated(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` validated as the API validates it (``recording_ingest`` takes the result)."""
    from recordings.intake.serializers import RecordingMetadataSerializer

    serializer = RecordingMetadataSerializer(data=metadata)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def ingest(path: Path, metadata: dict[str, Any]) -> Any:
    """``recording_ingest`` of the WAV at ``path``, as the API stores a call."""
    from recordings.intake.services import recording_ingest

    with path.open("rb") as audio:
        return recording_ingest(audio=audio, metadata=validated(metadata))


def analyze(*models: Any) -> None:
    """``VACUUM (ANALYZE)`` of the models' tables: fresh statistics and visibility maps."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def explain(sql: str, params: Any = None, *, runs: int = 3) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of a query, the last of ``runs`` (warm cache)."""
    from django.db import connection

    plan: list[tuple[str]] = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            plan = cursor.fetchall()
    return "\n".join(line for (line,) in plan)


_TABLE_RE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.I)


class QueryCounter:
    """Counts the statements Django sends (``execute_wrapper``; cheaper than capturing them, so it
    stays on in timed runs); ``by_kind`` classifies and times each (verb and first table)."""

    def __init__(self, by_kind: bool = False) -> None:
        self.count, self.by_kind = 0, by_kind
        self.kinds: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def _kind(self, sql: str) -> str:
        head = sql.lstrip().upper()
        for verb in ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"):
            if head.startswith(verb):
                return verb
        match = _TABLE_RE.search(sql)
        return head.split(None, 1)[0] + (f" {match.group(1)}" if match else "")

    def _run(self, label: str | None, run: Any, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if not self.by_kind:
            return run(*args, **kwargs)
        self.kinds[label or "?"] += 1
        started = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            self.seconds[label or "?"] += time.perf_counter() - started

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        return self._run(self.by_kind and self._kind(sql), execute, sql, params, many, context)

    def copy(self, original: Any, queryset: Any, *args: Any, **kwargs: Any) -> Any:
        model = queryset if isinstance(queryset, type) else queryset.model
        return self._run(f"COPY {model._meta.db_table}", original, queryset, *args, **kwargs)


@contextlib.contextmanager
def counting(by_kind: bool = False) -> Iterator[QueryCounter]:
    """Every statement through Django's cursor, and each ``pgbulk.copy`` (COPY bypasses it)."""
    from unittest import mock

    import pgbulk
    from django.db import connection

    counter = QueryCounter(by_kind)
    with (
        connection.execute_wrapper(counter),
        mock.patch.object(pgbulk, "copy", functools.partial(counter.copy, pgbulk.copy)),
    ):
        yield counter


# --- Processes ----------------------------------------------------------------------------------


def run_child(script: str, kind: str, *, env: dict[str, str] | None = None, **options: Any) -> dict:
    """``python benchmarks/<script> --child <kind> key=value ...`` in a fresh process; its JSON."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--child", kind]
        + [f"{key}={value}" for key, value in options.items()],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"{script} --child {kind} failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- The run --------------------------------------------------------------------------------------


@dataclass
class Context:
    """What a benchmark's ``run`` works with."""

    bench: Bench
    args: argparse.Namespace
    scale: Any
    workdir: Path
    server_url: str
    db_url: str | None
    started: float = field(default_factory=time.perf_counter)

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    @property
    def command(self) -> str:
        return f".venv/bin/python benchmarks/{self.bench.script}" + (" --quick" if self.quick else "")

    def log(self, message: str) -> None:
        print(message, flush=True)


@dataclass
class Outcome:
    """What a benchmark's ``run`` returns: its verdicts, the body of its section, its data."""

    verdicts: list[Verdict]
    body: list[str]
    setting: str = ""  # appended to the "Measured ..." sentence (versions, disk)
    data: Any = None
    summary: bool = True  # the verdicts' table at the top of the section


@dataclass
class Bench:
    """One benchmark: its doc section, its database, its sizes and its own options."""

    name: str  # the doc section's marker
    script: str  # benchmarks/<script>
    title: str | Callable[[Any], str]  # the section's heading, or a function of the scale
    database: str | None  # created afresh and dropped at the end; None: the module manages its own
    full: Any  # the scale of a full run (a frozen dataclass with a ``rounds`` field)
    quick: Any  # the scale of --quick
    options: Sequence[tuple[str, type, str]] = ()  # (scale field, type, help) -> --field-name
    env: dict[str, str] = field(default_factory=dict)
    doc_on_full_only: bool = True

    @property
    def module(self) -> str:
        return "benchmarks." + self.script.removesuffix(".py")

    @property
    def database_name(self) -> str | None:
        """The database's name, with ``BENCH_DATABASE_SUFFIX`` appended: two checkouts that run
        benchmarks on one server at once each get their own."""
        return self.database and self.database + os.environ.get("BENCH_DATABASE_SUFFIX", "")

    @property
    def markers(self) -> tuple[str, str]:
        return (
            f"<!-- benchmark:{self.name}:begin (generated by benchmarks/{self.script}) -->",
            f"<!-- benchmark:{self.name}:end -->",
        )

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(description=f"benchmarks/{self.script}: the {self.name} benchmark")
        add = parser.add_argument
        add("--quick", action="store_true", help="small sizes, 1 round; the doc is left alone")
        add("--rounds", type=int, help=f"rounds (default {self.full.rounds}, --quick 1)")
        for name, kind, text in self.options:
            flag = "--" + name.replace("_", "-")
            if kind is bool:
                add(flag, dest=name, action="store_const", const=True, help=text)
            else:
                add(flag, dest=name, type=kind, help=text)
        server = "any database URL on the PostgreSQL server; the benchmark's databases go beside it"
        add("--server-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL), help=server)
        add("--json", type=Path, help="also write the figures as JSON to this file")
        add("--doc", action=argparse.BooleanOptionalAction, default=None, help="write the doc")
        add("--keep", action="store_true", help="keep the database and the temporary folder")
        add("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        args = parser.parse_args(argv)
        if args.child:
            return self._child(args.child)
        base = self.quick if args.quick else self.full
        overrides = {
            name: getattr(args, name) for name, _, _ in self.options if getattr(args, name) is not None
        }
        scale = dataclasses.replace(base, rounds=args.rounds or base.rounds, **overrides)
        if scale.rounds < 1:
            parser.error("--rounds must be at least 1")
        write_doc = args.doc if args.doc is not None else not args.quick and not overrides
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
        workdir = Path(tempfile.mkdtemp(prefix=f"custos-bench-{self.name}-"))
        database = self.database_name
        db_url = recreate_database(args.server_url, database) if database else None
        os.environ.update(self._environment(workdir / "var", db_url))
        ctx = Context(self, args, scale, workdir, args.server_url, db_url)
        try:
            if db_url:
                ctx.log(f"Migrating {database} (temporary folder {workdir}) ...")
                migrate(db_url)
            import django

            django.setup()
            module = importlib.import_module(self.module)
            outcome: Outcome = module.run(ctx)
            seconds = time.perf_counter() - ctx.started
            missed = [v for v in outcome.verdicts if v.ok is False]
            section = self._section(ctx, outcome, seconds)
            if args.json:
                args.json.write_text(json.dumps(outcome.data, indent=2, default=str) + "\n")
            if write_doc:
                update_doc(*self.markers, section)
                ctx.log(f"\nFigures written to {DOC_PATH.relative_to(ROOT)}.")
            else:
                print("\n" + section)
            for verdict in outcome.verdicts:
                state = "info" if verdict.ok is None else ("met" if verdict.ok else "MISSED")
                print(f"[{state:>6}] {verdict.title}: {verdict.measured} (target {verdict.target})")
            print(("FAIL: " + "; ".join(v.title for v in missed)) if missed else "PASS: every target met.")
            # A quick run checks that the benchmark works (CI): its small sizes judge nothing.
            return 1 if missed and not args.quick else 0
        finally:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            if args.keep:
                print(f"Kept {database or 'the databases'} and {workdir}.")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
                if database:
                    with contextlib.suppress(Exception):
                        drop_database(args.server_url, database)

    def _environment(self, var_dir: Path, db_url: str | None) -> dict[str, str]:
        env = {
            "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
            "CUSTOS_ENV": "development",
            # The keyring, the recordings storage and the demo's Celery folders go here.
            "CUSTOS_VAR_DIR": str(var_dir),
            "CUSTOS_KEYRING_PATH": str(var_dir / "keyring.json"),
            "KEY_PROVIDER": "local",
            "RECORDINGS_STORAGE": "local",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            **self.env,
        }
        if db_url:
            env["DATABASE_URL"] = db_url
        return env

    def _section(self, ctx: Context, outcome: Outcome, seconds: float) -> str:
        begin, end = self.markers
        env = environment(ctx.server_url)
        missed = [v for v in outcome.verdicts if v.ok is False]
        title = self.title(ctx.scale) if callable(self.title) else self.title
        out = [begin, "", "## " + title, ""]
        out.append(
            f"Measured {env['date']} with `make bench` (`{ctx.command}`) on {env['cores']} cores "
            f"({env['cpu']}), {env['memory']}, PostgreSQL {env['postgres']} on the same host, Python "
            f"{env['python']}, Django {env['django']}{outcome.setting}. The machine is shared: every "
            "comparison is made within a round, the variants side by side."
        )
        out.append("")
        if outcome.summary:
            out += verdict_table(outcome.verdicts)
        out += outcome.body
        out += ["### Verdict", ""]
        if missed:
            out.append(
                "Missed: " + "; ".join(f"{v.title}: {v.measured} (target {v.target})" for v in missed) + "."
            )
        else:
            out.append("Every target of this benchmark is met.")
        out.append("")
        out.append(
            f"Rerun with `make bench` or `{ctx.command.removesuffix(' --quick')}` (this run took "
            f"{duration(seconds)}; the databases and the temporary folder are removed afterwards unless "
            f"`--keep`). A check that it works, small sizes and one round, this file left alone: "
            f"`.venv/bin/python benchmarks/{self.script} --quick`."
        )
        return "\n".join([*out, "", end]) + "\n"

    def _child(self, argv: list[str]) -> int:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
        django.setup()
        module = importlib.import_module(self.module)
        kind, *pairs = argv
        options = dict(pair.split("=", 1) for pair in pairs)
        sys.stdout.write(json.dumps(module.child(kind, **options), default=str) + "\n")
        return 0


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally blocks stop servers and clean up
