"""The QA lead's evaluations in the admin: the list of those the user may read, the evaluation
page (player, scorecard form, comments on the call's timeline, the team lead's answer) and the
page that starts one from a recording. Every write is a ``reviews.services`` call."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.bad_requests import ClearBadRequest
from compliance_site.client_address import client_ip
from compliance_site.display import local_minutes, user_display
from compliance_site.pagination import SizeScopedCountAdminMixin
from compliance_site.roles import is_dpo
from recordings.admin.recording import RecordingAdmin, audio_unavailable_reason
from recordings.admin.sensitive import sensitive_context
from recordings.models import Queue, Recording
from recordings.playback.sessions import playback_token
from recordings.selectors import queues_visible_to, recordings_playable_by
from reviews.models import (
    AgentSupervision,
    AnswerType,
    Evaluation,
    EvaluationStatus,
    Scorecard,
    ScorecardQuestion,
    ScorecardVersion,
    TimelineComment,
)
from reviews.scoring import NA, NO, YES
from reviews.selectors import (
    evaluations_visible_to,
    recordings_evaluable_by,
    recordings_usable_for_quality_now,
)
from reviews.services import (
    COMMENT_MAX_CHARS,
    DISPUTE_REASON_MAX_CHARS,
    comment_add,
    comment_delete,
    evaluation_acknowledge,
    evaluation_answers_save,
    evaluation_dispute,
    evaluation_rescore,
    evaluation_start,
    evaluation_submit,
    evaluation_view_record,
    scorecard_versions_for,
)

# An answer's field names on the page: q-<question id> (value), t-<question id> (text).
_ANSWER_FIELD = re.compile(r"([qt])-(.*)")
_QUESTION_ID = re.compile(r"[0-9]{1,9}")
_POSITION = re.compile(r"[0-9]{1,9}")


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _timecode(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class _VisibleChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices leak nothing; any other value is refused the same way (400)."""

    def choices_for(self, request) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return self.choices_for(request)

    def queryset(self, request, queryset):
        chosen = self.value()
        if not chosen:
            return queryset
        if chosen not in {value for value, _ in self.lookup_choices}:
            raise ClearBadRequest(f"Unknown {self.title} in the list's filter: choose one the list offers.")
        return self.filtered(queryset, int(chosen))

    def filtered(self, queryset, pk: int):
        raise NotImplementedError


class EvaluationQueueFilter(_VisibleChoicesFilter):
    """Every queue for readers of all evaluations; for a QA lead, the queues they may review, as
    the recordings list offers them. Found without reading an evaluation: a semi-join over the
    lead's visible evaluations grew with the table (docs/PERFORMANCE.md, QA reviews)."""

    title = "queue"
    parameter_name = "queue"

    def choices_for(self, request):
        user = request.user
        if user.has_perm("reviews.view_all_evaluations"):
            queues = Queue.objects.all()
        else:
            queues = queues_visible_to(user)
        return [(str(q.pk), q.name) for q in queues.order_by("name")]

    def filtered(self, queryset, pk):
        return queryset.filter(queue_id=pk)


class EvaluationScorecardFilter(_VisibleChoicesFilter):
    """The scorecards, which every evaluator may read anyway (``view_scorecard``)."""

    title = "scorecard"
    parameter_name = "scorecard"

    def choices_for(self, request):
        return [(str(s.pk), s.name) for s in Scorecard.objects.order_by("name")]

    def filtered(self, queryset, pk):
        return queryset.filter(scorecard_version__scorecard_id=pk)


@dataclass
class QuestionRow:
    question: ScorecardQuestion
    value: str = ""
    text: str = ""
    earned: Any = None
    possible: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def value_display(self) -> str:
        return dict(self.options).get(self.value, self.value) or "—"


