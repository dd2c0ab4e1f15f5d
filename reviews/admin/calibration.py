"""Calibration sessions in the admin: the list, a page to create one, and a session's page.

A session's page shows what ``evaluations_visible_to`` lets the viewer read: a participant's own
evaluation until every participant has submitted, then each participant's answers side by side
with the spread per question and overall, and the agreed score (recorded by the DPO or the
session's creator). Every list and page shown is an access event (object type "calibration").
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.audit.admin import admin_access_record
from compliance_site.audit.models import AccessAction
from recordings.models import Recording
from reviews.calibration import (
    MAX_PARTICIPANTS,
    NOTE_MAX_LENGTH,
    calibration_agree,
    calibration_candidates,
    calibration_comparison,
    calibration_create,
    calibration_evaluations_for,
    calibration_sessions_visible_to,
    may_agree,
    may_create_calibration,
    recordings_open_to_creator,
)
from reviews.models import CalibrationSession, EvaluationStatus, ScorecardVersion, VersionStatus

OBJECT_TYPE = "calibration"


class CalibrationCreateForm(forms.Form):
    recording = forms.CharField(
        label="Recording reference",
        max_length=40,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "size": 20}),
        help_text="A call every participant may evaluate now, e.g. REC-000123.",
    )
    scorecard_version = forms.ModelChoiceField(
        queryset=ScorecardVersion.objects.none(), label="Scorecard version"
    )
    participants = forms.ModelMultipleChoiceField(
        queryset=calibration_candidates().none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=f"2 to {MAX_PARTICIPANTS} QA leads; each scores the call blind.",
    )

    def __init__(self, *args, creator, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.creator = creator
        published = ScorecardVersion.objects.filter(status=VersionStatus.PUBLISHED)
        self.fields["scorecard_version"].queryset = published.select_related("scorecard")  # type: ignore[attr-defined]
        self.fields["participants"].queryset = calibration_candidates()  # type: ignore[attr-defined]

    def clean_recording(self):
        reference = self.cleaned_data["recording"].upper()
        # The same answer for a call that does not exist and one the creator may not evaluate.
        recording = recordings_open_to_creator(self.creator).filter(reference=reference).first()
        if recording is None:
            raise ValidationError("No recording you may evaluate has this reference.")
        return recording


class AgreeForm(forms.Form):
    agreed_score = forms.DecimalField(min_value=0, max_value=100, max_digits=5, decimal_places=2)
    note = forms.CharField(
        required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3, "cols": 80})
    )


def _errors_onto(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def _evaluation_url(evaluation_id: int) -> str | None:
    """The evaluation's own page, where the evaluations app has one."""
    try:
        return reverse("admin:reviews_evaluation_change", args=[evaluation_id])
    except NoReverseMatch:
        return None


