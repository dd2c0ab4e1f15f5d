"""``manage.py import_recordings FOLDER --manifest FILE``: ingest a folder of calls, one by one.

Each manifest line goes through the same validator and service as the API, in its own
transaction: a bad line is rejected with its reason and leaves nothing behind, the good ones are
stored. The summary names every rejected file; the exit code is 1 if any line was rejected.
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from recordings.intake.api import error_summary
from recordings.intake.audio_format import detect_audio
from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest

ACTOR_LABEL = "import_recordings"

# CSV columns: the API's metadata, flattened. One consent per code in consent_purposes, each
# with the same evidence columns.
SUBJECT_COLUMNS = {
    "subject_reference": "reference",
    "subject_full_name": "full_name",
    "subject_phone": "phone",
    "subject_email": "email",
}
CALL_COLUMNS = (
    "reference",
    "agent",
    "queue",
    "direction",
    "started_at",
    "ended_at",
    "lawful_basis",
    "legitimate_interest_assessment",
)
CONSENT_COLUMNS = {
    "consent_decision": "decision",
    "consent_method": "method",
    "consent_notice_version": "notice_version",
    "consent_notice_language": "notice_language",
    "consent_captured_at": "captured_at",
    "consent_captured_by": "captured_by",
    "consent_evidence_offset_seconds": "evidence_offset_seconds",
    "consent_jurisdiction": "jurisdiction",
}
# Sensitive segments in one cell: "start-end:kind" in seconds, separated by ";",
# e.g. "62.5-80:payment_card;130-141.2:address".
SEGMENTS_COLUMN = "sensitive_segments"
CSV_COLUMNS = frozenset(
    {
        "file",
        "purposes",
        "consent_purposes",
        SEGMENTS_COLUMN,
        *SUBJECT_COLUMNS,
        *CALL_COLUMNS,
        *CONSENT_COLUMNS,
    }
)


class Rejected(Exception):
    """A manifest line that is not imported; the message is the reason shown in the summary."""


@dataclass
class Line:
    number: int
    file: str
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def _codes(cell: str) -> list[str]:
    return [code.strip() for code in cell.split(";") if code.strip()]


def _segments(cell: str) -> list[dict[str, str]]:
    """``start-end:kind;...`` as the API's segments; a malformed item keeps what it has, so the
    validator names the part that is missing."""
    segments = []
    for item in _codes(cell):
        times, _, kind = item.partition(":")
        start, _, end = times.partition("-")
        segment = {"start_seconds": start.strip(), "end_seconds": end.strip(), "kind": kind.strip()}
        segments.append({name: value for name, value in segment.items() if value})
    return segments


def csv_metadata(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the API's metadata; empty cells are left out, so the validator says
    "required" for a missing value rather than something about an empty one."""
    cell = {key: (value or "").strip() for key, value in row.items() if key}
    metadata: dict[str, Any] = {
        "subject": {name: cell[column] for column, name in SUBJECT_COLUMNS.items() if cell.get(column)},
        **{column: cell[column] for column in CALL_COLUMNS if cell.get(column)},
    }
    if cell.get("purposes"):
        metadata["purposes"] = _codes(cell["purposes"])
    if cell.get(SEGMENTS_COLUMN):
        metadata["sensitive_segments"] = _segments(cell[SEGMENTS_COLUMN])
    evidence = {name: cell[column] for column, name in CONSENT_COLUMNS.items() if cell.get(column)}
    consent_purposes = _codes(cell.get("consent_purposes", ""))
    if consent_purposes:
        metadata["consents"] = [{"purpose": code, **evidence} for code in consent_purposes]
    elif evidence:
        metadata["consents"] = [evidence]  # evidence without a purpose: the validator names it
    return metadata


