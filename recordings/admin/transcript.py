"""The transcript on the recording's admin page: redacted for reviewers, unredacted with a reason.

Who may read it follows the audio: those who may play the recording (``recordings_playable_by``)
see the transcript redacted (card numbers, IBANs, emails and phone numbers replaced by their
kind), and the page that shows it is a ``decrypt`` access event. The clear text needs
``play_unredacted`` and a reason given each time, on its own page (``<id>/unredacted-transcript/``):
the reason is asked for (GET), the text is shown once in answer to the POST, after the
``unredacted`` access event with the reason (never the text) was written.

The payment-data flag shows on the page, and the changelist has a filter for the DPO's list of
recordings flagged: payment data may be in the audio.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.utils.html import format_html

from compliance_site.client_address import client_ip
from compliance_site.display import local_minutes
from recordings.models import Recording, Transcript
from recordings.redaction.text import CARD_NUMBER, EMAIL, IBAN, PHONE_NUMBER
from recordings.redaction.transcripts import (
    REASON_MAX_LENGTH,
    REASON_MIN_LENGTH,
    transcript_redacted,
    transcript_unredacted_read,
)
from recordings.selectors import recordings_playable_by
from recordings.vault.keys import CiphertextError, KeyDestroyedError

FLAGGED = "flagged"
FLAGGED_TITLE = "Recordings flagged: payment data may be in the audio"

_KIND_LABELS = (
    (CARD_NUMBER, "card number(s)"),
    (IBAN, "IBAN(s)"),
    (EMAIL, "email address(es)"),
    (PHONE_NUMBER, "phone number(s)"),
)


class PaymentDataFlagFilter(admin.SimpleListFilter):
    """The DPO's list: recordings whose transcript has a card number and no payment-card segment
    is marked, so the card number is most likely audible. Mark the segment (it is then muted and
    the flag clears) or have the recording deleted."""

    title = "payment data in the audio"
    parameter_name = "payment_data"

    def lookups(self, request, model_admin):
        return [(FLAGGED, "Flagged: payment data may be in the audio")]

    def queryset(self, request, queryset):
        if self.value() == FLAGGED:
            return queryset.filter(transcript__payment_data_flagged_at__isnull=False)
        return queryset


class UnredactedReasonForm(forms.Form):
    reason = forms.CharField(
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why you need the unredacted text (e.g. the ticket or claim). It is written to the "
        "access log with your name; the text is shown once.",
    )


def transcript_panel(request, recording: Recording, *, unredacted_url: str) -> dict[str, Any]:
    """The page's context for the redacted transcript of a recording the user may play: its HTML
    (``transcript_html``), and whether it was decrypted for this page (``transcript_decrypted``),
    which makes the page's one access event a ``decrypt`` (``RecordingAdmin``). Empty when the
    recording has no transcript."""
    transcript = recording_transcript(recording)
    if transcript is None:
        return {}
    try:
        redaction = transcript_redacted(transcript)
    except KeyDestroyedError:
        return {
            "transcript_html": format_html(
                "<p>Destroyed with the recording's or the subject's key (erased).</p>"
            )
        }
    except CiphertextError:
        return {
            "transcript_html": format_html("<p>Unreadable: the stored transcript does not authenticate.</p>")
        }
    counts = [f"{redaction.count(kind)} {label}" for kind, label in _KIND_LABELS if redaction.count(kind)]
    about = ", ".join(filter(None, [transcript.language, transcript.source]))
    link = ""
    if request.user.has_perm("recordings.play_unredacted"):
        link = format_html(' <a href="{}">Read unredacted (reason required, logged)</a>', unredacted_url)
    html = format_html(
        '<div class="transcript"><p class="help">{}{}{}</p><pre class="transcript-text">{}</pre></div>',
        f"{about}. " if about else "",
        f"Redacted: {', '.join(counts)}." if counts else "Nothing to redact was found.",
        link,
        transcript_readable(redaction.text),
    )
    return {"transcript_html": html, "transcript_decrypted": True}


_CUE_TIMING = re.compile(r"^(?:(\d{2,}):)?(\d{2}):(\d{2})\.\d{3} --> ")
_VOICE = re.compile(r"^<v(?:\.[^ >]*)? ([^>]*)>")
_TAG = re.compile(r"</?[^>]*>")


def transcript_readable(text: str) -> str:
    """A WebVTT transcript as a reader wants it: one line per cue, "01:23 Agent: words", without
    the word timings and voice tags; any other text unchanged."""
    if not text.startswith("WEBVTT"):
        return text
    lines = []
    for block in re.split(r"\n\s*\n", text):
        rows = block.strip().splitlines()
        timing = next((i for i, row in enumerate(rows) if _CUE_TIMING.match(row)), None)
        if timing is None:
            continue
        hours, minutes, seconds = _CUE_TIMING.match(rows[timing]).groups()  # type: ignore[union-attr]
        at = f"{int(hours)}:{minutes}:{seconds}" if hours and int(hours) else f"{minutes}:{seconds}"
        payload = " ".join(rows[timing + 1 :])
        voice = _VOICE.match(payload)
        words = " ".join(_TAG.sub("", payload).split())
        lines.append(f"{at} {voice.group(1)}: {words}" if voice else f"{at} {words}")
    return "\n".join(lines)


def recording_transcript(recording: Recording) -> Transcript | None:
    """The recording's transcript, or None, read once per page: the reverse one-to-one caches it
    (a miss too) on the page's recording, which the admin asks about several times a page."""
    try:
        return recording.transcript
    except Transcript.DoesNotExist:
        return None


@admin.display(description="Payment data")
def payment_data_flag(recording: Recording) -> str:
    transcript = recording_transcript(recording)
    flagged_at = transcript.payment_data_flagged_at if transcript is not None else None
    if flagged_at is None:
        return "Not flagged."
    return (
        f"Flagged {local_minutes(flagged_at)}: the transcript has a card number and no payment-card "
        "segment is marked, so payment data may be in the audio. Mark the segment (it is then muted "
        "and the flag clears) or have the recording deleted."
    )


def transcript_unredacted_view(request, object_id, *, model_admin):
    """``<id>/unredacted-transcript/``: the reason asked for (GET), the clear text shown once in
    answer to the POST, after the ``unredacted`` access event was written."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    # Not found for anyone who may not play the recording, exactly like the audio.
    recording = recordings_playable_by(request.user).select_related("subject").filter(pk=object_id).first()
    transcript = Transcript.objects.filter(recording=recording).first() if recording else None
    if recording is None or transcript is None:
        raise Http404
    if not request.user.has_perm("recordings.play_unredacted"):
        raise PermissionDenied
    transcript.recording = recording
    form = UnredactedReasonForm(request.POST if request.method == "POST" else None)
    text = None
    if form.is_bound and form.is_valid():
        try:
            text = transcript_unredacted_read(
                transcript=transcript,
                user=request.user,
                reason=form.cleaned_data["reason"],
                client_ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error("reason" if hasattr(exc, "error_dict") else None, exc.messages)
        except KeyDestroyedError as exc:
            raise Http404("This transcript was destroyed.") from exc
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": recording,
        "title": f"Unredacted transcript of {recording.reference}",
        "form": form,
        "text": text,
    }
    response = TemplateResponse(request, "admin/recordings/recording/transcript_unredacted.html", context)
    response["Cache-Control"] = "no-store, private"
    return response
