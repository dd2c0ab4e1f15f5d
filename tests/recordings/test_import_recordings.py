"""manage.py import_recordings: a folder and a manifest in, a summary of imported and rejected out."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, DataSubject, Recording
from tests.recordings.ingest_factories import (
    CALL_START,
    NOT_AUDIO,
    TRUNCATED_WAV,
    WAV,
    assert_nothing_written,
    call_metadata,
    consent_evidence,
    reference_rows,
    stored_files,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingest_rows")]


@pytest.fixture
def ingest_rows(db):
    return reference_rows()


CSV_HEADER = [
    "file",
    "reference",
    "subject_reference",
    "subject_full_name",
    "subject_phone",
    "subject_email",
    "agent",
    "queue",
    "direction",
    "started_at",
    "ended_at",
    "lawful_basis",
    "legitimate_interest_assessment",
    "purposes",
    "consent_purposes",
    "consent_decision",
    "consent_method",
    "consent_notice_version",
    "consent_notice_language",
    "consent_captured_at",
    "consent_evidence_offset_seconds",
    "consent_jurisdiction",
]


class Result:
    def __init__(self, stdout: str, stderr: str, error: CommandError | None):
        self.stdout, self.stderr, self.error = stdout, stderr, error

    @property
    def exit_code(self) -> int:
        return self.error.returncode if self.error else 0

    def rejected(self) -> dict[str, str]:
        """file -> reason, from the summary's table."""
        rows = self.stdout.splitlines()[2:]
        return {row.split()[1]: row.split(None, 2)[2] for row in rows}


class TTY(StringIO):
    def isatty(self) -> bool:
        return True


def run(folder: Path, manifest: Path, *args: str) -> Result:
    out, err = StringIO(), TTY()
    try:
        call_command(
            "import_recordings", str(folder), "--manifest", str(manifest), *args, stdout=out, stderr=err
        )
    except CommandError as exc:
        return Result(out.getvalue(), err.getvalue(), exc)
    return Result(out.getvalue(), err.getvalue(), None)


@pytest.fixture
def folder(tmp_path):
    calls = tmp_path / "calls"
    (calls / "2026-05").mkdir(parents=True)
    (calls / "2026-05" / "good-1.wav").write_bytes(WAV)
    (calls / "good-2.flac").write_bytes(WAV)  # a WAV whatever its name says
    (calls / "memo.wav").write_bytes(NOT_AUDIO)
    (calls / "cut.wav").write_bytes(TRUNCATED_WAV)
    (tmp_path / "outside.wav").write_bytes(WAV)
    return calls


def csv_row(file: str, **cells: str) -> dict[str, str]:
    return {
        "file": file,
        "subject_full_name": "Erika Mustermann",
        "subject_phone": "+49 30 1234567",
        "queue": "billing",
        "direction": "inbound",
        "started_at": CALL_START.isoformat(),
        "ended_at": call_metadata()["ended_at"],
        "lawful_basis": "consent",
        "purposes": "quality_assurance",
        "consent_purposes": "quality_assurance",
        "consent_decision": "given",
        "consent_method": "verbal_agent",
        "consent_notice_version": "2026.1",
        "consent_notice_language": "en",
        "consent_captured_at": consent_evidence()["captured_at"],
        "consent_evidence_offset_seconds": "12.5",
        "consent_jurisdiction": "DE",
        **cells,
    }


