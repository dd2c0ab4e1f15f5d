"""Letters to the subject: real letters (controller, reference, date, authority, what was done in
the subject's terms), in English and German from the gettext catalogue, as HTML, text and PDF;
the subject's name is never stored in the letter row, is decrypted (and logged) only when the
letter is rendered, and is gone once the subject is erased."""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from compliance_site.audit.models import AccessEvent
from dsr.letters import letter_html, letter_pdf, letter_text, letter_write
from dsr.models import DataSubjectRequest, RequestType, ResponseLetter
from dsr.services import request_create
from recordings.vault.services import subject_key_destroy
from tests.factories import DataSubjectFactory, UserFactory

pytestmark = pytest.mark.django_db

NAME = "Jürgen Groß-Ünal"
HOSTILE = "<script>alert('x')</script> Eve & <b>Bold</b>"
VARIANTS = ["extension", "lifted", "refused", "completed"]
# Sentences meant for staff that a letter to the subject must never carry.
STAFF_PHRASES = [
    "download it from the request",
    "send it to the subject",
    "the subject's",
    "recording(s)",
    "keep_until",
    "tombstone",
    "key shredded",
    "Dear data subject",
    "Match the request",
    "the DPO",
    "worker",
]


def _request(subject, request_type: str, language: str, variant: str) -> DataSubjectRequest:
    dsr = request_create(
        request_type=request_type,
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=3),
        subject=subject,
    )
    dsr.language = language
    now = timezone.now()
    if variant == "extension":
        dsr.extended_until = dsr.due_at + datetime.timedelta(days=30)
        dsr.extension_reason = "42"  # language-neutral: the DPO's words are quoted as given
    elif variant == "refused":
        dsr.status, dsr.refusal_ground, dsr.closed_at = "refused", "excessive", now
    elif variant in ("completed", "lifted"):
        dsr.status, dsr.closed_at = "completed", now
    dsr.save()
    return dsr


def _write(dsr: DataSubjectRequest, variant: str, actor) -> ResponseLetter:
    kind = {
        "extension": ResponseLetter.Kind.EXTENSION,
        "lifted": ResponseLetter.Kind.RESTRICTION_LIFTED,
    }.get(variant, ResponseLetter.Kind.OUTCOME)
    extra = {"lift_reason": "42", "restricted_since": timezone.now(), "lifted_at": timezone.now()}
    return letter_write(dsr=dsr, kind=kind, actor=actor, extra=extra if variant == "lifted" else None)


def _cases():
    for variant in VARIANTS:
        types = [RequestType.RESTRICTION] if variant == "lifted" else list(RequestType)
        for request_type in types:
            yield variant, request_type


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _sentences(text: str, data: set[str]) -> set[str]:
    """The letter's own sentences: lines split at sentence ends, without the lines that only
    carry data (addresses, names, dates, references), which read the same in both languages."""
    found = set()
    for line in text.splitlines():
        line = line.strip().lstrip("- ")
        if not line or line in data:
            continue
        for sentence in re.split(r"(?<=[.:;!?])\s+", line):
            if len(sentence.split()) >= 3 and sentence not in data:
                found.add(sentence)
    return found


@pytest.mark.parametrize(("variant", "request_type"), list(_cases()))
@pytest.mark.parametrize("language", ["en", "de"])
def test_every_letter_is_a_real_letter_without_staff_text_or_a_stored_name(
    dpo, variant, request_type, language
):
    # given
    subject = DataSubjectFactory(full_name=NAME)
    dsr = _request(subject, request_type, language, variant)

    # when
    letter = _write(dsr, variant, dpo)
    text = letter_text(letter, actor=dpo, purpose="email")
    html = letter_html(letter, actor=dpo, purpose="view")
    pdf = _pdf_text(letter_pdf(letter, actor=dpo, purpose="pdf"))

    # then: the letterhead, the reference, the date and the authority, in every format
    written = timezone.localdate().day
    for rendered in (text, html, pdf):
        assert settings.CUSTOS_CONTROLLER["name"] in rendered
        assert settings.CUSTOS_SUPERVISORY_AUTHORITY["name"] in rendered
        assert settings.CUSTOS_DPO_CONTACT["email"] in rendered
        assert dsr.reference in rendered
        assert str(written) in rendered
        assert NAME in rendered
    # and nothing meant for staff
    for phrase in STAFF_PHRASES:
        assert phrase.lower() not in text.lower(), phrase
    # and no name in the row, nor in its history
    row = ResponseLetter.objects.get(pk=letter.pk)
    assert NAME not in row.subject_line + row.body + str(row.facts)
    assert all(NAME not in h.body + str(h.facts) for h in row.history.all())
    # and a complete HTML document without script
    assert (
        html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html.split("<body>")[0]
    )


