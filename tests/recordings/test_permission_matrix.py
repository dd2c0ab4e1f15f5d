"""The access matrix: who gets what from every back-office address of a recording, its subject and
its consent, read as a spec.

Personas: the DPO, a privacy analyst (one subject granted: their request's caller), the QA leads of
queues A and B, the auditor, and an anonymous visitor. Objects: recordings in every state the
access rules tell apart, each with its own caller (subject) and that caller's consent.

The answers:
- 200 (206 for a Range request) where the persona may;
- 404 for an object the persona may not see although it holds the model permission: the same
  answer as for an id that never existed, so existence is not revealed;
- 403 where the persona lacks the model permission altogether (Django admin's own answer);
- a redirect to the login for the anonymous visitor, to every address.
There is no separate download endpoint: a download is the audio address without a Range header.

Then the changes that move a recording out of a QA lead's reach (a consent withdrawn in the admin
or through the API, an objection upheld, an ad-hoc grant expiring or revoked), each visible at
once, without any job.
"""

from __future__ import annotations

import datetime
import re
from io import StringIO
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from compliance_site.audit.models import AccessEvent
from recordings.models import (
    Consent,
    LawfulBasis,
    LegitimateInterestAssessment,
    Objection,
    Purpose,
    Recording,
    RecordingUserObjectPermission,
)
from recordings.selectors import recording_usable_for, recordings_visible_to
from recordings.services import consent_withdraw
from retention.services import recording_keep_until_recompute
from tests.factories import PurposeFactory, QueueFactory, RecordingFactory

pytestmark = pytest.mark.django_db

PERSONAS = ("dpo", "analyst", "qa_lead_a", "qa_lead_b", "auditor", "anonymous")

# What a response amounted to, beside plain status codes.
LOGIN = "login"  # 302 to the admin login, ?next= the address asked for
INDEX = "index"  # 302 to the admin index: guardian's answer to anyone who may not change recordings


class RecordingPages(NamedTuple):
    change: int | str
    history: int | str
    delete: int | str
    permissions: int | str  # <id>/permissions/: no guardian page on recordings (grants have their own admin)
    audio: int | str  # the whole file: playback from the start, or a download
    audio_range: int | str  # a player's Range request


class SubjectPages(NamedTuple):
    change: int | str
    history: int | str
    delete: int | str


class ConsentPages(NamedTuple):
    change: int | str
    history: int | str
    delete: int | str


class Row(NamedTuple):
    recording: RecordingPages
    subject: SubjectPages  # the recording's caller
    consent: ConsentPages  # the caller's quality-assurance consent for this call


# The recordings, each with its own caller:
#   in_a           queue A, lawful: what QA lead A is there for
#   in_b           queue B, lawful; its caller is the privacy analyst's case (subject granted)
#   outside        a third queue nobody is granted
#   restricted_a   queue A, restricted (Art. 18)
#   withdrawn_a    queue A, its only quality-assurance consent withdrawn
#   grant_expired  third queue, granted ad hoc to QA lead B until an hour ago
#   grant_valid    third queue, granted ad hoc to QA lead B for another hour
#   erased_a       queue A, erased (no audio left)
OBJECTS = (
    "in_a",
    "in_b",
    "outside",
    "restricted_a",
    "withdrawn_a",
    "grant_expired",
    "grant_valid",
    "erased_a",
)

# Shorthands for the rows that repeat.
SEES_CALLER = (SubjectPages(200, 200, 403), ConsentPages(200, 200, 403))
NOT_THEIR_CASE = (SubjectPages(404, 404, 403), ConsentPages(404, 404, 403))
# QA leads hold no permission on subjects or consents at all. History answers 404 rather than 403:
# the history admin checks the object's visibility before simple-history checks the permission.
NO_CALLERS = (SubjectPages(403, 404, 403), ConsentPages(403, 404, 403))