def _options(question: ScorecardQuestion) -> list[tuple[str, str]]:
    if question.answer_type == AnswerType.YES_NO:
        options = [(YES, "Yes"), (NO, "No")]
    elif question.answer_type == AnswerType.SCALE:
        low, high = question.scale_min or 0, question.scale_max or 0
        options = [(str(n), str(n)) for n in range(low, high + 1)]
    elif question.answer_type == AnswerType.CHOICE:
        options = [
            (str(i), str(option.get("label", i))) if isinstance(option, dict) else (str(i), str(i))
            for i, option in enumerate(question.choices or [])
        ]
    else:
        return []
    return [*options, (NA, "N/A")] if question.allow_na else options


def _form_sections(evaluation: Evaluation, posted: dict[int, tuple[str, str]] | None) -> list[dict]:
    version = evaluation.scorecard_version
    answers = {a.question_id: a for a in evaluation.answers.all()}
    sections: dict[int, dict] = {
        s.pk: {"section": s, "rows": []} for s in version.sections.order_by("position", "pk")
    }
    for question in version.questions.order_by("section__position", "position", "pk"):
        answer = answers.get(question.pk)
        row = QuestionRow(question=question, options=_options(question))
        if answer is not None:
            row.value, row.text = answer.value, answer.text
            row.earned, row.possible = answer.points_earned, answer.points_possible
        if posted is not None and question.pk in posted:
            row.value, row.text = posted[question.pk]
        sections[question.section_id]["rows"].append(row)
    return list(sections.values())


def answers_from_post(post, evaluation: Evaluation) -> dict[int, tuple[str, str]]:
    """The page's answers as the services take them: every question of the version (an unchecked
    one clears its answer), and any other question id the post names (the service refuses it)."""
    answers: dict[int, list[str]] = {
        pk: ["", ""] for pk in evaluation.scorecard_version.questions.values_list("pk", flat=True)
    }
    for name, value in post.items():
        match = _ANSWER_FIELD.fullmatch(name)
        if match is None:
            continue  # the token, the button, and a score the browser may send: never read
        kind, raw_id = match.groups()
        if not _QUESTION_ID.fullmatch(raw_id):
            raise ValidationError("The form names a question that does not exist.", code="foreign_question")
        answers.setdefault(int(raw_id), ["", ""])[0 if kind == "q" else 1] = value
    return {pk: (value, text) for pk, (value, text) in answers.items()}