@pytest.mark.parametrize(("variant", "request_type"), list(_cases()))
def test_the_german_letter_has_no_english_sentence_and_the_english_none_of_the_german(
    dpo, variant, request_type
):
    subject = DataSubjectFactory(full_name=NAME)
    texts = {}
    for language in ("en", "de"):
        letter = _write(_request(subject, request_type, language, variant), variant, dpo)
        texts[language] = letter_text(letter, actor=dpo, purpose="email")
    data = {
        settings.CUSTOS_CONTROLLER["name"],
        *settings.CUSTOS_CONTROLLER["address"],
        *settings.CUSTOS_DPO_CONTACT["address"],
        settings.CUSTOS_SUPERVISORY_AUTHORITY["name"],
        *settings.CUSTOS_SUPERVISORY_AUTHORITY["address"],
    }
    english, german = _sentences(texts["en"], data), _sentences(texts["de"], data)
    assert english and german
    assert not english & german


def test_the_german_catalogue_is_complete():
    po = (Path(settings.BASE_DIR) / "locale/de/LC_MESSAGES/django.po").read_text(encoding="utf-8")
    entries = po.split("\n\n")[1:]
    assert entries
    for entry in entries:
        assert "#, fuzzy" not in entry, entry
        assert not re.search(r'^msgstr(\[\d\])? ""$(?!\n")', entry, re.M), entry
    mo = Path(settings.BASE_DIR) / "locale/de/LC_MESSAGES/django.mo"
    assert mo.stat().st_mtime >= 0 and mo.stat().st_size > 1000


def test_the_name_is_decrypted_for_each_rendering_and_logged_with_the_request(dpo):
    subject = DataSubjectFactory(full_name=NAME)
    letter = _write(_request(subject, RequestType.ERASURE, "en", "refused"), "refused", dpo)
    before = AccessEvent.objects.filter(action="decrypt").count()

    letter_pdf(letter, actor=dpo, purpose="pdf")

    event = AccessEvent.objects.filter(action="decrypt").latest("sequence")
    assert AccessEvent.objects.filter(action="decrypt").count() == before + 1
    assert (event.object_type, event.object_id, event.actor, event.purpose) == (
        "subject",
        subject.pk,
        dpo,
        "letter_pdf",
    )
    assert event.detail["request"] == letter.request.reference
    assert NAME not in str(event.detail)


@pytest.mark.parametrize("language", ["en", "de"])
def test_an_erased_subjects_letter_greets_neutrally_without_a_name_or_an_error(dpo, language):
    subject = DataSubjectFactory(full_name=NAME)
    letter = _write(_request(subject, RequestType.ACCESS, language, "completed"), "completed", dpo)
    subject_key_destroy(subject=subject, actor=dpo, reason="erasure test")
    letter.refresh_from_db()

    text = letter_text(letter, actor=dpo, purpose="email")
    pdf = _pdf_text(letter_pdf(letter, actor=dpo, purpose="pdf"))

    assert NAME not in text and NAME not in pdf
    neutral = "Dear Sir or Madam," if language == "en" else "Sehr geehrte Damen und Herren,"
    assert neutral in text and neutral in pdf
    assert not AccessEvent.objects.filter(action="decrypt", purpose__startswith="letter_").exists()