@admin.register(CalibrationSession)
class CalibrationSessionAdmin(ScopedHistoryAdmin):
    list_display = (
        "__str__",
        "recording_reference",
        "scorecard_version",
        "created_by",
        "created_at",
        "submitted",
        "revealed_at",
        "agreed_score",
    )
    list_select_related = ("recording", "scorecard_version__scorecard", "created_by")
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            calibration_sessions_visible_to(request.user)
            .select_related(*self.list_select_related)
            .annotate(
                participant_count=Count("participants", distinct=True),
                submitted_count=Count(
                    "evaluations", filter=~Q(evaluations__status=EvaluationStatus.DRAFT), distinct=True
                ),
            )
        )

    @admin.display(description="recording")
    def recording_reference(self, obj: CalibrationSession) -> str:
        return obj.recording.reference if obj.recording is not None else "— (detached)"

    @admin.display(description="submitted")
    def submitted(self, obj) -> str:
        return f"{obj.submitted_count} of {obj.participant_count}"

    def has_view_permission(self, request, obj=None) -> bool:
        if not request.user.has_perm("reviews.view_calibrationsession"):
            return False
        return obj is None or calibration_sessions_visible_to(request.user).filter(pk=obj.pk).exists()

    def has_add_permission(self, request) -> bool:
        return may_create_calibration(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a session changes only through its page's steps (the agreed score)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        cl = context.get("cl") if context is not None else None
        if cl is not None:
            ids = [row.pk for row in cl.result_list]
            admin_access_record(
                request,
                action=AccessAction.LIST,
                object_type=OBJECT_TYPE,
                page="calibrations",
                detail={"ids": ids},
            )
        return response

    def add_view(self, request, form_url="", extra_context=None):
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"recording": request.GET.get("recording", "")[:40]}
        data = request.POST if request.method == "POST" else None
        form = CalibrationCreateForm(data, initial=initial, creator=request.user)
        if form.is_bound and form.is_valid():
            try:
                session = calibration_create(
                    recording=form.cleaned_data["recording"],
                    scorecard_version=form.cleaned_data["scorecard_version"],
                    participants=form.cleaned_data["participants"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _errors_onto(form, exc)
            else:
                self.message_user(
                    request, f"{session} created: each participant has a draft evaluation to score blind."
                )
                return HttpResponseRedirect(
                    reverse("admin:reviews_calibrationsession_change", args=[session.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New calibration session",
            "form": form,
        }
        return TemplateResponse(request, "reviews/calibration_create.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        session = None
        # A key the database can hold (a bigint): anything else is no session, never an error.
        if str(object_id).isdigit() and len(str(object_id)) <= 18:
            session = self.get_queryset(request).filter(pk=int(object_id)).first()
        if session is None:
            raise Http404
        evaluations = calibration_evaluations_for(request.user, session)
        participants = list(session.participants.order_by("username"))
        submitted = set(
            session.evaluations.exclude(status=EvaluationStatus.DRAFT).values_list("evaluator_id", flat=True)
        )
        agree_form = None
        if session.revealed_at is not None and may_agree(request.user, session):
            initial = {"agreed_score": session.agreed_score, "note": session.note}
            agree_form = AgreeForm(request.POST if request.method == "POST" else None, initial=initial)
            if agree_form.is_bound and agree_form.is_valid():
                try:
                    calibration_agree(session=session, actor=request.user, **agree_form.cleaned_data)
                except ValidationError as exc:
                    _errors_onto(agree_form, exc)
                else:
                    self.message_user(request, "The agreed score is recorded.")
                    return HttpResponseRedirect(request.path)
        elif request.method == "POST":
            raise PermissionDenied
        # Side by side only once revealed and only when the viewer may read every participant's.
        complete = session.revealed_at is not None and len(evaluations) == len(participants)
        comparison = calibration_comparison(session, evaluations) if complete else None
        own = [e for e in evaluations if e.evaluator_id == request.user.pk]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": session,
            "title": str(session),
            "session": session,
            "participants": [
                {"user": p, "submitted": p.pk in submitted, "is_you": p.pk == request.user.pk}
                for p in participants
            ],
            "own": [{"evaluation": e, "url": _evaluation_url(e.pk)} for e in own],
            "comparison": comparison,
            "columns": [{"evaluation": e, "url": _evaluation_url(e.pk)} for e in evaluations],
            "hidden": session.revealed_at is not None and not complete,
            "agree_form": agree_form,
            "recording_url": _recording_url(self, request, session),
        }
        admin_access_record(
            request,
            action=AccessAction.VIEW,
            object_type=OBJECT_TYPE,
            obj=session,
            page="calibration",
            detail={"evaluations": [e.pk for e in evaluations]},
        )
        response = TemplateResponse(request, "reviews/calibration_detail.html", context)
        response["Cache-Control"] = "no-store, private"
        return response


def _recording_url(model_admin, request, session: CalibrationSession) -> str | None:
    """A link to the call's page for a viewer who may open it."""
    recording_admin = model_admin.admin_site._registry.get(Recording)
    if session.recording_id is None or recording_admin is None:
        return None
    if not recording_admin.get_queryset(request).filter(pk=session.recording_id).exists():
        return None
    return reverse("admin:recordings_recording_change", args=[session.recording_id])
