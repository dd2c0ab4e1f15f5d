"""The request page's workflow buttons: one small form per step, each calling one service.

Every step shows what it will do before it does it (the right's preview before completion and
approval), and a refused step keeps the form with the service's message. ``job_state_view`` is
the small JSON endpoint the request page polls while a worker carries the request out
(``custos/request-jobs.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from compliance_site.models import User
from compliance_site.roles import DPO, PRIVACY_ANALYST
from dsr.admin_extend import ExtendForm, extension_allowed
from dsr.deadlines import local_date
from dsr.jobs import request_job_latest, request_job_retry, request_job_state
from dsr.models import DataSubjectRequest, RequestJob, RequestType
from dsr.response_delivery import (
    notice_record_posted,
    notice_send_email,
    notices_unsent,
    response_record_posted,
    response_send_email,
    send_refusal,
    subject_has_email,
)
from dsr.restriction import lift_refusal, request_restriction_lift, restriction_of
from dsr.rights import Preview, RightInput, right_preview
from dsr.stages import PACKAGE_TYPES
from dsr.workflow import (
    approval_refusal,
    completion_refusal,
    needs_approval,
    request_approve,
    request_assign,
    request_complete,
    request_extend,
    request_identity_ask,
    request_identity_verify,
    request_match,
    request_refuse,
    request_send_back,
    request_send_for_approval,
    request_withdraw,
)
from recordings.models import Consent, RestrictionGround
from recordings.selectors import subject_matching
from recordings.vault.keys import PersonalData

Status = DataSubjectRequest.Status


class MatchForm(forms.Form):
    reference = forms.CharField(required=False, label="Subject reference")
    phone = forms.CharField(required=False)
    email = forms.CharField(required=False)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            return data  # a field already refused its value (e.g. a NUL character): nothing to match
        if not any(data.get(name) for name in ("reference", "phone", "email")):
            raise ValidationError("Give a reference, a phone number or an email.")
        try:
            subjects = list(
                subject_matching(reference=data["reference"], phone=data["phone"], email=data["email"])[:2]
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        if not subjects:
            raise ValidationError("No subject matches.")
        if len(subjects) > 1:
            raise ValidationError("Several subjects match; narrow it down (the reference is unique).")
        data["subject"] = subjects[0]
        return data


# Every select of a step starts on this empty, required choice: no state-changing step has a
# default a careless click could submit.
CHOOSE = ("", "— choose —")


class VerifyForm(forms.Form):
    method = forms.ChoiceField(choices=[CHOOSE, *DataSubjectRequest.IdentityMethod.choices])
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Evidence")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, groups__name__in=[DPO, PRIVACY_ANALYST])
        .distinct()
        .order_by("username"),
        empty_label=CHOOSE[1],
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Note for the record"
    )


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label="I have read what this step does and want it done.")


class RefuseForm(forms.Form):
    refusal_ground = forms.ChoiceField(
        choices=[CHOOSE, *DataSubjectRequest.RefusalGround.choices],
        label="Ground of the refusal",
        help_text="Quoted in the refusal letter to the subject.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Note for the record"
    )
    confirm = forms.BooleanField(label="Refuse this request: it closes, and the refusal letter is written.")


class WithdrawForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="How the subject withdrew it",
        help_text="e.g. “phone call of 3 May, the subject no longer wants the copy”.",
    )
    confirm = forms.BooleanField(label="The subject withdrew this request: close it, nothing is carried out.")


class SendForm(forms.Form):
    """How the response reaches the subject; no default (an email goes to a real person)."""

    EMAIL, POST = "email", "post"
    channel = forms.ChoiceField(label="How")
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="For a letter by post: how and when",
        help_text="e.g. “registered letter, posted 4 May”.",
    )

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [CHOOSE]
        if subject_has_email(dsr):
            choices.append((self.EMAIL, "Email it to the subject's address on file"))
        choices.append((self.POST, "I sent it by post"))
        cast(forms.ChoiceField, self.fields["channel"]).choices = choices

    def clean(self):
        data = super().clean() or {}
        if data.get("channel") == self.POST and not (data.get("note") or "").strip():
            self.add_error("note", "Say how and when it was posted.")
        return data


class NoticeForm(SendForm):
    """Which notice (extension, restriction lifted) goes to the subject, and how; no defaults."""

    letter = forms.TypedChoiceField(label="Notice", coerce=int)

    field_order = ("letter", "channel", "note")

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, dsr=dsr, **kwargs)
        notices = [
            (n.pk, f"{n.get_kind_display()} of {timezone.localtime(n.created_at):%Y-%m-%d %H:%M}")
            for n in notices_unsent(dsr)
        ]
        cast(forms.TypedChoiceField, self.fields["letter"]).choices = [CHOOSE, *notices]


class ConsentChoiceField(forms.ModelMultipleChoiceField):
    """The subject's active consents, each named so the DPO can tell them apart: the purpose, the
    call it was given in (or all calls) and when, never a database id nor personal data."""

    def label_from_instance(self, obj: Consent) -> str:
        scope = f"call {obj.recording.reference}" if obj.recording is not None else "all calls"
        given = f"{timezone.localtime(obj.captured_at):%Y-%m-%d}"
        return f"{obj.purpose.name} · {scope} · given {given} ({obj.get_method_display()})"


class CompleteForm(forms.Form):
    """Extra input some rights need; empty for the others."""

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.dsr = dsr
        kind = dsr.request_type
        if kind == RequestType.CONSENT_WITHDRAWAL and dsr.subject_id:
            self.fields["consents"] = ConsentChoiceField(
                queryset=Consent.objects.filter(
                    subject=dsr.subject_id, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
                ).select_related("purpose", "recording"),
                widget=forms.CheckboxSelectMultiple,
                label="Consents to withdraw",
            )
        if kind == RequestType.RESTRICTION:
            self.fields["restriction_ground"] = forms.ChoiceField(
                choices=[CHOOSE, *RestrictionGround.choices],
                label="Ground of the restriction",
                help_text="Which case of Art. 18(1) the subject is in.",
            )
        if kind == RequestType.OBJECTION:
            self.fields["compelling_grounds"] = forms.CharField(
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text="Leave empty to uphold the objection; fill in to overrule it (Art. 21(1)).",
            )
        if kind == RequestType.RECTIFICATION:
            # The bounds of every other way in (the subject's form, the intake API): a corrected
            # value is sealed, indexed, and printed in letters like the original.
            self.fields["full_name"] = forms.CharField(required=False, max_length=200)
            self.fields["phone"] = forms.CharField(required=False, max_length=40)
            self.fields["email"] = forms.CharField(required=False, max_length=254)

    def right_input(self) -> RightInput:
        data = self.cleaned_data
        kind = self.dsr.request_type
        if kind == RequestType.CONSENT_WITHDRAWAL:
            return RightInput(consent_ids=tuple(c.pk for c in data["consents"]))
        if kind == RequestType.RESTRICTION:
            return RightInput(restriction_ground=data["restriction_ground"])
        if kind == RequestType.OBJECTION:
            return RightInput(compelling_grounds=data.get("compelling_grounds", ""))
        if kind == RequestType.RECTIFICATION:
            return RightInput(
                personal=PersonalData(
                    full_name=data.get("full_name", ""),
                    phone=data.get("phone", ""),
                    email=data.get("email", ""),
                )
            )
        return RightInput()


class ApproveForm(forms.Form):
    confirm = forms.BooleanField(label="I have checked the preview and approve this erasure.")


class LiftForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Why the restriction ends",
        help_text="Quoted in the notice letter to the subject (Art. 18(3)), e.g. “the accuracy of "
        "the data was verified”.",
    )


class RetryForm(forms.Form):
    confirm = forms.BooleanField(label="Run the failed job again.")


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    form: type[forms.Form]
    permission: str  # a model permission the user needs besides seeing the request
    destructive: bool = False
    danger: bool = False  # ends the request without carrying it out: shown apart, in red

    def run(self, dsr: DataSubjectRequest, form: forms.Form, actor) -> None:
        data = form.cleaned_data
        if self.name == "match":
            request_match(dsr=dsr, subject=data["subject"], actor=actor)
        elif self.name == "verify":
            request_identity_verify(dsr=dsr, method=data["method"], note=data["note"], actor=actor)
        elif self.name == "identity":
            request_identity_ask(dsr=dsr, actor=actor, note=data["note"])
        elif self.name == "assign":
            request_assign(dsr=dsr, assignee=data["assignee"], actor=actor)
        elif self.name == "extend":
            request_extend(dsr=dsr, until=data["until"], reason=data["reason"], actor=actor)
        elif self.name == "prepare":
            request_send_for_approval(dsr=dsr, actor=actor)
        elif self.name in ("complete", "build"):
            if not isinstance(form, CompleteForm):
                raise TypeError("The complete step takes a CompleteForm.")
            request_complete(dsr=dsr, actor=actor, given=form.right_input())
        elif self.name == "approve":
            request_approve(dsr=dsr, actor=actor)
        elif self.name == "send":
            if data["channel"] == SendForm.EMAIL:
                response_send_email(dsr=dsr, actor=actor)
            else:
                response_record_posted(dsr=dsr, note=data["note"], actor=actor)
        elif self.name == "notice":
            if data["channel"] == SendForm.EMAIL:
                notice_send_email(dsr=dsr, letter_id=data["letter"], actor=actor)
            else:
                notice_record_posted(dsr=dsr, letter_id=data["letter"], note=data["note"], actor=actor)
        elif self.name == "send_back":
            request_send_back(dsr=dsr, actor=actor, note=data["note"])
        elif self.name == "retry":
            request_job_retry(dsr=dsr, actor=actor)
        elif self.name == "refuse":
            request_refuse(dsr=dsr, ground=data["refusal_ground"], note=data["note"], actor=actor)
        elif self.name == "withdraw":
            request_withdraw(dsr=dsr, note=data["note"], actor=actor)
        elif self.name == "lift":
            request_restriction_lift(dsr=dsr, actor=actor, reason=data["reason"])


CHANGE, ADD = "dsr.change_datasubjectrequest", "dsr.add_datasubjectrequest"
STEPS = {
    step.name: step
    for step in (
        Step("match", "Match the requester to a subject", MatchForm, "dsr.match_request"),
        Step("verify", "Record the identity verification", VerifyForm, CHANGE),
        Step("identity", "Ask for proof of identity", NoteForm, CHANGE),
        Step("assign", "Assign the request", AssignForm, ADD),
        Step("extend", "Extend the deadline (Art. 12(3))", ExtendForm, CHANGE),
        Step("prepare", "Send for approval (four eyes)", ConfirmForm, CHANGE),
        Step("approve", "Approve the erasure (second DPO)", ApproveForm, ADD, True),
        Step("build", "Build the package", CompleteForm, CHANGE),
        Step("complete", "Carry out the request", CompleteForm, CHANGE, True),
        Step("send", "Send the response", SendForm, CHANGE),
        Step("notice", "Send a notice to the subject", NoticeForm, CHANGE),
        Step("send_back", "Send back to in progress", NoteForm, CHANGE),
        Step("retry", "Retry the failed job", RetryForm, ADD),
        Step("refuse", "Refuse the request", RefuseForm, CHANGE, True, danger=True),
        Step("withdraw", "Record the subject's withdrawal", WithdrawForm, CHANGE, True, danger=True),
        Step("lift", "Lift the restriction (Art. 18(3))", LiftForm, "recordings.lift_restriction", True),
    )
}
# The forms built for one request (their choices depend on it).
_FORMS_WITH_REQUEST = (CompleteForm, SendForm, NoticeForm, ExtendForm)


def _main_step(dsr: DataSubjectRequest, user) -> list[str]:
    """The step that moves the request to its next stage (dsr.stages), if it can be taken now."""
    if dsr.status == Status.IN_PROGRESS:
        if needs_approval(dsr):
            ready = dsr.subject_id is not None and dsr.identity_verified_at is not None
            return ["prepare"] if ready else []
        if completion_refusal(dsr) is None:
            return ["build"] if dsr.request_type in PACKAGE_TYPES else ["complete"]
        return []
    if dsr.status == Status.AWAITING_APPROVAL:
        # Four eyes: approval is offered to a second DPO only, never to the preparer.
        return ["approve", "send_back"] if approval_refusal(dsr, user) is None else ["send_back"]
    if dsr.status == Status.READY_TO_SEND:
        return ["send"]
    return []


def steps_available(dsr: DataSubjectRequest, user) -> list[Step]:
    """The buttons to show on the request's page: the valid next steps in working order, then the
    deadline, then the two that end a request without carrying it out."""
    if not dsr.is_open:
        # A closed request keeps sending its response until it went, and a completed restriction
        # request keeps one step: lifting its restriction (a DPO's).
        names = ["send"] if send_refusal(dsr) is None else []
        if lift_refusal(dsr, user) is None:
            names.append("lift")
        if notices_unsent(dsr):
            names.append("notice")
        return [STEPS[name] for name in names if user.has_perm(STEPS[name].permission)]
    if dsr.status == Status.EXECUTING:
        # Carried out on a worker: nothing to do but wait, or, once its job failed, retry it
        # (a DPO's call), send the request back, refuse it or record its withdrawal.
        job = request_job_latest(dsr)
        names = ["assign", "extend"]
        if job is not None and not job.is_active:
            names = ["retry", "send_back", *names, "refuse", "withdraw"]
    elif dsr.status == Status.READY_TO_SEND:
        # The package is built for this subject: no re-match, no refusal; the subject may withdraw.
        names = ["send", "assign", "extend", "withdraw"]
    else:
        names = ["match"]
        if dsr.identity_verified_at is None:
            names.append("verify")
            if dsr.status == Status.NEW:
                names.append("identity")
        names += ["assign", *_main_step(dsr, user), "extend", "refuse", "withdraw"]
    if not extension_allowed(dsr, local_date(timezone.now())):
        names = [name for name in names if name != "extend"]
    if notices_unsent(dsr):
        names.append("notice")  # the extension notice must reach the subject too (Art. 12(3))
    return [STEPS[name] for name in names if user.has_perm(STEPS[name].permission)]


def _visible_or_404(model_admin, request, object_id: str) -> DataSubjectRequest:
    """The request as the request page finds it: the admin's own ``get_object`` over its queryset
    (``requests_visible_to``), which reads an id that is not a number as "no such request" (a
    404), not as a crash."""
    dsr = model_admin.get_object(request, object_id)
    if dsr is None:
        raise Http404("No such request.")
    return dsr


def step_view(model_admin, request, object_id: str, step_name: str):
    """GET: the step's form (with the right's preview where it acts on data). POST: run it."""
    step = STEPS.get(step_name)
    if step is None:
        raise Http404("No such step.")
    # Existence is not revealed: a request the user may not see is a 404 whatever the step.
    dsr = _visible_or_404(model_admin, request, object_id)
    if not request.user.has_perm(step.permission):
        raise PermissionDenied
    kwargs: dict[str, Any] = {}
    if step.form in _FORMS_WITH_REQUEST:
        kwargs["dsr"] = dsr
    form = step.form(request.POST if request.method == "POST" else None, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            step.run(dsr, form, request.user)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            dsr.refresh_from_db(fields=["status"])
            if dsr.status == Status.EXECUTING:
                # The web request does not wait for the long work: say where to watch it.
                done = "recorded; a worker carries it out now, and this page shows its progress."
            else:
                done = "done."
            model_admin.message_user(request, f"{dsr.reference}: {step.title.lower()} — {done}")
            return HttpResponseRedirect(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk]))
    preview = step_preview(dsr, step.name)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": dsr,
        "title": f"{step.title}: {dsr.reference}",
        "step": step,
        "form": form,
        "preview": preview,
    }
    if preview and preview.destructive:
        messages.warning(request, "This cannot be undone. Read the preview before you confirm.")
    return TemplateResponse(request, "admin/dsr/datasubjectrequest/step.html", context)


def step_preview(dsr: DataSubjectRequest, name: str) -> Preview | None:
    """What the step will do, shown above its form."""
    if name == "build":
        return package_preview(dsr)
    if name in ("complete", "approve", "prepare"):
        return right_preview(dsr)
    if name == "lift":
        return lift_preview(dsr)
    if name == "send":
        return send_preview(dsr)
    if name == "refuse":
        return Preview(
            lines=[
                "The request is refused and closed: nothing is carried out.",
                "The refusal letter, with the ground you choose, is written; send it with “Send the "
                "response”. The subject may complain to the supervisory authority.",
            ],
            destructive=True,
        )
    if name == "withdraw":
        return Preview(
            lines=[
                "Only when the subject withdrew the request themselves: it is closed and nothing is "
                "carried out. Your note records how they said so."
            ],
            destructive=True,
        )
    return None


def package_preview(dsr: DataSubjectRequest) -> Preview:
    """What the access or portability package will hold, read from the rows the build reads."""
    from recordings.models import Objection, Recording

    subject = dsr.subject
    if subject is None:
        return Preview(lines=["Match the request to a subject first."])
    recordings = list(Recording.objects.filter(subject=subject).order_by("started_at", "pk"))
    shown = ", ".join(f"{r.reference} ({timezone.localtime(r.started_at):%Y-%m-%d})" for r in recordings[:20])
    more = f" and {len(recordings) - 20} more" if len(recordings) > 20 else ""
    lines = [
        "The subject's name, phone number and email as held (decrypted into the package).",
        f"{len(recordings)} recording(s) with their details and the audio still stored"
        + (f": {shown}{more}." if recordings else "."),
        f"{Consent.objects.filter(subject=subject).count()} consent record(s) and "
        f"{Objection.objects.filter(subject=subject).count()} objection(s).",
    ]
    if dsr.request_type == RequestType.ACCESS:
        lines.append(
            "The Art. 15 information: purposes, recipients, retention, source, transfers, your rights "
            "and how to complain; and a readable summary."
        )
    else:
        lines.append("What the subject provided, as machine-readable JSON (Art. 20), with the audio.")
    lines.append(
        "A worker builds and encrypts the archive; the request is then ready to send, and completes "
        "when the package reaches the subject."
    )
    return Preview(lines=lines)


def send_preview(dsr: DataSubjectRequest) -> Preview:
    from dsr.stages import outcome_letter

    letter = outcome_letter(dsr)
    if letter is None:
        return Preview(lines=["There is no response letter to send yet."])
    lines = [f"The response letter “{letter.subject_line}” ({letter.get_language_display()})."]
    package = dsr.packages.filter(purged_at__isnull=True).order_by("-created_at", "-pk").first()
    if dsr.request_type in PACKAGE_TYPES and package is not None:
        lines.append(
            f"By email it carries the subject's own download link to {package.name}, valid until "
            f"{timezone.localtime(package.expires_at):%Y-%m-%d}; their download is logged."
        )
    lines.append(
        "By email, the subject's address on file is decrypted only to send it (logged); sent by post, "
        "say how and when."
    )
    if dsr.status == Status.READY_TO_SEND:
        lines.append("The request completes when the response is delivered: the deadline counts to then.")
    return Preview(lines=lines)


def lift_preview(dsr: DataSubjectRequest) -> Preview | None:
    restriction = restriction_of(dsr)
    if restriction is None:
        return None
    restricted = restriction.recordings.filter(status="restricted").count()
    return Preview(
        lines=[
            f"The restriction placed under {restriction.request_reference} on "
            f"{timezone.localtime(restriction.placed_at):%Y-%m-%d} ends now.",
            "The notice letter to the subject is written first (Art. 18(3)), with your reason.",
            f"Up to {restricted} recording(s) become active again and their retention is computed anew: "
            "what is past it is deleted by the next sweep. Recordings restricted by an erasure that "
            "a legal hold deferred stay restricted.",
        ],
        destructive=True,
    )


def job_state_view(model_admin, request, object_id: str) -> JsonResponse:
    """The request's latest job as JSON, for the request page's poller. The request page's rule:
    a request the user may not see is a 404, as is one without a job."""
    dsr = _visible_or_404(model_admin, request, object_id)
    job = request_job_latest(dsr)
    if job is None:
        raise Http404("No job.")
    return JsonResponse(request_job_state(job))  # admin_view adds never_cache's no-store


def job_display(dsr: DataSubjectRequest) -> tuple[RequestJob | None, str]:
    """The request's latest job and its one-line summary (empty without a job)."""
    from dsr.jobs import request_job_summary

    job = request_job_latest(dsr)
    return job, request_job_summary(job) if job is not None else ""