# Nobody but a superuser may delete: every delete page is 403, for the DPO too.
# The DPO and the auditor see every recording, but only active ones are playable, and only by
# holders of play_recording (the auditor holds none). Recordings have no guardian permissions
# page: an ad-hoc grant is made in the grants admin, with a reason and an expiry.
# fmt: off
MATRIX: dict[tuple[str, str], Row] = {
    #                                          change history delete perms  audio range
    ("dpo", "in_a"):          Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "in_b"):          Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "outside"):       Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "restricted_a"):  Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("dpo", "withdrawn_a"):   Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "grant_expired"): Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "grant_valid"):   Row(RecordingPages(200, 200, 403, 404, 200, 206), *SEES_CALLER),
    ("dpo", "erased_a"):      Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),

    # The analyst holds no recording permission (history: 404, see NO_CALLERS); sees only the
    # caller of their case.
    ("analyst", "in_a"):          Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "in_b"):          Row(RecordingPages(403, 404, 403, 403, 404, 404), *SEES_CALLER),
    ("analyst", "outside"):       Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "restricted_a"):  Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "withdrawn_a"):   Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "grant_expired"): Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "grant_valid"):   Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),
    ("analyst", "erased_a"):      Row(RecordingPages(403, 404, 403, 403, 404, 404), *NOT_THEIR_CASE),

    # A QA lead: their queue's lawful, active calls, plus unexpired ad-hoc grants; nothing else.
    ("qa_lead_a", "in_a"):          Row(RecordingPages(200, 200, 403, 404, 200, 206), *NO_CALLERS),
    ("qa_lead_a", "in_b"):          Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "outside"):       Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "restricted_a"):  Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "withdrawn_a"):   Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "grant_expired"): Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "grant_valid"):   Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_a", "erased_a"):      Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),

    ("qa_lead_b", "in_a"):          Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_b", "in_b"):          Row(RecordingPages(200, 200, 403, 404, 200, 206), *NO_CALLERS),
    ("qa_lead_b", "outside"):       Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_b", "restricted_a"):  Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_b", "withdrawn_a"):   Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_b", "grant_expired"): Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),
    ("qa_lead_b", "grant_valid"):   Row(RecordingPages(200, 200, 403, 404, 200, 206), *NO_CALLERS),
    ("qa_lead_b", "erased_a"):      Row(RecordingPages(404, 404, 403, 404, 404, 404), *NO_CALLERS),

    # The auditor reads everything and plays nothing.
    ("auditor", "in_a"):          Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "in_b"):          Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "outside"):       Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "restricted_a"):  Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "withdrawn_a"):   Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "grant_expired"): Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "grant_valid"):   Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),
    ("auditor", "erased_a"):      Row(RecordingPages(200, 200, 403, 404, 404, 404), *SEES_CALLER),

    **{
        ("anonymous", name): Row(
            RecordingPages(*[LOGIN] * 6), SubjectPages(*[LOGIN] * 3), ConsentPages(*[LOGIN] * 3)
        )
        for name in OBJECTS
    },
}
# fmt: on

# Exactly what each persona's changelists list; a status instead of a set: the list is refused.
RECORDINGS_LISTED = {
    "dpo": set(OBJECTS),
    "analyst": 403,
    "qa_lead_a": {"in_a"},
    "qa_lead_b": {"in_b", "grant_valid"},
    "auditor": set(OBJECTS),
    "anonymous": LOGIN,
}
# Subjects and consents are listed by the recording they belong to.
CALLERS_LISTED = {
    "dpo": set(OBJECTS),
    "analyst": {"in_b"},
    "qa_lead_a": 403,
    "qa_lead_b": 403,
    "auditor": set(OBJECTS),
    "anonymous": LOGIN,
}


def test_the_matrix_covers_every_persona_and_object():
    assert set(MATRIX) == {(persona, name) for persona in PERSONAS for name in OBJECTS}


# --- The world ---------------------------------------------------------------------------------


def review_recording() -> Permission:
    return Permission.objects.get(content_type__app_label="recordings", codename="review_recording")


def ad_hoc_grant(user, recording: Recording, *, expires_at, reason: str = "Escalated complaint #4711"):
    return RecordingUserObjectPermission.objects.create(
        user=user,
        permission=review_recording(),
        content_object=recording,
        reason=reason,
        expires_at=expires_at,
    )