def read_manifest(path: Path) -> list[Line]:
    """Every line of a CSV or JSON manifest (by extension); CommandError if it cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _read_csv(path)
        if suffix == ".json":
            return _read_json(path)
    except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
        raise CommandError(f"The manifest cannot be read: {exc}") from exc
    raise CommandError(f"The manifest must be a .csv or .json file, not {path.name!r}.")


def _read_csv(path: Path) -> list[Line]:
    with path.open(newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: spreadsheets' BOM
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if "file" not in columns:
            raise CommandError("The CSV manifest has no 'file' column.")
        unknown = sorted(columns - CSV_COLUMNS)
        if unknown:
            # A misspelt column would silently drop its values: refuse the whole manifest.
            raise CommandError(f"Unknown CSV manifest columns: {', '.join(unknown)}.")
        lines = []
        for row in reader:
            if None in row:
                lines.append(Line(reader.line_num, row.get("file") or "", problem="more cells than columns"))
            else:
                lines.append(Line(reader.line_num, (row["file"] or "").strip(), csv_metadata(row)))
        return lines


def _read_json(path: Path) -> list[Line]:
    with path.open(encoding="utf-8") as handle:
        items = json.load(handle)
    if not isinstance(items, list):
        raise CommandError("The JSON manifest must be a list of objects.")
    lines = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            lines.append(Line(number, "", problem="not an object"))
            continue
        metadata = dict(item)
        name = metadata.pop("file", "")
        if not isinstance(name, str):
            lines.append(Line(number, repr(name), problem="'file' is not a path"))
            continue
        lines.append(Line(number, name.strip(), metadata))
    return lines


def printable(text: str) -> str:
    """``text`` safe to print to a terminal: a control, format or line-separator character (an
    escape sequence, a carriage return, a direction override) or a lone surrogate shows as its
    escape, ``\\x1b``, so a manifest cannot rewrite the screen or hide part of the summary."""
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if unicodedata.category(character) in {"Cc", "Cf", "Cs", "Zl", "Zp"}
        else character
        for character in text
    )


def audio_path(folder: Path, name: str) -> Path:
    """The file ``name`` inside ``folder`` (already resolved); never one outside it."""
    if not name:
        raise Rejected("no file named")
    if "\x00" in name:
        raise Rejected("file name contains a NUL character")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise Rejected("path escapes the folder (absolute or '..')")
    try:
        path = (folder / relative).resolve()
        if not path.is_relative_to(folder):
            raise Rejected("path escapes the folder (through a link)")
        if not path.is_file():
            raise Rejected("file missing")
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise Rejected(f"file name cannot be used: {exc.strerror or exc}") from exc
    return path


class Command(BaseCommand):
    help = (
        "Import a folder of call recordings listed in a CSV or JSON manifest; each line is "
        "validated and stored on its own. Exit code 1 if any line was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="Folder holding the audio files.")
        parser.add_argument(
            "--manifest",
            type=Path,
            required=True,
            help="CSV or JSON manifest; its 'file' paths are relative to FOLDER.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate metadata and audio; write nothing."
        )
        parser.add_argument(
            "--user", help="Staff username the imports are attributed to in history and the access log."
        )

    def handle(self, *args, folder: Path, manifest: Path, dry_run: bool, user: str | None, **options):
        folder = folder.resolve()
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        actor = self._actor(user)
        lines = read_manifest(manifest)
        imported, rejected = 0, []
        seen_references: dict[str, int] = {}
        # The bar goes to stderr (and only to a terminal), so stdout keeps just the summary.
        progress = tqdm(lines, unit="file", file=getattr(self.stderr, "_out", sys.stderr), disable=None)
        try:
            with logging_redirect_tqdm():  # log lines print above the bar, not through it
                for line in progress:
                    try:
                        self._import(line, folder, dry_run, actor, seen_references)
                    except Rejected as exc:
                        rejected.append((line, str(exc)))
                    else:
                        imported += 1
        finally:
            progress.close()
            # Also after a crash (the database or the key service gone): say what was stored.
            self._summary(imported, rejected, dry_run)
        if rejected:
            raise CommandError(f"{len(rejected)} of {len(lines)} lines rejected.", returncode=1)

    def _actor(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if not (user.has_perm("recordings.add_recording") or user.has_perm("recordings.ingest_recording")):
            raise CommandError(f"{username!r} may not add recordings.")
        return user

    def _import(
        self, line: Line, folder: Path, dry_run: bool, actor, seen_references: dict[str, int]
    ) -> None:
        if line.problem:
            raise Rejected(line.problem)
        path = audio_path(folder, line.file)
        serializer = RecordingMetadataSerializer(data=line.metadata)
        if not serializer.is_valid():
            raise Rejected(error_summary(serializer.errors))
        # A dry run writes nothing, so only this catches a reference listed twice before it bites.
        reference = serializer.validated_data.get("reference")
        if reference in seen_references:
            raise Rejected(f"reference repeats line {seen_references[reference]}")
        try:
            audio = path.open("rb")
        except OSError as exc:
            raise Rejected(f"file cannot be read: {exc.strerror or exc}") from exc
        # Any other error (storage, database, key service) is no fault of the line: it stops the run.
        with audio:
            try:
                if dry_run:
                    detect_audio(audio, max_bytes=settings.RECORDING_MAX_BYTES)
                else:
                    recording_ingest(
                        audio=audio,
                        metadata=serializer.validated_data,
                        actor=actor,
                        actor_label=actor.get_username() if actor else ACTOR_LABEL,
                    )
            except DjangoValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"audio": exc.messages}
                raise Rejected(error_summary(errors)) from exc
            except IntegrityError as exc:
                raise Rejected(
                    "conflicts with a recording stored at the same moment (same reference?)"
                ) from exc
        if reference:
            seen_references[reference] = line.number

    def _summary(self, imported: int, rejected: list[tuple[Line, str]], dry_run: bool) -> None:
        verb = "would be imported" if dry_run else "imported"
        tail = " (dry run: nothing written)" if dry_run else ""
        style = self.style.WARNING if rejected else self.style.SUCCESS
        self.stdout.write(style(f"{imported} {verb}, {len(rejected)} rejected{tail}."))
        if not rejected:
            return
        rows = [
            ("line", "file", "reason"),
            *(
                (str(line.number), printable(line.file) or "-", printable(reason))
                for line, reason in rejected
            ),
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for number, name, reason in rows:
            self.stdout.write(f"{number:<{widths[0]}}  {name:<{widths[1]}}  {reason}")