class EvaluationAdmin(SizeScopedCountAdminMixin, AccessLoggedAdminMixin, admin.ModelAdmin):
    """Evaluations the user may read (``evaluations_visible_to``); an evaluation's page is
    ``evaluation_page`` rather than a model form: scores are computed, never typed."""

    list_display = (
        "evaluation",
        "recording_reference",
        "scorecard_version",
        "queue",
        "evaluator_display",
        "status",
        "score",
        "auto_failed",
        "submitted_at",
    )
    list_display_links = ("evaluation",)
    list_filter = ("status", EvaluationQueueFilter, EvaluationScorecardFilter)
    list_select_related = ("recording", "scorecard_version__scorecard", "queue", "evaluator")
    # The recording's reference is a pseudonym; nothing said in the call is searchable.
    search_fields = ("=recording__reference",)
    search_help_text = "A recording's reference, exactly (e.g. REC-…)."
    show_full_result_count = False
    # The DPO and the auditor read every evaluation and may know the table's size: its estimate.
    # A QA lead reads a part: exactly that part, counted up to CUSTOS_LIST_COUNT_CAP.
    table_size_permission = "reviews.view_all_evaluations"
    access_object_type = "evaluation"

    @admin.display(description="Evaluation", ordering="pk")
    def evaluation(self, obj: Evaluation) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Recording")
    def recording_reference(self, obj: Evaluation) -> str:
        return obj.recording.reference if obj.recording_id and obj.recording else "(detached)"

    @admin.display(description="Evaluator")
    def evaluator_display(self, obj: Evaluation) -> str:
        return user_display(obj.evaluator)

    def get_queryset(self, request):
        return evaluations_visible_to(request.user)

    def has_add_permission(self, request) -> bool:
        return False  # an evaluation starts from its recording's page (``start_view``)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # retention deletes evaluations, with a tombstone

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        pages: list[tuple[str, Callable[..., HttpResponseBase], str]] = [
            ("start/<int:recording_id>/", self.start_view, "start"),
            ("<int:object_id>/comments/", self.comment_add_view, "comment_add"),
            ("<int:object_id>/comments/<int:comment_id>/delete/", self.comment_delete_view, "comment_delete"),
            ("<int:object_id>/answer/", self.team_lead_view, "team_lead"),
        ]
        return [
            *(
                path(route, self.admin_site.admin_view(view), name="{}_{}_{}".format(*info, name))
                for route, view, name in pages
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    def _visible(self, request, object_id) -> Evaluation:
        # Forbidden to whoever reads no evaluation at all (the admin's own answer to a missing
        # model permission); not found for whoever may not read this one, as for an id that
        # never existed.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        evaluation = (
            self.get_queryset(request)
            .select_related("recording", "scorecard_version__scorecard", "queue", "evaluator", "agent")
            .filter(pk=object_id)
            .first()
        )
        if evaluation is None:
            raise Http404
        return evaluation

    # --- The evaluation's page ----------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not _QUESTION_ID.fullmatch(str(object_id)):
            raise Http404
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        evaluation = self._visible(request, object_id)
        posted = None
        if request.method == "POST":
            response, posted = self._save(request, evaluation)
            if response is not None:
                return response
        return self._page(request, evaluation, posted=posted, rescore=bool(request.GET.get("rescore")))

    def _mode(self, request, evaluation: Evaluation) -> str:
        """What the user may do with the form now: "draft", "rescore", or "" (read only)."""
        user, recording_id = request.user, evaluation.recording_id
        if recording_id is None or evaluation.detached_at is not None:
            return ""
        own = evaluation.evaluator_id == user.pk
        if own and recordings_evaluable_by(user).filter(pk=recording_id).exists():
            return "draft" if evaluation.status == EvaluationStatus.DRAFT else self._rescorable(evaluation)
        if is_dpo(user) and recordings_usable_for_quality_now().filter(pk=recording_id).exists():
            return self._rescorable(evaluation)
        return ""

    @staticmethod
    def _rescorable(evaluation: Evaluation) -> str:
        return (
            "rescore" if evaluation.status in (EvaluationStatus.SUBMITTED, EvaluationStatus.DISPUTED) else ""
        )

    def _save(self, request, evaluation: Evaluation) -> tuple[HttpResponseRedirect | None, Any]:
        """Save, submit or re-score from the form: a redirect when done, else no response and the
        posted answers, to show again beside the errors."""
        if not (request.user.has_perm("reviews.change_evaluation") or is_dpo(request.user)):
            raise PermissionDenied
        try:
            answers = answers_from_post(request.POST, evaluation)
        except ValidationError as exc:
            self.message_user(request, _messages(exc), messages.ERROR)
            return None, None
        action = request.POST.get("_action", "")
        try:
            if action == "rescore":
                evaluation_rescore(evaluation=evaluation, answers=answers, actor=request.user)
                done = "Re-scored and submitted again; the history keeps the score before."
            else:
                evaluation_answers_save(evaluation=evaluation, answers=answers, actor=request.user)
                done = "Draft saved."
                if action == "submit":
                    try:
                        evaluation_submit(evaluation=evaluation, actor=request.user)
                    except ValidationError as exc:
                        self.message_user(
                            request, f"Draft saved, not submitted: {_messages(exc)}", messages.ERROR
                        )
                        return HttpResponseRedirect(self._url("change", evaluation.pk)), None
                    done = "Submitted: the agent's team lead may now acknowledge or dispute it."
        except ValidationError as exc:
            self.message_user(request, _messages(exc), messages.ERROR)
            return None, answers
        self.message_user(request, done)
        return HttpResponseRedirect(self._url("change", evaluation.pk)), None

    def _page(self, request, evaluation: Evaluation, *, posted, rescore: bool) -> TemplateResponse:
        user = request.user
        evaluation.refresh_from_db()
        mode = self._mode(request, evaluation)
        editable = mode == "draft" or (mode == "rescore" and (rescore or posted is not None))
        detached = evaluation.recording_id is None or evaluation.detached_at is not None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": evaluation,
            "evaluation": evaluation,
            "title": f"Evaluation #{evaluation.pk}",
            "sections": _form_sections(evaluation, posted),
            "mode": mode,
            "editable": editable,
            "rescore_url": f"{self._url('change', evaluation.pk)}?rescore=1" if mode == "rescore" else None,
            "detached": detached,
            "evaluator": user_display(evaluation.evaluator),
            "agent": user_display(evaluation.agent) if evaluation.agent_id else "—",
            "submitted_at": local_minutes(evaluation.submitted_at),
            "history": [
                {
                    "at": local_minutes(row.history_date),
                    "by": user_display(row.history_user) if row.history_user_id else "system",
                    "reason": row.history_change_reason or "",
                    "status": row.get_status_display(),
                    "score": row.score,
                }
                for row in evaluation.history.select_related("history_user").order_by(
                    "history_date", "history_id"
                )
            ],
            "comment_max": COMMENT_MAX_CHARS,
            "dispute_max": DISPUTE_REASON_MAX_CHARS,
        }
        if not detached:
            context.update(self._call_context(request, evaluation, mode))
        if self._leads_agent(user, evaluation):
            context["team_lead_url"] = self._url("team_lead", evaluation.pk)
        evaluation_view_record(
            evaluation=evaluation, actor=user, page="evaluation", client_ip=client_ip(request)
        )
        response = TemplateResponse(request, "reviews/evaluation.html", context)
        response["Cache-Control"] = "no-store, private"
        return response

    def _call_context(self, request, evaluation: Evaluation, mode: str) -> dict[str, Any]:
        """The player (the recording page's, muted segments and all), and the timeline."""
        user, recording = request.user, evaluation.recording
        assert recording is not None
        context: dict[str, Any] = {
            "recording": recording,
            "duration_ms": max(int(recording.duration.total_seconds() * 1000), 0),
            "comments": [
                {"comment": c, "at": _timecode(c.position_ms)}
                for c in evaluation.comments.select_related("author")
            ],
            "may_comment": (
                mode != ""
                and evaluation.evaluator_id == user.pk
                and evaluation.status != EvaluationStatus.ACKNOWLEDGED
            ),
            "comment_url": self._url("comment_add", evaluation.pk),
        }
        if recordings_playable_by(user).filter(pk=recording.pk).exists():
            token = playback_token(user=user, recording=recording)
            audio_url = f"{reverse('recording-audio', args=[recording.pk])}?{urlencode({'playback': token})}"
            recording_admin = self.admin_site._registry[Recording]
            context.update(sensitive_context(recording_admin, request, recording, audio_url=audio_url))
            context.update(playback_token=token, heard_url=reverse("recording-heard", args=[recording.pk]))
        else:
            context["audio_unavailable"] = audio_unavailable_reason(user, recording)
        return context

    @staticmethod
    def _leads_agent(user, evaluation: Evaluation) -> bool:
        return (
            evaluation.status == EvaluationStatus.SUBMITTED
            and evaluation.agent_id is not None
            and evaluation.evaluator_id != user.pk
            and user.has_perm("reviews.acknowledge_evaluation")
            and AgentSupervision.objects.filter(agent_id=evaluation.agent_id, team_lead=user).exists()
        )

    # --- Comments and the team lead's answer ----------------------------------------------------

    def _post_only(self, request, permission: str, object_id) -> Evaluation:
        if request.method != "POST":
            raise _NotAllowed
        evaluation = self._visible(request, object_id)
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return evaluation

    def comment_add_view(self, request, object_id):
        try:
            evaluation = self._post_only(request, "reviews.add_timelinecomment", object_id)
        except _NotAllowed:
            return HttpResponseNotAllowed(["POST"])
        back = f"{self._url('change', evaluation.pk)}#timeline"
        raw = request.POST.get("position_ms", "").strip()
        if not _POSITION.fullmatch(raw):
            self.message_user(
                request, "The comment's position must be a whole number of milliseconds.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        try:
            comment = comment_add(
                evaluation=evaluation,
                actor=request.user,
                position_ms=int(raw),
                body=request.POST.get("body", ""),
            )
        except ValidationError as exc:
            self.message_user(request, _messages(exc), messages.ERROR)
        else:
            self.message_user(request, f"Comment saved at {_timecode(comment.position_ms)}.")
        return HttpResponseRedirect(back)

    def comment_delete_view(self, request, object_id, comment_id):
        try:
            evaluation = self._post_only(request, "reviews.add_timelinecomment", object_id)
        except _NotAllowed:
            return HttpResponseNotAllowed(["POST"])
        comment = TimelineComment.objects.filter(pk=comment_id, evaluation=evaluation).first()
        if comment is None:
            raise Http404
        try:
            comment_delete(comment=comment, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, _messages(exc), messages.ERROR)
        else:
            self.message_user(request, "Comment deleted.")
        return HttpResponseRedirect(f"{self._url('change', evaluation.pk)}#timeline")

    def team_lead_view(self, request, object_id):
        try:
            evaluation = self._post_only(request, "reviews.acknowledge_evaluation", object_id)
        except _NotAllowed:
            return HttpResponseNotAllowed(["POST"])
        try:
            if request.POST.get("_action") == "dispute":
                evaluation_dispute(
                    evaluation=evaluation, actor=request.user, reason=request.POST.get("reason", "")
                )
                done = "Disputed: the evaluator (or a DPO) may re-score it."
            else:
                evaluation_acknowledge(evaluation=evaluation, actor=request.user)
                done = "Acknowledged."
        except ValidationError as exc:
            self.message_user(request, _messages(exc), messages.ERROR)
        else:
            self.message_user(request, done)
        return HttpResponseRedirect(self._url("change", evaluation.pk))

    # --- Starting from a recording --------------------------------------------------------------

    def start_view(self, request, recording_id):
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not request.user.has_perm("reviews.add_evaluation"):
            raise PermissionDenied
        recording = recordings_evaluable_by(request.user).filter(pk=recording_id).first()
        if recording is None:
            raise Http404
        existing = Evaluation.objects.filter(
            recording=recording, evaluator=request.user, calibration__isnull=True
        ).first()
        if existing is not None:
            return HttpResponseRedirect(self._url("change", existing.pk))
        versions = scorecard_versions_for(recording)
        error = ""
        if request.method == "POST":
            chosen = None
            raw = request.POST.get("version", "")
            if raw:
                if not _QUESTION_ID.fullmatch(raw):
                    raise ClearBadRequest("Unknown scorecard: choose one the page offers.")
                chosen = ScorecardVersion.objects.filter(pk=int(raw)).first()
                if chosen is None:
                    raise ClearBadRequest("Unknown scorecard: choose one the page offers.")
            try:
                evaluation = evaluation_start(
                    recording=recording, evaluator=request.user, scorecard_version=chosen
                )
            except ValidationError as exc:
                error = _messages(exc)
            else:
                self.message_user(request, f"Evaluation #{evaluation.pk} started as a draft.")
                return HttpResponseRedirect(self._url("change", evaluation.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Evaluate {recording.reference}",
            "recording": recording,
            "versions": versions,
            "error": error,
        }
        return TemplateResponse(request, "reviews/evaluation_start.html", context)


class _NotAllowed(Exception):
    """A method other than POST on a POST-only page."""


@admin.display(description="QA evaluation")
def evaluate_link(recording: Recording) -> str:
    url = reverse("admin:reviews_evaluation_start", args=[recording.pk])
    return format_html('<a href="{}" id="evaluate-link" class="button">Evaluate this call</a>', url)


admin.site.register(Evaluation, EvaluationAdmin)
# Holders of ``add_evaluation`` see a recording only while they may evaluate it: the link goes to
# the start page, which asks ``recordings_evaluable_by`` again.
RecordingAdmin.page_field_register(evaluate_link, permission="reviews.add_evaluation")