class World(dict):
    """The recordings by name, each made the first time it is asked for: a row of the matrix
    needs one, a changelist all of them (``everything()``)."""

    def __init__(self, builders):
        super().__init__()
        self.builders = builders

    def __missing__(self, name: str) -> Recording:
        self[name] = recording = self.builders[name]()
        return recording

    def everything(self) -> World:
        for name in OBJECTS:
            _ = self[name]  # made on first access
        return self


@pytest.fixture
def world(dpo, analyst, qa_lead_a, qa_lead_b, auditor, queue_a, queue_b) -> World:
    now = timezone.now()

    def nobodys_queue():
        return QueueFactory(code="queue-c", name="Queue C")

    def in_b():
        recording = RecordingFactory(queue=queue_b)
        # The analyst works on a request of this call's caller.
        assign_perm("recordings.view_datasubject", analyst, recording.subject)
        return recording

    def withdrawn_a():
        recording = RecordingFactory(queue=queue_a)
        consent_withdraw(consent=Consent.objects.get(recording=recording), via=Consent.Channel.PHONE)
        return recording

    def granted_to_qa_lead_b(expires_at):
        recording = RecordingFactory(queue=nobodys_queue())
        ad_hoc_grant(qa_lead_b, recording, expires_at=expires_at)
        return recording

    return World(
        {
            "in_a": lambda: RecordingFactory(queue=queue_a),
            "in_b": in_b,
            "outside": lambda: RecordingFactory(queue=nobodys_queue()),
            "restricted_a": lambda: RecordingFactory(queue=queue_a, status=Recording.Status.RESTRICTED),
            "withdrawn_a": withdrawn_a,
            "grant_expired": lambda: granted_to_qa_lead_b(now - datetime.timedelta(hours=1)),
            "grant_valid": lambda: granted_to_qa_lead_b(now + datetime.timedelta(hours=1)),
            "erased_a": lambda: RecordingFactory(queue=queue_a, status=Recording.Status.ERASED),
        }
    )


def log_in(client, request, persona: str) -> None:
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))


def drain(response) -> None:
    """Read an audio response to its end: the test client then closes it (a response.close() of
    our own would fire request_finished and close the test's database connection)."""
    if response.streaming:
        b"".join(response.streaming_content)


def outcome(response, url: str) -> int | str:
    """The status, with the two redirects named."""
    drain(response)
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    if location == reverse("admin:index"):
        return INDEX
    parts = urlsplit(location)
    if parts.path == reverse("admin:login") and parse_qs(parts.query).get("next") == [url]:
        return LOGIN
    return f"302 to {location}"


def get(client, url: str, **headers) -> int | str:
    return outcome(client.get(url, headers=headers), url)


def recording_pages(client, recording: Recording) -> RecordingPages:
    audio = reverse("recording-audio", args=[recording.pk])
    return RecordingPages(
        change=get(client, reverse("admin:recordings_recording_change", args=[recording.pk])),
        history=get(client, reverse("admin:recordings_recording_history", args=[recording.pk])),
        delete=get(client, reverse("admin:recordings_recording_delete", args=[recording.pk])),
        permissions=get(
            client, reverse("admin:recordings_recording_changelist") + f"{recording.pk}/permissions/change/"
        ),
        audio=get(client, audio),
        audio_range=get(client, audio, range="bytes=0-99"),
    )


def subject_pages(client, recording: Recording) -> SubjectPages:
    pk = recording.subject_id
    return SubjectPages(
        change=get(client, reverse("admin:recordings_datasubject_change", args=[pk])),
        history=get(client, reverse("admin:recordings_datasubject_history", args=[pk])),
        delete=get(client, reverse("admin:recordings_datasubject_delete", args=[pk])),
    )


def consent_pages(client, recording: Recording) -> ConsentPages:
    pk = Consent.objects.get(recording=recording).pk
    return ConsentPages(
        change=get(client, reverse("admin:recordings_consent_change", args=[pk])),
        history=get(client, reverse("admin:recordings_consent_history", args=[pk])),
        delete=get(client, reverse("admin:recordings_consent_delete", args=[pk])),
    )


