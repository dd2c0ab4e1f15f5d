"""Sensitive segments on the recording's admin page: listed under the player, marked on a small
page of their own, and the unredacted player behind a reason.

- ``<id>/sensitive-segments/``: a DPO or QA lead holding ``mark_sensitive`` marks a time range
  of a recording they can see (kind, start, end); ``marked_by`` and the history's user are them.
  The page lists the recording's segments and their history.
- ``<id>/sensitive-segments/<segment id>/remove/`` (POST): a DPO holding
  ``remove_sensitive_segment`` removes a segment found or marked wrongly, with a reason
  (``sensitive_segment_remove``); the page offers it beside each segment, with its source and
  detector version.
- ``<id>/unredacted/``: a holder of ``play_unredacted`` who may play the recording gives a reason
  and gets a player whose address carries a token bound to them, the recording and the reason
  (``recordings.playback.unredacted``); every request it makes is an ``unredacted`` access event.
- The change page's player plays the audio redacted (segments muted on the server, in place or
  from the muted rendition); while that rendition is being prepared (or if it failed), the page
  says so instead of showing a player, and asks for it if nothing prepares it yet.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from compliance_site.audit.admin import admin_access_record
from compliance_site.audit.models import AccessAction
from compliance_site.client_address import client_ip
from recordings.models import AtRestRedaction, Recording, SensitiveSegment
from recordings.playback.audio import muting_plan
from recordings.playback.sessions import playback_token
from recordings.playback.unredacted import PERMISSION as UNREDACTED_PERMISSION
from recordings.playback.unredacted import (
    REASON_MAX_LENGTH,
    REASON_MIN_LENGTH,
    TOKEN_MAX_AGE,
    unredacted_token,
)
from recordings.redaction.segments import (
    MAX_SECONDS,
    REMOVAL_REASON_MAX_LENGTH,
    REMOVE_PERMISSION,
    sensitive_segment_mark,
    sensitive_segment_remove,
)
from recordings.redaction.segments import PERMISSION as MARK_PERMISSION
from recordings.renditions import muted_rendition_request
from recordings.selectors import recordings_playable_by
from recordings.vault.keys import KeyDestroyedError, recording_key


class SensitiveSegmentForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "---------"), *SensitiveSegment.Kind.choices])
    start_seconds = forms.DecimalField(
        label="From second", min_value=0, max_value=MAX_SECONDS, help_text="Seconds from the call's start."
    )
    end_seconds = forms.DecimalField(
        label="To second",
        min_value=0,
        max_value=MAX_SECONDS,
        help_text="Kept to the millisecond, rounded outward: the muted range never falls short.",
    )


class SegmentRemovalForm(forms.Form):
    reason = forms.CharField(
        max_length=REMOVAL_REASON_MAX_LENGTH,
        strip=True,
        help_text="Why it was marked wrongly (10 to 500 characters): written to the access log.",
    )


class UnredactedPlaybackForm(forms.Form):
    reason = forms.CharField(
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why you need to hear the muted segments: a ticket, claim or case reference, never "
        "personal data. It is written to the access log with each request of the player.",
    )


def _no_store(response: TemplateResponse) -> TemplateResponse:
    response["Cache-Control"] = "no-store, private"
    return response


def recording_page_url(model_admin, name: str, recording: Recording) -> str:
    """The address of one of the recording's own admin pages (``RecordingAdmin.get_urls``)."""
    opts = model_admin.opts
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[recording.pk])


def segments_listed(recording: Recording):
    """The recording's segments as the segments table shows them (who marked each, and the
    redaction at rest that silenced it), in one query."""
    return recording.sensitive_segments.select_related("marked_by", "redacted_at_rest")


def sensitive_context(model_admin, request, recording: Recording, *, audio_url: str | None) -> dict:
    """The change page's context for the segments under its player, and the player itself: the
    audio address stays only where the segments can be muted (fail closed: no player at all,
    rather than one that plays the segments)."""
    segments = list(segments_listed(recording))
    context: dict = {
        "sensitive_segments": segments,
        "audio_url": audio_url,
        "at_rest_redactions": at_rest_redactions_shown(recording),
    }
    if request.user.has_perm(MARK_PERMISSION):
        context["mark_sensitive_url"] = recording_page_url(model_admin, "sensitive_segments", recording)
    if not (segments and audio_url):
        return context
    if request.user.has_perm(UNREDACTED_PERMISSION):
        context["unredacted_url"] = recording_page_url(model_admin, "unredacted", recording)
    try:
        key = recording_key(recording)
        plan = muting_plan(recording, key)
    except KeyDestroyedError:
        return context  # the audio endpoint answers 404; nothing to refuse here
    if not plan.requested:
        # Segments from before renditions existed: the first look at the page asks for it.
        muted_rendition_request(recording=recording, key=key)
    if plan.refusal:
        context["audio_url"] = None
        context["audio_refusal"] = plan.refusal
    return context