def write_csv(path: Path, rows: list[dict[str, str]], header=CSV_HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_csv_manifest_imports_the_good_lines_and_names_each_rejected_one(folder, tmp_path):
    # given: two good lines among every kind of bad one
    manifest = write_csv(
        tmp_path / "manifest.csv",
        [
            csv_row("2026-05/good-1.wav", reference="REC-IMPORT-1"),
            csv_row("missing.wav"),
            csv_row("../outside.wav"),
            csv_row("memo.wav"),
            csv_row("cut.wav"),
            csv_row("good-2.flac", queue="nowhere"),
            csv_row("good-2.flac", **{column: "" for column in CSV_HEADER if column.startswith("consent_")}),
            csv_row("good-2.flac", subject_phone="+49 12", subject_email="erika@example.org"),
            csv_row("good-2.flac", reference="REC-IMPORT-2", subject_phone="+49 30 7654321"),
        ],
    )

    # when
    result = run(folder, manifest)

    # then: the summary, and an exit code that scripts notice
    assert result.stdout.splitlines()[0] == "2 imported, 7 rejected."
    assert result.exit_code == 1
    assert "7 of 9 lines rejected" in str(result.error)
    rejected = result.rejected()
    assert rejected["missing.wav"] == "file missing"
    assert rejected["../outside.wav"].startswith("path escapes the folder")
    assert rejected["memo.wav"].startswith("audio: Unknown audio format")
    assert rejected["cut.wav"].startswith("audio: The WAV file is truncated")
    assert result.stdout.count("good-2.flac") == 3
    assert "queue: Object with code=nowhere does not exist." in result.stdout
    assert "consents: The basis is consent, but no given consent" in result.stdout
    assert "subject.phone: " in result.stdout
    assert "erika@example.org" not in result.stdout + result.stderr  # never the personal data
    # and the good ones are stored whole, the bad ones left nothing
    assert set(Recording.objects.values_list("reference", flat=True)) == {"REC-IMPORT-1", "REC-IMPORT-2"}
    assert DataSubject.objects.count() == 2
    consent = Consent.objects.get(recording__reference="REC-IMPORT-1")
    assert (consent.method, consent.evidence_offset.total_seconds()) == ("verbal_agent", 12.5)
    assert len(stored_files()) == 2
    assert set(AccessEvent.objects.filter(action="ingest").values_list("actor_label", flat=True)) == {
        "import_recordings"
    }
    # and the progress bar went to stderr
    assert "9/9" in result.stderr


def test_a_json_manifest_takes_the_apis_metadata_plus_a_file(folder, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            [
                {"file": "2026-05/good-1.wav", **call_metadata(reference="REC-J-1")},
                {"file": "/etc/passwd", **call_metadata()},
                {"file": "good-2.flac", **call_metadata(subject={"phone": "0"})},
                {**call_metadata()},
                "not an object",
            ]
        )
    )

    result = run(folder, manifest)

    assert result.stdout.splitlines()[0] == "1 imported, 4 rejected."
    assert result.exit_code == 1
    lines = result.stdout.splitlines()[2:]
    assert lines[0].split()[:2] == ["2", "/etc/passwd"] and "path escapes the folder" in lines[0]
    assert lines[1].split()[:2] == ["3", "good-2.flac"] and "subject.phone:" in lines[1]
    assert lines[2].split()[:2] == ["4", "-"] and lines[2].endswith("no file named")
    assert lines[3].split()[:2] == ["5", "-"] and lines[3].endswith("not an object")
    assert list(Recording.objects.values_list("reference", flat=True)) == ["REC-J-1"]
    assert len(stored_files()) == 1


def test_a_clean_run_exits_zero(folder, tmp_path, dpo):
    manifest = write_csv(tmp_path / "m.csv", [csv_row("2026-05/good-1.wav"), csv_row("good-2.flac")])

    result = run(folder, manifest, "--user", dpo.username)

    assert result.exit_code == 0
    assert result.stdout.strip() == "2 imported, 0 rejected."
    assert Recording.objects.count() == 2
    assert set(AccessEvent.objects.filter(action="ingest").values_list("actor", flat=True)) == {dpo.pk}


def test_dry_run_validates_everything_and_writes_nothing(folder, tmp_path):
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            csv_row("2026-05/good-1.wav", reference="REC-DRY"),
            csv_row("good-2.flac", reference="REC-DRY"),
            csv_row("memo.wav"),
            csv_row("good-2.flac", queue="nowhere"),
        ],
    )

    result = run(folder, manifest, "--dry-run")

    assert result.stdout.splitlines()[0] == "1 would be imported, 3 rejected (dry run: nothing written)."
    assert "reference repeats line 2" in result.stdout
    assert "Unknown audio format" in result.stdout
    assert result.exit_code == 1
    assert_nothing_written()


def test_a_link_out_of_the_folder_is_refused(folder, tmp_path):
    (folder / "link.wav").symlink_to(tmp_path / "outside.wav")
    manifest = write_csv(tmp_path / "m.csv", [csv_row("link.wav")])

    result = run(folder, manifest)

    assert result.rejected()["link.wav"] == "path escapes the folder (through a link)"
    assert_nothing_written()


def test_a_misspelt_column_refuses_the_whole_manifest(folder, tmp_path):
    manifest = write_csv(
        tmp_path / "m.csv",
        [{"file": "good-2.flac", "subject_phon": "+49 30 1234567"}],
        header=["file", "subject_phon"],
    )

    with pytest.raises(CommandError, match="Unknown CSV manifest columns: subject_phon"):
        call_command("import_recordings", str(folder), "--manifest", str(manifest), stdout=StringIO())
    assert_nothing_written()


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("m.txt", "file\n", "must be a .csv or .json"),
        ("m.json", "{not json", "cannot be read"),
        ("m.json", '{"file": "a.wav"}', "must be a list"),
        ("m.csv", "reference\nREC-1\n", "no 'file' column"),
    ],
)
def test_an_unreadable_manifest_is_refused_before_anything(folder, tmp_path, name, content, says):
    manifest = tmp_path / name
    manifest.write_text(content)

    with pytest.raises(CommandError, match=says):
        call_command("import_recordings", str(folder), "--manifest", str(manifest), stdout=StringIO())
    assert_nothing_written()


def test_an_unknown_user_is_refused(folder, tmp_path):
    manifest = write_csv(tmp_path / "m.csv", [csv_row("good-2.flac")])

    result = run(folder, manifest, "--user", "nobody")

    assert "No active user 'nobody'" in str(result.error)
    assert_nothing_written()
