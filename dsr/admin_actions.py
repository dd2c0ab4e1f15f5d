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
from dsr.restriction import lift_refusal, request_restriction_lift, restriction_of
from dsr.rights import Preview, RightInput, right_preview
from dsr.workflow import (
    TRANSITIONS,
    approval_refusal,
    completion_refusal,
    needs_approval,
    request_approve,
    request_assign,
    request_complete,
    request_extend,
    request_identity_verify,
    request_match,
    request_transition,
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


class VerifyForm(forms.Form):
    method = forms.ChoiceField(choices=DataSubjectRequest.IdentityMethod.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Evidence")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, groups__name__in=[DPO, PRIVACY_ANALYST])
        .distinct()
        .order_by("username")
    )


class TransitionForm(forms.Form):
    to = forms.ChoiceField(label="New status")
    refusal_ground = forms.ChoiceField(
        choices=[("", "—"), *DataSubjectRequest.RefusalGround.choices], required=False
    )
    outcome = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Note for the record"
    )

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = [s for s in TRANSITIONS[dsr.status] if s != Status.COMPLETED]
        if not needs_approval(dsr):
            allowed = [s for s in allowed if s != Status.AWAITING_APPROVAL]
        cast(forms.ChoiceField, self.fields["to"]).choices = [(s, Status(s).label) for s in allowed]


class CompleteForm(forms.Form):
    """Extra input some rights need; empty for the others."""

    def __init__(self, *args, dsr: DataSubjectRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.dsr = dsr
        kind = dsr.request_type
        if kind == RequestType.CONSENT_WITHDRAWAL and dsr.subject_id:
            self.fields["consents"] = forms.ModelMultipleChoiceField(
                queryset=Consent.objects.filter(
                    subject=dsr.subject_id, decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
                ).select_related("purpose"),
                widget=forms.CheckboxSelectMultiple,
                label="Consents to withdraw",
            )
        if kind == RequestType.RESTRICTION:
            self.fields["restriction_ground"] = forms.ChoiceField(
                choices=[("", "—"), *RestrictionGround.choices],
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
            self.fields["full_name"] = forms.CharField(required=False)
            self.fields["phone"] = forms.CharField(required=False)
            self.fields["email"] = forms.CharField(required=False)

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

    def run(self, dsr: DataSubjectRequest, form: forms.Form, actor) -> None:
        data = form.cleaned_data
        if self.name == "match":
            request_match(dsr=dsr, subject=data["subject"], actor=actor)
        elif self.name == "verify":
            request_identity_verify(dsr=dsr, method=data["method"], note=data["note"], actor=actor)
        elif self.name == "assign":
            request_assign(dsr=dsr, assignee=data["assignee"], actor=actor)
        elif self.name == "extend":
            request_extend(dsr=dsr, until=data["until"], reason=data["reason"], actor=actor)
        elif self.name == "transition":
            request_transition(
                dsr=dsr,
                to=data["to"],
                actor=actor,
                outcome=data["outcome"],
                refusal_ground=data["refusal_ground"],
            )
        elif self.name == "complete":
            if not isinstance(form, CompleteForm):
                raise TypeError("The complete step takes a CompleteForm.")
            request_complete(dsr=dsr, actor=actor, given=form.right_input())
        elif self.name == "approve":
            request_approve(dsr=dsr, actor=actor)
        elif self.name == "retry":
            request_job_retry(dsr=dsr, actor=actor)
        elif self.name == "lift":
            request_restriction_lift(dsr=dsr, actor=actor, reason=data["reason"])


STEPS = {
    step.name: step
    for step in (
        Step("match", "Match the requester to a subject", MatchForm, "dsr.match_request"),
        Step("verify", "Record the identity verification", VerifyForm, "dsr.change_datasubjectrequest"),
        Step("assign", "Assign the request", AssignForm, "dsr.add_datasubjectrequest"),
        Step("extend", "Extend the deadline (Art. 12(3))", ExtendForm, "dsr.change_datasubjectrequest"),
        Step("transition", "Change the status", TransitionForm, "dsr.change_datasubjectrequest"),
        Step("complete", "Carry out the request", CompleteForm, "dsr.change_datasubjectrequest", True),
        Step("approve", "Approve the erasure (second DPO)", ApproveForm, "dsr.add_datasubjectrequest", True),
        Step("retry", "Retry the failed job", RetryForm, "dsr.add_datasubjectrequest"),
        Step("lift", "Lift the restriction (Art. 18(3))", LiftForm, "recordings.lift_restriction", True),
    )
}


def steps_available(dsr: DataSubjectRequest, user) -> list[Step]:
    """The buttons to show on the request's page, in working order."""
    if not dsr.is_open:
        # A completed restriction request keeps one step: lifting its restriction (a DPO's).
        if lift_refusal(dsr, user) is None and user.has_perm(STEPS["lift"].permission):
            return [STEPS["lift"]]
        return []
    names = ["match", "verify"] if dsr.identity_verified_at is None else ["match"]
    names += ["assign", "extend", "transition"]
    if dsr.status == Status.EXECUTING:
        # Carried out on a worker: nothing to do but wait, or retry a failed job (a DPO's call).
        job = request_job_latest(dsr)
        if job is None or job.is_active:
            names = ["assign", "extend"]  # the rest is refused while the job may still run
        else:
            names.append("retry")
    elif approval_refusal(dsr, user) is None:  # four eyes: offered to the second DPO only
        names.append("approve")
    elif completion_refusal(dsr) is None:
        names.append("complete")
    if not extension_allowed(dsr, local_date(timezone.now())):
        names = [name for name in names if name != "extend"]
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
    if step.form in (TransitionForm, CompleteForm, ExtendForm):
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
    preview = right_preview(dsr) if step.name in ("complete", "approve") else None
    if step.name == "lift":
        preview = lift_preview(dsr)
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
