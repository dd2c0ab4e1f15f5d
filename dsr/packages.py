"""Access (Art. 15) and portability (Art. 20) packages: the subject's data as one ZIP archive,
encrypted at rest, downloaded by the DPO through an expiring link.

Memory does not grow with the recordings: the archive is a stream (zipstream-ng) whose audio
entries pull the decrypted audio segment by segment (``audio_open``), and that stream goes through
the streaming AEAD (``EncryptingReader``) straight into the recordings storage. A download
decrypts the blob the same way. Only the manifest, a few hundred bytes per recording, is built
whole.

The package key is random and wrapped under the subject key, as recording keys are: erasing the
subject (``subject_key_destroy``) makes every package of theirs unreadable.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO, cast

import zipstream.ng
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from isal.isal_zlib import crc32 as isal_crc32
from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record, access_events_record
from compliance_site.history_bulk import HISTORY_CHANGED, history_copy
from compliance_site.model_update import history_save, model_update
from dsr.models import DataPackage, DataSubjectRequest, RequestType
from dsr.package_information import package_information
from dsr.selectors import packages_downloadable_by
from recordings.models import (
    Consent,
    DataSubject,
    Objection,
    Recipient,
    Recording,
    RecordingKey,
    SensitiveKind,
    SubjectKey,
)
from recordings.selectors import lawful_for_purpose, parts_removed_at_rest
from recordings.vault.chunks import ChunksReader
from recordings.vault.dead_rows import dead_rows_vacuum_after_commit
from recordings.vault.keys import (
    KEY_BYTES,
    KeyDestroyedError,
    PersonalData,
    open_sealed,
    personal_data_read,
    recording_key_unwrap,
    seal,
    subject_key,
)
from recordings.vault.storage import audio_open, ciphertext_open, ciphertext_save, recordings_storage
from recordings.vault.streaming_aead import PLAINTEXT_SEGMENT_SIZE, EncryptingReader, plaintext_size
from retention.models import RetentionPolicy
from retention.selectors import keep_days_for, retention_policies_for

logger = logging.getLogger(__name__)

# zipstream-ng computes each entry's CRC-32 with zlib's, which cost more than both AES-GCM passes
# of a package together (0.26 CPU s per GiB, docs/PERFORMANCE.md); ISA-L's is the same CRC-32
# (same polynomial, same values) at a tenth of that. zipstream-ng looks the function up by its
# module's global name on every chunk, so pointing that name at ISA-L's is all it takes.
zipstream.ng.crc32 = isal_crc32

FORMAT_VERSION = 1
LINK_MAX_AGE = datetime.timedelta(minutes=15)
_LINK_SALT = "dsr.package-download"
# Audio goes into the archive 16 segments (1 MiB) at a time, decrypted into one of a few buffers
# that the build reuses in turn: a fresh 1 MiB of bytes per chunk was mapped and faulted in page by
# page, and 64 KiB chunks cost as much Python per byte as the encryption (docs/PERFORMANCE.md).
_CHUNK_SEGMENTS = 16
# The encryption holds views of at most two chunks (see _audio_chunks): one more buffer is being
# filled, and one spare.
_CHUNK_BUFFERS = 4
# A download is read 8 segments (512 KiB) at a time.
_DOWNLOAD_CHUNK_SEGMENTS = 8
SOURCE = "telephony recording"

_KINDS: dict[str, DataPackage.Kind] = {
    RequestType.ACCESS: DataPackage.Kind.ACCESS,
    RequestType.PORTABILITY: DataPackage.Kind.PORTABILITY,
}
_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/ogg; codecs=opus": "opus",
    "audio/mp4": "m4a",
}


class PackageUnavailable(Exception):
    """The package can no longer be read: expired, or its subject was erased (HTTP 410)."""


# --- Keys and names -----------------------------------------------------------------------------


PACKAGES_PREFIX = "packages"


def package_blob_name() -> str:
    """A random name that says nothing about the subject: packages/year/month/uuid.zip.tink."""
    return f"{PACKAGES_PREFIX}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.zip.tink"


def _blob_aad(storage_ref: str) -> bytes:
    # The blob is bound to its name, which is random and unique per package: a blob copied onto
    # another package's row does not decrypt.
    return f"custos/package/{storage_ref}".encode()


def _key_aad(storage_ref: str) -> bytes:
    return f"custos/package-key/{storage_ref}".encode()


def package_key(package: DataPackage) -> bytes:
    """The package's key, unwrapped under its subject's key; PackageUnavailable once erased."""
    subject = package.request.subject
    if subject is None:  # a package is built only for a matched request
        raise PackageUnavailable("The request of this package names no data subject.")
    try:
        wrapping = subject_key(subject)
    except KeyDestroyedError as exc:
        raise PackageUnavailable(
            "The subject was erased: this package was shredded with their key and cannot be opened."
        ) from exc
    return open_sealed(wrapping, bytes(package.wrapped_key), _key_aad(package.storage_ref))


# --- What the package holds ---------------------------------------------------------------------


@dataclass
class _Audio:
    """One recording's entry: its audio file in the archive, or why there is none."""

    recording: Recording
    key: bytes | None
    arcname: str | None
    size: int
    note: str = ""