# --- The matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "name"), list(MATRIX), ids=[f"{p}-{n}" for p, n in MATRIX])
def test_every_address_answers_each_persona_as_the_matrix_says(client, request, world, persona, name):
    # given
    recording = world[name]
    log_in(client, request, persona)

    # when
    actual = Row(
        recording_pages(client, recording), subject_pages(client, recording), consent_pages(client, recording)
    )

    # then
    assert actual == MATRIX[persona, name]


def test_an_id_that_never_existed_answers_like_a_recording_outside_the_grant(client, qa_lead_a, world):
    # given: one id QA lead A may not see, one that exists nowhere
    client.force_login(qa_lead_a)
    hidden, missing = world["in_b"].pk, Recording.objects.order_by("-pk").first().pk + 1000

    # then: the answers cannot tell them apart
    for pk in (hidden, missing):
        assert recording_pages(client, Recording(pk=pk)) == RecordingPages(404, 404, 403, 404, 404, 404)
    pages = []
    for pk in (hidden, missing):
        url = reverse("admin:recordings_recording_change", args=[pk])
        pages.append(client.get(url).content.replace(url.encode(), b"<address>"))
    assert pages[0] == pages[1]


def listed(client, url_name: str) -> set[int] | int | str:
    url = reverse(url_name)
    response = client.get(url)
    if response.status_code != 200:
        return outcome(response, url)
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_changelist_lists_exactly_what_the_persona_may_see(client, request, world, persona):
    # given
    world.everything()
    log_in(client, request, persona)

    def expected(listing, pk_of):
        return {pk_of(world[name]) for name in listing} if isinstance(listing, set) else listing

    # when
    recordings = listed(client, "admin:recordings_recording_changelist")
    subjects = listed(client, "admin:recordings_datasubject_changelist")
    consents = listed(client, "admin:recordings_consent_changelist")

    # then: no leak, no lock-out
    assert recordings == expected(RECORDINGS_LISTED[persona], lambda r: r.pk)
    assert subjects == expected(CALLERS_LISTED[persona], lambda r: r.subject_id)
    assert consents == expected(CALLERS_LISTED[persona], lambda r: Consent.objects.get(recording=r).pk)


# A filter through a secret (issue 14: the auditor spelled out the integration's token from the
# user list's count) is refused to everyone: 400 where the persona may see the list, 403 where
# not, the login for the anonymous visitor; never a page. Every admin and every secret path:
# tests/compliance_site/test_secret_lookups.py.
SECRET_FILTERS = [
    ("admin:compliance_site_user_changelist", "auth_token__key__startswith"),  # the attack, as it was
    ("admin:compliance_site_user_changelist", "integration_token__prefix__startswith"),
    ("admin:compliance_site_user_changelist", "password__startswith"),
    ("admin:compliance_site_user_changelist", "totpdevice__key__startswith"),
    ("admin:recordings_recording_changelist", "subject__phone_index__startswith"),
    ("admin:recordings_share_changelist", "created_by__password__startswith"),
]
INVALID = "invalid"  # 302 to the list with ?e=1: a relation that no longer exists, no count shown
SECRET_FILTER_ANSWER = {
    "dpo": {400, 403, INVALID},
    "analyst": {403},
    "qa_lead_a": {400, 403},
    "qa_lead_b": {400, 403},
    "auditor": {400, INVALID},
    "anonymous": {LOGIN},
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_persona_filters_a_list_through_a_secret(client, request, world, persona):
    world.everything()
    call_command("create_integration", "pbx-berlin", stdout=StringIO(), stderr=StringIO())
    log_in(client, request, persona)

    answers = set()
    for name, lookup in SECRET_FILTERS:
        url = reverse(name)
        answer = outcome(client.get(url, {lookup: ""}), f"{url}?{lookup}=")
        answers.add(INVALID if answer == f"302 to {url}?e=1" else answer)

    assert answers <= SECRET_FILTER_ANSWER[persona], answers
    assert 200 not in answers


@pytest.mark.parametrize("persona", ["qa_lead_a", "qa_lead_b"])
def test_a_qa_leads_list_page_names_no_recording_outside_their_reach(client, request, world, persona):
    world.everything()
    client.force_login(request.getfixturevalue(persona))

    page = client.get(reverse("admin:recordings_recording_changelist")).content.decode()

    hidden = set(OBJECTS) - RECORDINGS_LISTED[persona]
    assert [name for name in sorted(hidden) if world[name].reference in page] == []
    # the queue filter offers their own queue alone (an ad-hoc grant opens a call, not its queue)
    offered = {int(pk) for pk in re.findall(r'href="\?queue=(\d+)"', page)}
    assert offered == {request.getfixturevalue("queue_a" if persona == "qa_lead_a" else "queue_b").pk}


# --- Withdrawal, objection and expiry take effect at once -------------------------------------


def qa_reach(client, user, recording: Recording) -> tuple[bool, int, int]:
    """(listed, change page status, audio status) for this user."""
    client.force_login(user)
    in_list = recording.pk in {
        r.pk for r in client.get(reverse("admin:recordings_recording_changelist")).context["cl"].result_list
    }
    change = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).status_code
    audio = client.get(reverse("recording-audio", args=[recording.pk]))
    drain(audio)
    return in_list, change, audio.status_code