def at_rest_redactions_shown(recording: Recording) -> list[AtRestRedaction]:
    """The recording's redactions at rest as its page lists them, newest first, each segment's
    kind named (the snapshot keeps the value)."""
    redactions = list(recording.at_rest_redactions.exclude(status=AtRestRedaction.Status.CANCELLED)[:20])
    for redaction in redactions:
        for segment in redaction.segments:
            segment["kind_label"] = SensitiveSegment.Kind(segment["kind"]).label
    return redactions


def _visible_recording(object_id: int, queryset) -> Recording:
    recording = queryset.filter(pk=object_id).first()
    if recording is None:
        raise Http404
    return recording


def sensitive_segments_view(request, object_id, *, model_admin):
    """``<id>/sensitive-segments/``: the recording's segments and their history; a holder of
    ``mark_sensitive`` marks one (``sensitive_segment_mark``)."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    # Not found for whoever may not see the recording, exactly like its change page.
    recording = _visible_recording(object_id, model_admin.get_queryset(request))
    if not request.user.has_perm(MARK_PERMISSION):
        raise PermissionDenied
    form = SensitiveSegmentForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            segment = sensitive_segment_mark(
                recording=recording,
                start_seconds=form.cleaned_data["start_seconds"],
                end_seconds=form.cleaned_data["end_seconds"],
                kind=form.cleaned_data["kind"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            model_admin.message_user(
                request, f"Marked {segment}: muted for everyone without unredacted playback."
            )
            return HttpResponseRedirect(recording_page_url(model_admin, "sensitive_segments", recording))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": recording,
        "title": f"Sensitive segments of {recording.reference}",
        "form": form,
        "can_remove": request.user.has_perm(REMOVE_PERMISSION),
        "removal_form": SegmentRemovalForm(),
        "segments": segments_listed(recording),
        "history": SensitiveSegment.history.filter(recording_id=recording.pk)
        .select_related("history_user")
        .order_by("-history_date", "-history_id"),
    }
    admin_access_record(
        request,
        action=AccessAction.VIEW,
        object_type="recording",
        obj=recording,
        page="sensitive_segments",
    )
    return _no_store(TemplateResponse(request, "admin/recordings/recording/sensitive_segments.html", context))


def sensitive_segment_remove_view(request, object_id, segment_id, *, model_admin):
    """``<id>/sensitive-segments/<segment id>/remove/`` (POST): a DPO removes a segment marked
    wrongly, with a reason; back to the segments page, with what happened."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    recording = _visible_recording(object_id, model_admin.get_queryset(request))
    if not request.user.has_perm(REMOVE_PERMISSION):
        raise PermissionDenied
    # Only a segment of this recording: another recording's id is not found here.
    segment = recording.sensitive_segments.filter(pk=segment_id).first()
    if segment is None:
        raise Http404
    form = SegmentRemovalForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(list(form.errors["reason"]))
        sensitive_segment_remove(
            segment=segment,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            client_ip=client_ip(request),
        )
    except ValidationError as exc:
        model_admin.message_user(request, f"Not removed: {' '.join(exc.messages)}", level=messages.ERROR)
    else:
        if segment.redacted_at_rest_id is not None:
            said = "the stored audio stays silent there (silenced at rest)."
        else:
            said = "it is no longer muted."
        model_admin.message_user(request, f"Removed {segment}: {said}")
    return HttpResponseRedirect(recording_page_url(model_admin, "sensitive_segments", recording))


def unredacted_playback_view(request, object_id, *, model_admin):
    """``<id>/unredacted/``: a reason, then a player whose token is bound to the user, the
    recording and the reason."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    # Not found for whoever may not play the recording, exactly like its audio.
    recording = _visible_recording(object_id, recordings_playable_by(request.user))
    if not request.user.has_perm(UNREDACTED_PERMISSION):
        raise PermissionDenied
    form = UnredactedPlaybackForm(request.POST if request.method == "POST" else None)
    audio_url = token = None
    if form.is_bound and form.is_valid():
        token = playback_token(user=request.user, recording=recording)
        query = {
            "playback": token,
            "unredacted": unredacted_token(
                user=request.user, recording=recording, reason=form.cleaned_data["reason"]
            ),
        }
        audio_url = f"{reverse('recording-audio', args=[recording.pk])}?{urlencode(query)}"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": recording,
        "title": f"Unredacted playback of {recording.reference}",
        "form": form,
        "audio_url": audio_url,
        "playback_token": token,
        "heard_url": reverse("recording-heard", args=[recording.pk]),
        "valid_minutes": int(TOKEN_MAX_AGE.total_seconds() // 60),
        "segments": segments_listed(recording),
    }
    # The page lists the segments; the audio it then plays is logged request by request.
    admin_access_record(
        request,
        action=AccessAction.VIEW,
        object_type="recording",
        obj=recording,
        page="unredacted_player",
    )
    return _no_store(TemplateResponse(request, "admin/recordings/recording/unredacted.html", context))