def _extension(recording: Recording) -> str:
    # Blob names end in .<format>.tink (recordings.vault.storage.audio_blob_name).
    parts = PurePosixPath(recording.storage_ref).name.split(".")
    if len(parts) >= 3 and parts[-1] == "tink" and re.fullmatch(r"[a-z0-9]{2,5}", parts[-2]):
        return parts[-2]
    return _EXTENSIONS.get(recording.content_type, "bin")


def _safe(reference: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", reference)


def _audio_entries(recordings: list[Recording], subject_key_bytes: bytes) -> list[_Audio]:
    storage = recordings_storage()
    key_rows = {row.recording_id: row for row in RecordingKey.objects.filter(recording__in=recordings)}
    entries = []
    for recording in recordings:
        if recording.status == Recording.Status.ERASED or not recording.storage_ref:
            entries.append(_Audio(recording, None, None, 0, "erased"))
            continue
        try:
            key = recording_key_unwrap(key_rows.get(recording.pk), recording, subject_key_bytes)
        except KeyDestroyedError:
            # Retention shredded it and the sweep has not yet marked it: its audio is gone.
            entries.append(_Audio(recording, None, None, 0, "deleted at the end of its retention"))
            continue
        size = plaintext_size(storage.size(recording.storage_ref))
        arcname = f"recordings/{_safe(recording.reference)}.{_extension(recording)}"
        entries.append(_Audio(recording, key, arcname, size))
    return entries


ProgressReport = Callable[[int, int], None]


class _Progress:
    """Recordings whose audio is in the archive so far: counted as each entry's audio ends,
    reported between the archive's chunks each time the count has moved (so at most once per
    recording), from the building thread, which owns the database connection."""

    def __init__(self, total: int, report: ProgressReport | None) -> None:
        self.total, self.done = total, 0
        self._report = report
        self._reported: int | None = None

    def report(self) -> None:
        if self._report is not None and self.done != self._reported:
            self._reported = self.done
            self._report(self.done, self.total)


def _chunk_buffers() -> list[bytearray]:
    return [bytearray(_CHUNK_SEGMENTS * PLAINTEXT_SEGMENT_SIZE) for _ in range(_CHUNK_BUFFERS)]


def _audio_chunks(
    entry: _Audio, progress: _Progress | None = None, buffers: list[bytearray] | None = None
) -> Iterator[memoryview]:
    """The entry's audio as views of ``buffers`` (reused in turn, shared by the archive's
    entries), each valid until its buffer comes round again: what reads them streams them on.
    Every such view is at least a segment long (a shorter tail has a buffer of its own) and the
    encryption reads the archive a segment at a time, so it holds views of at most two of them
    when the next is decrypted: the segment it is about to encrypt and the one it is reading,
    which may straddle from the first into the second, however many short entries lie between.
    (tests/dsr/test_package_chunks.py builds archives of mixed sizes with fewer buffers.)"""
    if entry.key is None:
        raise ValueError("an erased or deleted recording has no audio entry")
    # Opened only when the archive reaches this entry, closed when it moves on.
    with audio_open(
        name=entry.recording.storage_ref, key=entry.key, recording_id=entry.recording.pk
    ) as reader:
        if reader.plaintext_size:
            yield from reader.iter_into(buffers or _chunk_buffers(), chunk_segments=_CHUNK_SEGMENTS)
    if progress is not None:
        progress.done += 1


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _served(subject: DataSubject, recordings: list[Recording]) -> set[tuple[int, int]]:
    """(recording id, purpose id) for each stated purpose a recording may still serve: one query
    per purpose, whatever the number of recordings (``lawful_for_purpose`` is the rule)."""
    purposes = {p.pk: p for r in recordings for p in r.purposes.all()}
    served = set()
    for purpose in purposes.values():
        lawful = Recording.objects.filter(lawful_for_purpose(purpose), subject=subject).exclude(
            status=Recording.Status.ERASED
        )
        served |= {(pk, purpose.pk) for pk in lawful.values_list("pk", flat=True)}
    return served


def _recording_data(
    entry: _Audio,
    policies: dict[int, RetentionPolicy],
    served: set[tuple[int, int]],
    recipients: dict[int, set[str]],
    removed: dict[int, list[dict]],
) -> dict:
    recording = entry.recording
    stated = list(recording.purposes.all())
    assessment = recording.legitimate_interest_assessment
    return {
        "reference": recording.reference,
        "started_at": _iso(recording.started_at),
        "ended_at": _iso(recording.ended_at),
        "duration_seconds": round(recording.duration.total_seconds()),
        "queue": recording.queue.name,
        "direction": recording.direction,
        "lawful_basis": {"code": recording.lawful_basis, "label": recording.get_lawful_basis_display()},
        "legitimate_interest_assessment": assessment.title if assessment else None,
        "purposes": [
            {
                "code": p.code,
                "name": p.name,
                "still_served": (recording.pk, p.pk) in served,
                "retention_days": keep_days_for(p, policies),
            }
            for p in stated
        ],
        "status": recording.status,
        "keep_until": _iso(recording.keep_until),
        "retention_days": max((keep_days_for(p, policies) for p in stated), default=None),
        "source": SOURCE,
        "recipients": sorted({name for p in stated for name in recipients.get(p.pk, ())}),
        "audio": (
            {
                "file": entry.arcname,
                "content_type": recording.content_type,
                "size_bytes": entry.size,
                "sha256": recording.checksum_sha256 or None,
            }
            if entry.arcname
            else None
        ),
        "audio_note": entry.note or None,
        # Silenced in the stored audio for payment security (redaction at rest): gone for good.
        "removed_from_audio": removed.get(recording.pk, []),
    }


def _consent_data(consent: Consent) -> dict:
    return {
        "purpose": {"code": consent.purpose.code, "name": consent.purpose.name},
        "recording": consent.recording.reference if consent.recording is not None else None,
        "decision": consent.decision,
        "method": {"code": consent.method, "label": consent.get_method_display()},
        "notice": {"version": consent.notice.version, "language": consent.notice.language},
        "captured_at": _iso(consent.captured_at),
        # Staff are named by their staff number only: their names are not the subject's data.
        "captured_by": (
            {"role": "support agent", "staff_id": consent.captured_by_id} if consent.captured_by_id else None
        ),
        "evidence_offset_seconds": (
            consent.evidence_offset.total_seconds() if consent.evidence_offset is not None else None
        ),
        "jurisdiction": consent.jurisdiction,
        "withdrawn_at": _iso(consent.withdrawn_at),
        "withdrawn_via": consent.withdrawn_via or None,
    }


def _objection_data(objection: Objection) -> dict:
    return {
        "purpose": {"code": objection.purpose.code, "name": objection.purpose.name},
        "received_at": _iso(objection.received_at),
        "decision": objection.decision,
        "decided_at": _iso(objection.decided_at),
    }


def _json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


@dataclass
class _Contents:
    """Everything the archive says, read before a byte of it is written."""

    data: dict  # the manifest
    entries: list[_Audio]
    consents: list[Consent]
    objections: list[Objection]


def _contents(
    dsr: DataSubjectRequest, subject: DataSubject, subject_key_bytes: bytes, personal: PersonalData
) -> _Contents:
    recordings = list(
        Recording.objects.filter(subject=subject)
        .select_related("queue", "legitimate_interest_assessment")
        .prefetch_related("purposes")
        .order_by("started_at", "pk")
    )
    entries = _audio_entries(recordings, subject_key_bytes)
    removed = parts_removed_at_rest([recording.pk for recording in recordings])
    purpose_ids = {p.pk for r in recordings for p in r.purposes.all()}
    served = _served(subject, recordings)
    policies = retention_policies_for(purpose_ids)
    recipients: dict[int, set[str]] = {}  # purpose id -> names of its recipients, in one query
    for recipient in (
        Recipient.objects.filter(purposes__in=purpose_ids).prefetch_related("purposes").distinct()
    ):
        for purpose in recipient.purposes.all():
            recipients.setdefault(purpose.pk, set()).add(recipient.name)
    consents = list(
        Consent.objects.filter(subject=subject)
        .select_related("purpose", "notice", "recording")
        .order_by("captured_at", "pk")
    )
    objections = list(
        Objection.objects.filter(subject=subject).select_related("purpose").order_by("received_at", "pk")
    )
    data = {
        "format": f"custos-{_KINDS[dsr.request_type]}-package",
        "version": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(),
        "request": {
            "reference": dsr.reference,
            "type": dsr.request_type,
            "received_at": _iso(dsr.received_at),
            "language": dsr.language,
        },
        "data_subject": {
            "reference": subject.reference,
            "name": personal.full_name,
            "phone": personal.phone,
            "email": personal.email,
        },
        "recordings": [_recording_data(entry, policies, served, recipients, removed) for entry in entries],
        "consents": [_consent_data(c) for c in consents],
        "objections": [_objection_data(o) for o in objections],
        "information": package_information(
            language=dsr.language, subject=subject, recordings=recordings, policies=policies
        ),
    }
    return _Contents(data, entries, consents, objections)


def _portability_data(data: dict) -> dict:
    """Art. 20 covers what the subject provided: their contact data, their calls, their consents."""
    return {
        "format": "custos-portability-package",
        "version": FORMAT_VERSION,
        "generated_at": data["generated_at"],
        "request": data["request"],
        "data_subject": data["data_subject"],
        "recordings": [
            {
                key: recording[key]
                for key in ("reference", "started_at", "ended_at", "duration_seconds", "direction", "audio")
            }
            for recording in data["recordings"]
        ],
        "consents": data["consents"],
    }


# The summary speaks the subject's language; the manifest keeps the codes and the model's labels.
_LABELS_DE = {
    **{
        "consent": "Einwilligung (Art. 6(1)(a))",
        "contract": "Vertrag (Art. 6(1)(b))",
        "legal_obligation": "Rechtliche Verpflichtung (Art. 6(1)(c))",
        "vital_interests": "Lebenswichtige Interessen (Art. 6(1)(d))",
        "public_task": "Öffentliches Interesse / öffentliche Gewalt (Art. 6(1)(e))",
        "legitimate_interests": "Berechtigte Interessen (Art. 6(1)(f))",
    },
    "active": "aktiv",
    "restricted": "eingeschränkt (Art. 18)",
    "erased": "gelöscht",
    "inbound": "eingehend",
    "outbound": "ausgehend",
    "given": "erteilt",
    "refused": "verweigert",
    "verbal_agent": "mündlich, auf Frage des Mitarbeiters",
    "ivr_keypress": "Tastendruck im Sprachmenü",
    "web_form": "Webformular",
    "written": "schriftlich",
    "pending": "offen",
    "upheld": "stattgegeben",
    "overruled": "zurückgewiesen (zwingende Gründe, Art. 21(1))",
    # Sensitive segment kinds, as the parts removed from a call's audio are named.
    "payment_card": "Zahlungskarte",
    "bank_details": "Bankverbindung",
    "address": "Adresse",
    "health": "Gesundheit",
    "other": "Sonstiges",
}


def _label(language: str, code: str, english: str) -> str:
    return _LABELS_DE.get(code, english) if language == "de" else english


def _summary(dsr: DataSubjectRequest, contents: _Contents) -> str:
    language = dsr.language
    recordings = [
        {
            "entry": entry,
            "item": item,
            "basis": _label(
                language, entry.recording.lawful_basis, entry.recording.get_lawful_basis_display()
            ),
            "status": _label(language, entry.recording.status, entry.recording.get_status_display()),
            "direction": _label(language, entry.recording.direction, entry.recording.get_direction_display()),
        }
        for entry, item in zip(contents.entries, contents.data["recordings"], strict=True)
    ]
    consents = [
        {
            "consent": consent,
            "decision": _label(language, consent.decision, consent.get_decision_display()),
            "method": _label(language, consent.method, consent.get_method_display()),
        }
        for consent in contents.consents
    ]
    objections = [
        {"objection": o, "decision": _label(language, o.decision, o.get_decision_display())}
        for o in contents.objections
    ]
    return render_to_string(
        "dsr/package/summary.html",
        {
            "de": language == "de",
            "language": language,
            "request": dsr,
            "data": contents.data,
            "recordings": recordings,
            "consents": consents,
            "objections": objections,
            "information": contents.data["information"],
            "removed_parts": _removed_parts(language, contents.data["recordings"]),
        },
    )


def _removed_parts(language: str, recordings: list[dict]) -> list[dict]:
    """The recordings with parts silenced at rest, their spans named in the subject's language."""
    rows = []
    for item in recordings:
        spans = [
            {
                **span,
                "label": _label(language, span["kind"], str(SensitiveKind(span["kind"]).label).lower()),
            }
            for span in item["removed_from_audio"]
        ]
        if spans:
            rows.append({"reference": item["reference"], "spans": spans})
    return rows


def _archive(dsr: DataSubjectRequest, contents: _Contents, progress: _Progress | None = None) -> ZipStream:
    archive = ZipStream(compress_type=ZIP_DEFLATED)
    with translation.override(dsr.language):
        if dsr.request_type == RequestType.PORTABILITY:
            archive.add(_json(_portability_data(contents.data)), "data.json")
            archive.add(
                render_to_string(
                    "dsr/package/README.txt",
                    {
                        "de": dsr.language == "de",
                        "request": dsr,
                        "files": sum(1 for entry in contents.entries if entry.arcname),
                    },
                ),
                "README.txt",
            )
        else:
            archive.add(_json(contents.data), "manifest.json")
            archive.add(_summary(dsr, contents), "summary.html")
    buffers = _chunk_buffers()
    for entry in contents.entries:
        if entry.arcname:
            # Stored, not deflated: call audio is compressed already or gains too little.
            chunks = _audio_chunks(entry, progress, buffers)
            archive.add(chunks, entry.arcname, size=entry.size, compress_type=ZIP_STORED)
    return archive


# --- Building -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    name: str
    size: int


def _reported(chunks: Iterable[bytes], progress: _Progress | None) -> Iterator[bytes]:
    """The archive's chunks, reporting the progress on the way (in this, the building thread)."""
    for chunk in chunks:
        if progress is not None:
            progress.report()
        yield chunk
    if progress is not None:
        progress.report()


def _store(archive: ZipStream, *, key: bytes, name: str, progress: _Progress | None = None) -> _Stored:
    """Encrypt the archive into the storage, in this thread: the ZIP is built (audio read,
    decrypted and CRC-ed) as the encryption pulls it. A producer thread for the ZIP used to run
    beside it, but both AES-GCM passes hold the GIL and the CRC-32 (ISA-L) is now a tenth of
    the work: the threads took turns, and their hand-offs cost a third more CPU per GB than one
    thread, with no gain in wall-clock time (docs/PERFORMANCE.md).
    No hash of the whole package: each 64 KiB segment's GCM tag already proves it unaltered, and
    SHA-256 would cost more than all the rest of the encryption."""
    chunks = archive.finalize()  # a generator: closing it closes the audio it had open
    try:
        reader = EncryptingReader(
            # A read-only binary file (its read gives views, which the encryption takes).
            cast(BinaryIO, ChunksReader(_reported(chunks, progress))),
            key=key,
            associated_data=_blob_aad(name),
            digest=False,
        )
        stored_name = ciphertext_save(name, reader)
    finally:
        chunks.close()
    return _Stored(stored_name, reader.plaintext_bytes_read)


def _discard(name: str) -> None:
    """Delete a blob whose build failed. Its key was never committed, so a blob that cannot be
    deleted now is unreadable anyway; the failure is logged, and the build's error stands."""
    try:
        recordings_storage().delete(name)
    except Exception:
        logger.exception("Blob %s of a failed package build was not deleted", name)


def package_build(
    *,
    dsr: DataSubjectRequest,
    actor,
    progress: ProgressReport | None = None,
    then: Callable[[DataPackage], None] | None = None,
) -> DataPackage:
    """Build the access or portability package of the request's subject, store it encrypted and
    record the export. All or nothing: a failure leaves no row and no blob.

    Runs on a worker (``dsr.jobs``), outside any transaction: the archive streams into the
    storage first, then one short transaction saves the row, its export event and whatever
    ``then(package)`` writes with it (the job completes the request there, so a package and the
    completion it answers commit together). ``progress(done, total)`` is called, from this
    thread, as the recordings' audio goes into the archive.

    Should the process die (kill -9, a lost machine) between the blob's write and the commit, or
    an enclosing transaction roll back, the blob stays behind, unreadable (its key was only ever
    in the uncommitted row) until ``package_orphans_delete`` deletes it.
    """
    kind = _KINDS.get(dsr.request_type)
    if kind is None:
        raise ValidationError("Only an access or a portability request has a package.")
    subject = dsr.subject
    if subject is None:
        raise ValidationError({"subject": "Match the request to a subject first."})
    try:
        wrapping = subject_key(subject)
        personal = personal_data_read(subject)
    except KeyDestroyedError as exc:
        raise ValidationError("The subject was erased: no personal data is left to export.") from exc
    contents = _contents(dsr, subject, wrapping, personal)
    audio_count = sum(1 for entry in contents.entries if entry.arcname)
    counter = _Progress(audio_count, progress)
    counter.report()
    archive = _archive(dsr, contents, counter)
    key = os.urandom(KEY_BYTES)
    name = package_blob_name()
    now = timezone.now()
    try:
        stored = _store(archive, key=key, name=name, progress=counter)
        if stored.name != name:
            recordings_storage().delete(stored.name)
            raise ValidationError("The storage renamed the package; try again.")
        with transaction.atomic():
            package = DataPackage(
                request=dsr,
                kind=kind,
                storage_ref=name,
                size_bytes=stored.size,
                recordings=audio_count,
                wrapped_key=seal(wrapping, key, _key_aad(name)),
                created_at=now,
                created_by=actor if actor is not None and actor.is_authenticated else None,
                expires_at=now + datetime.timedelta(days=settings.DSR_PACKAGE_TTL_DAYS),
            )
            history_save(package, actor=actor if package.created_by is not None else None)
            access_event_record(
                action=AccessAction.EXPORT,
                object_type="package",
                object_id=package.pk,
                object_reference=dsr.reference,
                actor=actor,
                detail={
                    "subject": subject.reference,
                    "kind": kind,
                    "recordings": audio_count,
                    "bytes": stored.size,
                },
            )
            if then is not None:
                then(package)
    except BaseException:
        _discard(name)
        raise
    logger.info(
        "Built %s package %s for %s (%d recordings, %d bytes)",
        kind,
        package.pk,
        dsr.reference,
        audio_count,
        stored.size,
    )
    return package


# --- Download -----------------------------------------------------------------------------------


def package_link_token(*, package: DataPackage, user) -> str:
    """A signed token for ``user`` to download ``package``, valid for LINK_MAX_AGE."""
    return signing.dumps({"package": package.pk, "user": user.pk}, salt=_LINK_SALT, compress=True)


def package_link(*, package: DataPackage, user) -> str:
    url = reverse("dsr-package-download", args=[package.pk])
    return f"{url}?token={package_link_token(package=package, user=user)}"


def package_link_check(*, token: str, package: DataPackage, user) -> None:
    """Raises signing.SignatureExpired for an old link, signing.BadSignature for any other bad
    one (forged, for another package or another user)."""
    payload = signing.loads(token, salt=_LINK_SALT, max_age=LINK_MAX_AGE)
    if payload != {"package": package.pk, "user": user.pk}:
        raise signing.BadSignature("The link is for another package or another user.")


def package_open(*, package: DataPackage, now: datetime.datetime | None = None) -> Iterator[bytes]:
    """Check that the package can be read now, then return its decrypted ZIP as a stream of
    chunks (the blob opens when the stream starts and closes when it ends).

    Raises PackageUnavailable when it expired or its subject was erased.
    """
    if package.is_expired(now):
        raise PackageUnavailable(
            f"This package expired on {timezone.localtime(package.expires_at):%Y-%m-%d %H:%M}; "
            "build a new one from the request."
        )
    key = package_key(package)
    return _decrypted(package, key)


def _decrypted(package: DataPackage, key: bytes) -> Iterator[bytes]:
    with ciphertext_open(
        name=package.storage_ref, key=key, associated_data=_blob_aad(package.storage_ref)
    ) as reader:
        yield from reader.iter_range(0, None, chunk_segments=_DOWNLOAD_CHUNK_SEGMENTS)


@transaction.atomic
def package_download_record(*, package: DataPackage, actor, client_ip: str | None = None) -> DataPackage:
    """Count one download and write its access event (ids only). ``actor`` None: the subject,
    through the link of their response email (``dsr.subject_links``)."""
    # Only the package row is locked (two downloads count one after the other); the request is
    # read along, and a lock cannot reach its nullable subject join on PostgreSQL anyway.
    package = DataPackage.objects.select_for_update(of=("self",)).select_related("request").get(pk=package.pk)
    model_update(package, actor=actor, downloaded_count=package.downloaded_count + 1)
    access_event_record(
        action=AccessAction.DOWNLOAD,
        object_type="package",
        object_id=package.pk,
        object_reference=package.request.reference,
        actor=actor,
        actor_label="" if actor is not None else "subject",
        detail={"kind": package.kind, "bytes": package.size_bytes, "download": package.downloaded_count},
        client_ip=client_ip,
    )
    return package


def packages_expired_purge(*, now: datetime.datetime | None = None, batch_size: int = 100) -> int:
    """Delete the archives of expired packages and destroy their keys; returns how many.

    A package is a full copy of a subject's calls: once its download window has closed, keeping
    it would only keep personal data longer than its purpose needs (Art. 5(1)(e)). The row stays,
    with its history, as the record of what was sent. The blob goes first: if the process dies
    before the row is marked, the next run finds the package again and deleting a blob that is
    already gone counts as done. A blob the storage fails to delete is retried on the next run.
    """
    now = now or timezone.now()
    storage = recordings_storage()
    purged = 0
    while True:
        with transaction.atomic():
            # skip_locked: two purges share the work; pk order keeps the lock order stable.
            batch = list(
                DataPackage.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("request")
                .filter(expires_at__lte=now, purged_at__isnull=True)
                .order_by("pk")[:batch_size]
            )
            done = []
            for package in batch:
                try:
                    storage.delete(package.storage_ref)
                except OSError:
                    logger.exception("Archive of package %s not deleted; will retry", package.pk)
                    continue
                done.append(package)
            _package_keys_destroy(done, now=now, actor=None, reason="package expired")
        purged += len(done)
        if len(batch) < batch_size or not done:
            return purged


def _package_blob_names(storage, folder: str = PACKAGES_PREFIX) -> Iterator[str]:
    """Every blob under ``folder`` of the storage (local folders or S3 prefixes), depth first."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # no package was ever built here
        return
    for name in sorted(files):
        yield f"{folder}/{name}"
    for child in sorted(folders):
        yield from _package_blob_names(storage, f"{folder}/{child}")


def package_orphans_delete(*, now: datetime.datetime | None = None, chunk_size: int = 500) -> list[str]:
    """Delete the package blobs that no package row names and that were last written more than
    ``DSR_PACKAGE_ORPHAN_MINUTES`` ago; the names deleted.

    Such a blob is a build that died: killed (or timed out) between writing its archive and
    committing its row, or rolled back with the completion it ran in. Its key died with the
    uncommitted row, so it is unreadable; it is still a copy of a subject's calls that no
    erasure, expiry or purge would ever find, since they all start from the row. The age bound
    spares a build in progress: its blob is written before its row commits."""
    now = now or timezone.now()
    bound = now - datetime.timedelta(minutes=settings.DSR_PACKAGE_ORPHAN_MINUTES)
    storage = recordings_storage()
    deleted: list[str] = []
    names = _package_blob_names(storage)
    while chunk := [name for _, name in zip(range(chunk_size), names, strict=False)]:
        named = set(DataPackage.objects.filter(storage_ref__in=chunk).values_list("storage_ref", flat=True))
        for name in chunk:
            if name in named:
                continue
            try:
                if storage.get_modified_time(name) >= bound:
                    continue  # maybe a build still running: its row is not committed yet
                storage.delete(name)
            except FileNotFoundError:
                continue  # deleted meanwhile (a failed build's own clean-up, another run)
            except OSError:
                logger.exception("Orphan package blob %s not deleted; will retry", name)
                continue
            deleted.append(name)
    if deleted:
        logger.warning(
            "Deleted %d package blobs of builds that died before their row was saved", len(deleted)
        )
    return deleted


def packages_purge_for_subject(*, subject: DataSubject, actor, reason: str) -> int:
    """On the subject's erasure, inside its transaction: destroy the keys of their packages now
    (each with a chained event) and delete the archives once the erasure has committed, so a
    failed erasure leaves the packages as they were. An archive the storage fails to delete then
    is already unreadable (its key is gone); the failure is logged."""
    packages = list(
        DataPackage.objects.select_for_update(of=("self",))
        .select_related("request")
        .filter(request__subject=subject, purged_at__isnull=True)
        .order_by("pk")
    )
    _package_keys_destroy(packages, now=timezone.now(), actor=actor, reason=reason)
    names = [package.storage_ref for package in packages]
    transaction.on_commit(lambda: _archives_delete(names))
    return len(packages)


def _package_keys_destroy(packages: list[DataPackage], *, now: datetime.datetime, actor, reason: str) -> None:
    """Mark these packages purged with their keys emptied (one UPDATE and their history rows),
    each with a chained event."""
    if not packages:
        return
    purged = DataPackage.objects.filter(pk__any_of=[package.pk for package in packages])
    purged.update(wrapped_key=b"", purged_at=now)
    # The old row versions keep the wrapped package keys, which the subject key still opens,
    # until vacuumed (recordings.vault.dead_rows): an expiry destroys keys as an erasure does.
    dead_rows_vacuum_after_commit()
    history_copy(purged, history_type=HISTORY_CHANGED, date=timezone.now(), user=actor)
    for package in packages:
        package.wrapped_key, package.purged_at = b"", now
    access_events_record(
        [
            {
                "action": AccessAction.KEY_DESTROYED,
                "object_type": "package",
                "object_id": package.pk,
                "object_reference": package.request.reference,
                "actor": actor,
                "detail": {"reason": reason, "kind": package.kind},
            }
            for package in packages
        ]
    )


def _archives_delete(names: list[str]) -> None:
    storage = recordings_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.exception("Archive %s of an erased subject not deleted (its key is destroyed)", name)


def package_link_rows(*, dsr: DataSubjectRequest, user) -> list[tuple[DataPackage, str | None, str]]:
    """The request's packages that ``user`` may download, each with a freshly signed link (None
    when it cannot be downloaded any more) and a short state, newest first."""
    now = timezone.now()
    erased = (
        dsr.subject_id is None
        or not SubjectKey.objects.filter(subject_id=dsr.subject_id, destroyed_at__isnull=True).exists()
    )
    rows: list[tuple[DataPackage, str | None, str]] = []
    for package in packages_downloadable_by(user).filter(request=dsr).select_related("request"):
        if package.purged_at is not None:
            rows.append((package, None, "expired, deleted"))
        elif package.is_expired(now):
            rows.append((package, None, "expired"))
        elif erased:
            rows.append((package, None, "shredded with the subject's key"))
        else:
            rows.append((package, package_link(package=package, user=user), "ready"))
    return rows