IN_REACH = (True, 200, 200)
OUT_OF_REACH = (False, 404, 404)


def test_a_withdrawal_the_dpo_records_in_the_consent_admin_takes_the_call_away_at_once(
    client, dpo, qa_lead_a, queue_a
):
    # given: a call in queue A held on its caller's consent, retained for now
    recording = recording_keep_until_recompute(recording=RecordingFactory(queue=queue_a))
    consent = Consent.objects.get(recording=recording)
    assert recording.keep_until > timezone.now()
    assert qa_reach(client, qa_lead_a, recording) == IN_REACH

    # when: the DPO records the caller's e-mail withdrawal with the changelist action
    client.force_login(dpo)
    response = client.post(
        reverse("admin:recordings_consent_changelist"),
        {"action": "withdraw_consents", "via": "email", "_selected_action": [consent.pk]},
    )

    # then: the withdrawal is on record, with who recorded it
    assert response.status_code == 302
    consent.refresh_from_db()
    assert (consent.withdrawn_via, consent.withdrawn_by) == ("email", dpo)
    assert consent.history.latest().history_user == dpo
    # and the call has left QA lead A's list and player, with no job run
    assert qa_reach(client, qa_lead_a, recording) == OUT_OF_REACH
    # and its retention ends: no lawful purpose is left
    recording.refresh_from_db()
    assert recording.keep_until <= timezone.now()
    # and the ledger alone keeps it away, whatever the retention date says
    Recording.objects.filter(pk=recording.pk).update(keep_until=timezone.now() + datetime.timedelta(days=30))
    assert recording not in recordings_visible_to(qa_lead_a)


