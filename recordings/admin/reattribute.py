"""``<id>/reattribute/``: the DPO re-attributes a call to another subject, chosen by reference.

Two steps on one page: the reference and the reason, then a preview of what moves (the subject,
the consents given in the call, open shares that may lose their ground) or the refusal; only the
confirmed second post calls ``recording_reattribute``. Not found for whoever may not see the
recording, forbidden for anyone who may see it but is not a DPO.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from compliance_site.audit.admin import admin_access_record
from compliance_site.audit.models import AccessAction
from recordings.models import DataSubject, Recording
from recordings.reattribution import (
    PERMISSION,
    REASON_MAX_LENGTH,
    REASON_MIN_LENGTH,
    reattribution_preview,
    recording_reattribute,
)


class ReattributeForm(forms.Form):
    reference = forms.CharField(
        label="New subject's reference",
        max_length=32,
        strip=True,
        help_text="The reference of the subject whose call this is, e.g. DS-1A2B3C4D5E.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "size": 20}),
    )
    reason = forms.CharField(
        min_length=REASON_MIN_LENGTH,
        max_length=REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why the call is someone else's: a ticket or request reference, never personal data. "
        "It is written to the access log.",
    )
    # Set by the preview's button: only a post that saw the preview changes anything.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_reference(self) -> DataSubject:
        reference = self.cleaned_data["reference"].upper()
        subject = DataSubject.objects.filter(reference=reference).first()
        if subject is None:
            raise ValidationError("No subject has this reference.")
        return subject


def reattribute_view(request, object_id, *, model_admin):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    recording = model_admin.get_queryset(request).select_related("subject").filter(pk=object_id).first()
    if recording is None:
        raise Http404
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = ReattributeForm(request.POST if request.method == "POST" else None)
    preview = None
    if form.is_bound and form.is_valid():
        new_subject = form.cleaned_data["reference"]
        preview = reattribution_preview(recording=recording, new_subject=new_subject)
        if preview.refusal:
            form.add_error("reference", preview.refusal)
            preview = None
        elif form.cleaned_data["confirmed"]:
            try:
                recording_reattribute(
                    recording=recording,
                    new_subject=new_subject,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except ValidationError as exc:
                # The rules are checked again under the locks: what changed since the preview.
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
                preview = None
            else:
                model_admin.message_user(
                    request,
                    f"{recording.reference} is now attributed to {new_subject.reference}; its key is "
                    "wrapped under their key and the consents given in the call moved with it.",
                )
                opts = model_admin.opts
                return HttpResponseRedirect(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[recording.pk])
                )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": recording,
        "title": f"Re-attribute {recording.reference} to another subject",
        "form": form,
        "preview": preview,
    }
    # The page names the subjects and, in the preview, the consents given in the call.
    admin_access_record(
        request,
        action=AccessAction.VIEW,
        object_type="recording",
        obj=recording,
        page="reattribute_preview" if preview is not None else "reattribute",
    )
    response = TemplateResponse(request, "admin/recordings/recording/reattribute.html", context)
    response["Cache-Control"] = "no-store, private"
    return response


def subject_context(model_admin, request, recording: Recording) -> dict:
    """The recording page's subject line: the reference, a link to the subject only for those who
    may open the subject's page, and the re-attribution page for a DPO."""
    subject_admin = model_admin.admin_site._registry.get(DataSubject)
    subject_url = None
    if (
        subject_admin is not None
        and subject_admin.has_view_or_change_permission(request, recording.subject)
        and subject_admin.get_queryset(request).filter(pk=recording.subject_id).exists()
    ):
        subject_url = reverse("admin:recordings_datasubject_change", args=[recording.subject_id])
    reattribute_url = None
    if request.user.has_perm(PERMISSION) and recording.status == Recording.Status.ACTIVE:
        opts = model_admin.opts
        reattribute_url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_reattribute", args=[recording.pk]
        )
    return {
        "subject_reference": recording.subject.reference,
        "subject_url": subject_url,
        "reattribute_url": reattribute_url,
    }