def test_a_hostile_name_is_escaped_in_html_and_drawn_as_text_in_the_pdf(dpo):
    subject = DataSubjectFactory(full_name=HOSTILE)
    letter = _write(_request(subject, RequestType.ACCESS, "en", "refused"), "refused", dpo)

    html = letter_html(letter, actor=dpo, purpose="view")
    pdf = _pdf_text(letter_pdf(letter, actor=dpo, purpose="pdf"))

    assert "<script>" not in html and "<b>Bold" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Eve &amp; &lt;b&gt;Bold&lt;/b&gt;" in html
    assert HOSTILE in pdf


def test_an_unknown_purpose_is_refused(dpo):
    subject = DataSubjectFactory(full_name=NAME)
    letter = _write(_request(subject, RequestType.ACCESS, "en", "refused"), "refused", dpo)
    with pytest.raises(ValueError):
        letter_html(letter, actor=dpo, purpose="curiosity")


# --- the request page ----------------------------------------------------------------------------


def _url(letter: ResponseLetter, fmt: str) -> str:
    return reverse("admin:dsr_datasubjectrequest_letter", args=[letter.request_id, letter.pk, fmt])


@pytest.fixture
def letter(dpo):
    subject = DataSubjectFactory(full_name=NAME)
    return _write(_request(subject, RequestType.ERASURE, "de", "refused"), "refused", dpo)


def test_the_request_page_links_each_letter_and_the_views_log_and_do_not_cache(client, dpo, letter):
    client.force_login(dpo)
    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[letter.request_id]))
    assert _url(letter, "html") in page.content.decode() and _url(letter, "pdf") in page.content.decode()
    assert NAME not in page.content.decode()

    html = client.get(_url(letter, "html"))
    pdf = client.get(_url(letter, "pdf"))

    assert html.status_code == pdf.status_code == 200
    assert NAME in html.content.decode() and NAME in _pdf_text(pdf.content)
    assert pdf["Content-Type"] == "application/pdf" and "attachment" in pdf["Content-Disposition"]
    for response in (html, pdf):
        assert "no-store" in response["Cache-Control"]
    assert "script-src" not in html["Content-Security-Policy"]
    assert "default-src 'none'" in html["Content-Security-Policy"]
    events = AccessEvent.objects.filter(object_type="letter", object_id=letter.pk)
    assert sorted(events.values_list("action", flat=True)) == ["download", "view"]
    assert set(events.values_list("object_reference", flat=True)) == {letter.request.reference}


def test_the_auditor_reads_letters(client, auditor, letter):
    client.force_login(auditor)
    assert client.get(_url(letter, "html")).status_code == 200
    assert client.get(_url(letter, "pdf")).status_code == 200


def test_who_may_not_see_the_request_gets_a_404_and_nothing_is_decrypted(client, analyst, roles, letter):
    stranger_staff = UserFactory(username="staff.nogroup", is_staff=True)
    for user in (analyst, stranger_staff):
        client.force_login(user)
        for fmt in ("html", "pdf"):
            assert client.get(_url(letter, fmt)).status_code == 404
    client.logout()
    assert client.get(_url(letter, "html")).status_code == 302  # to the login page
    assert not AccessEvent.objects.filter(action="decrypt", purpose__startswith="letter_").exists()


def test_hostile_urls_are_404s_not_500s(client, dpo, letter):
    client.force_login(dpo)
    other = _write(_request(DataSubjectFactory(), RequestType.ACCESS, "en", "refused"), "refused", dpo)
    bad = [
        reverse("admin:dsr_datasubjectrequest_letter", args=[letter.request_id, other.pk, "html"]),
        reverse("admin:dsr_datasubjectrequest_letter", args=[letter.request_id, letter.pk, "exe"]),
        reverse("admin:dsr_datasubjectrequest_letter", args=["x'--", letter.pk, "html"]),
        reverse("admin:dsr_datasubjectrequest_letter", args=[999999, letter.pk, "pdf"]),
    ]
    for url in bad:
        assert client.get(url).status_code == 404, url
    assert client.post(_url(letter, "html")).status_code == 405