def create_integration(name: str) -> str:
    out = StringIO()
    call_command("create_integration", name, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_a_withdrawal_pushed_by_the_telephony_integration_takes_the_call_away_at_once(
    client, qa_lead_a, queue_a
):
    # given: a call in QA lead A's reach, and the PBX's integration token
    recording = recording_keep_until_recompute(recording=RecordingFactory(queue=queue_a))
    assert qa_reach(client, qa_lead_a, recording) == IN_REACH
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {create_integration('pbx-berlin')}")
    cache.clear()  # the throttle counts in the default cache, which outlives a test

    # when: the caller pressed "stop recording for quality" in the IVR
    response = api.post(
        reverse("api-consent-withdrawal"),
        {
            "subject": {"reference": recording.subject.reference},
            "purpose": Purpose.QUALITY_ASSURANCE,
            "channel": "ivr",
        },
        format="json",
    )

    # then
    assert response.status_code == 200, response.json()
    assert response.json() == {"subject_reference": recording.subject.reference, "withdrawn": 1}
    consent = Consent.objects.get(recording=recording)
    assert (consent.withdrawn_via, consent.withdrawn_by.username) == ("ivr", "pbx-berlin")
    assert qa_reach(client, qa_lead_a, recording) == OUT_OF_REACH
    recording.refresh_from_db()
    assert recording.keep_until <= timezone.now()
    # and the access log names the integration that withdrew it (issue 14: it did not)
    event = AccessEvent.objects.get(action="consent_withdrawn")
    assert (event.actor_label, event.object_type, event.object_id, event.purpose) == (
        "pbx-berlin",
        "subject",
        recording.subject_id,
        Purpose.QUALITY_ASSURANCE,
    )
    assert event.detail == {"consent": consent.pk, "channel": "ivr", "recording": recording.pk}
    assert event.client_ip == "127.0.0.1"


@pytest.fixture
def held_on_legitimate_interests(dpo, queue_a) -> Recording:
    """A call in queue A kept on legitimate interests, under an approved assessment for QA."""
    assessment = LegitimateInterestAssessment.objects.create(
        title="Quality monitoring of support calls",
        balancing_summary="Short retention, QA leads only, callers told in the notice.",
        approved_by=dpo,
        approved_at=timezone.now() - datetime.timedelta(days=10),
    )
    assessment.purposes.add(PurposeFactory())
    return recording_keep_until_recompute(
        recording=RecordingFactory(
            queue=queue_a,
            lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
            legitimate_interest_assessment=assessment,
        )
    )


@pytest.mark.parametrize(
    ("action", "grounds", "decision", "reach", "retention_ends"),
    [
        ("uphold", "", Objection.Decision.UPHELD, OUT_OF_REACH, True),
        (
            "overrule",
            "Evidence in a fraud investigation (case 2026-17).",
            Objection.Decision.OVERRULED,
            IN_REACH,
            False,
        ),
    ],
)
def test_an_objection_decided_in_the_admin_removes_the_call_only_if_upheld(
    client, dpo, qa_lead_a, held_on_legitimate_interests, action, grounds, decision, reach, retention_ends
):
    # given: the caller objects to quality assurance (Art. 21); while it is pending, processing
    # stops (Art. 21(1): unless compelling grounds are demonstrated)
    recording = held_on_legitimate_interests
    assert qa_reach(client, qa_lead_a, recording) == IN_REACH
    objection = Objection.objects.create(
        subject=recording.subject,
        purpose=Purpose.objects.get(code=Purpose.QUALITY_ASSURANCE),
        received_at=timezone.now(),
    )
    assert qa_reach(client, qa_lead_a, recording) != IN_REACH

    # when: the DPO decides it with the changelist action
    client.force_login(dpo)
    response = client.post(
        reverse("admin:recordings_objection_changelist"),
        {"action": action, "reason": grounds, "_selected_action": [objection.pk]},
    )

    # then
    assert response.status_code == 302
    objection.refresh_from_db()
    assert (objection.decision, objection.decided_by) == (decision, dpo)
    assert qa_reach(client, qa_lead_a, recording) == reach
    recording.refresh_from_db()
    assert (recording.keep_until <= timezone.now()) is retention_ends


def test_recording_usable_for_answers_in_at_most_three_queries(
    django_assert_max_num_queries, queue_a, held_on_legitimate_interests
):
    # given: one recording per kind of answer
    lawful = RecordingFactory(queue=queue_a)
    withdrawn = RecordingFactory(queue=queue_a)
    consent_withdraw(consent=Consent.objects.get(recording=withdrawn), via=Consent.Channel.WEB)
    no_consent = RecordingFactory(queue=queue_a, consented=False)
    on_contract = RecordingFactory(queue=queue_a, lawful_basis=LawfulBasis.CONTRACT)
    not_stated = RecordingFactory(queue=queue_a, purposes=[PurposeFactory(code="training")])
    purpose = Purpose.objects.get(code=Purpose.QUALITY_ASSURANCE)
    expected = {
        lawful: True,
        withdrawn: False,
        no_consent: False,
        on_contract: True,
        not_stated: False,
        held_on_legitimate_interests: True,
    }

    for recording, usable in expected.items():
        # when / then: by object or by id, the purpose by object or by its code
        for asked_recording, asked_purpose in [
            (recording, purpose),
            (recording.pk, Purpose.QUALITY_ASSURANCE),
        ]:
            with django_assert_max_num_queries(3):
                assert recording_usable_for(asked_recording, asked_purpose) is usable, recording


# --- Ad-hoc grants through the grant admin -----------------------------------------------------

GRANTS_URL = "admin:recordings_recordinguserobjectpermission"


def grant_form(user, recording: Recording, *, reason: str, expires_at: datetime.datetime) -> dict:
    local = timezone.localtime(expires_at)
    return {
        "user": user.pk,
        "content_object": recording.pk,
        "reason": reason,
        "expires_at_0": local.strftime("%Y-%m-%d"),
        "expires_at_1": local.strftime("%H:%M:%S"),
    }


def test_an_ad_hoc_grant_added_in_the_grant_admin_opens_one_recording_to_one_qa_lead(
    client, dpo, qa_lead_a, qa_lead_b, queue_b
):
    # given: a call in queue B, out of QA lead A's reach
    recording = RecordingFactory(queue=queue_b)
    assert qa_reach(client, qa_lead_a, recording) == OUT_OF_REACH
    expires_at = (timezone.now() + datetime.timedelta(days=2)).replace(microsecond=0)

    # when: the DPO grants it to QA lead A, with a reason, for two days
    client.force_login(dpo)
    response = client.post(
        reverse(f"{GRANTS_URL}_add"),
        grant_form(qa_lead_a, recording, reason="Second opinion on complaint #4711", expires_at=expires_at),
    )

    # then: the grant is on record as given
    assert response.status_code == 302, response.context["adminform"].form.errors
    grant = RecordingUserObjectPermission.objects.get()
    assert (grant.user, grant.content_object, grant.permission.codename) == (
        qa_lead_a,
        recording,
        "review_recording",
    )
    assert (grant.reason, grant.expires_at) == ("Second opinion on complaint #4711", expires_at)
    assert [(row.history_type, row.history_user) for row in grant.history.all()] == [("+", dpo)]
    # and it opens that one recording to QA lead A, and no other
    assert qa_reach(client, qa_lead_a, recording) == IN_REACH
    assert qa_reach(client, qa_lead_b, recording) == IN_REACH  # queue B's own lead, as before
    assert set(recordings_visible_to(qa_lead_a)) == {recording}


def test_an_ad_hoc_grant_ends_at_its_expiry_without_any_job(client, qa_lead_a, queue_b):
    # given: a grant for one hour more
    recording = RecordingFactory(queue=queue_b)
    expires_at = timezone.now() + datetime.timedelta(hours=1)
    grant = ad_hoc_grant(qa_lead_a, recording, expires_at=expires_at)

    # then: it counts until its expiry, not at it or after
    def visible_at(moment) -> bool:
        return recording in recordings_visible_to(qa_lead_a, now=moment)

    assert visible_at(expires_at - datetime.timedelta(seconds=1))
    assert not visible_at(expires_at)
    assert not visible_at(expires_at + datetime.timedelta(days=1))

    # when: the hour has passed (nothing runs; only the clock moved past the expiry)
    RecordingUserObjectPermission.objects.filter(pk=grant.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )

    # then: the list, the page and the audio are closed
    assert qa_reach(client, qa_lead_a, recording) == OUT_OF_REACH


def test_revoking_an_ad_hoc_grant_ends_it_now_and_its_history_says_who_granted_and_who_revoked(
    client, dpo, qa_lead_a, auditor, queue_b
):
    # given: a grant the DPO gave through the grant admin, in use
    recording = RecordingFactory(queue=queue_b)
    client.force_login(dpo)
    client.post(
        reverse(f"{GRANTS_URL}_add"),
        grant_form(
            qa_lead_a,
            recording,
            reason="Calibration session",
            expires_at=timezone.now() + datetime.timedelta(days=7),
        ),
    )
    grant = RecordingUserObjectPermission.objects.get()
    assert qa_reach(client, qa_lead_a, recording) == IN_REACH

    # when: the DPO revokes it with the changelist action
    client.force_login(dpo)
    before = timezone.now()
    response = client.post(
        reverse(f"{GRANTS_URL}_changelist"), {"action": "revoke", "_selected_action": [grant.pk]}
    )

    # then: the grant ends now; the row stays
    assert response.status_code == 302
    grant.refresh_from_db()
    assert before <= grant.expires_at <= timezone.now()
    assert qa_reach(client, qa_lead_a, recording) == OUT_OF_REACH
    # and its history says who granted and who revoked, and when it ended
    rows = list(grant.history.order_by("history_date", "history_id"))
    assert [(row.history_type, row.history_user) for row in rows] == [("+", dpo), ("~", dpo)]
    assert rows[-1].expires_at == grant.expires_at
    assert rows[0].reason == rows[-1].reason == "Calibration session"
    # and the grant's history page shows both to whoever may read grants (the auditor)
    client.force_login(auditor)
    page = client.get(reverse(f"{GRANTS_URL}_history", args=[grant.pk]))
    assert page.status_code == 200
    assert page.content.decode().count(dpo.username) >= 2


@pytest.mark.parametrize(
    ("change", "error_field"),
    [
        ({"reason": ""}, "reason"),
        ({"expires_at": timezone.now() - datetime.timedelta(minutes=5)}, "expires_at"),
        ({"user": "analyst"}, "user"),
    ],
    ids=["without-a-reason", "already-expired", "to-someone-not-a-qa-lead"],
)
def test_the_grant_admin_refuses_a_grant_that_would_escape_its_rules(
    client, request, dpo, qa_lead_a, queue_b, change, error_field
):
    recording = RecordingFactory(queue=queue_b)
    fields = {
        "user": qa_lead_a,
        "reason": "Calibration session",
        "expires_at": timezone.now() + datetime.timedelta(days=1),
    }
    fields.update(change)
    if isinstance(fields["user"], str):
        fields["user"] = request.getfixturevalue(fields["user"])
    client.force_login(dpo)

    response = client.post(reverse(f"{GRANTS_URL}_add"), grant_form(recording=recording, **fields))

    assert response.status_code == 200
    assert error_field in response.context["adminform"].form.errors
    assert not RecordingUserObjectPermission.objects.exists()


# --- The DSR desk's doors (issue 14): re-matching a request, and a note on another's request ---

# What each persona gets when they try to point the analyst's request at another subject, and to
# add a note to a request that is not the analyst's: the DPO may do both (DONE: the redirect after
# a saved form); the analyst may not
# match at all (403) and is refused the other request's id on the note form (200, the form with
# its error); the others cannot see the request (404) or hold no permission (403).
DESK_MATRIX = {
    #              re-match  note on another's request
    "dpo": ("done", "done"),
    "analyst": (403, 200),
    "qa_lead_a": (404, 403),
    "auditor": (403, 403),
    "anonymous": (LOGIN, LOGIN),
}


@pytest.mark.parametrize("persona", list(DESK_MATRIX))
def test_the_desk_matrix(client, request, persona, dpo, analyst):
    # given: a request the DPO matched to Alice and gave the analyst, and one the analyst does not work
    from dsr.models import RequestNote
    from dsr.services import request_create
    from dsr.workflow import request_assign, request_identity_verify, request_match
    from tests.factories import DataSubjectFactory

    alice, bob = DataSubjectFactory(), DataSubjectFactory()
    mine = request_create(request_type="access", channel="email", received_at=timezone.now())
    request_match(dsr=mine, subject=alice, actor=dpo)
    request_identity_verify(dsr=mine, method="document", note="ID card seen.", actor=dpo)
    request_assign(dsr=mine, assignee=analyst, actor=dpo)
    theirs = request_create(request_type="erasure", channel="email", received_at=timezone.now())
    log_in(client, request, persona)

    # when
    match_url = reverse("admin:dsr_datasubjectrequest_step", args=[mine.pk, "match"])
    note_url = reverse("admin:dsr_requestnote_add")
    rematch = _done(outcome(client.post(match_url, {"reference": bob.reference}), match_url))
    note = _done(outcome(client.post(note_url, {"request": theirs.pk, "body": "hello"}), note_url))

    # then
    assert (rematch, note) == DESK_MATRIX[persona]
    mine.refresh_from_db()
    assert (mine.subject == bob) is (persona == "dpo")
    assert RequestNote.objects.filter(request=theirs).exists() is (persona == "dpo")


def _done(result: int | str) -> int | str:
    """A redirect after a POST (other than to the login) is the admin's "saved"."""
    return "done" if isinstance(result, str) and result.startswith("302 to") else result
