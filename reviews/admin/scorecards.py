"""Admin for scorecards (evaluation forms): the list, a scorecard's page with its versions, and a
version's page with its sections and questions, editable only while it is a draft.

The QA administrator and the DPO edit, publish and start versions; QA leads and the auditor read;
every write goes through ``reviews.scorecards``. A published version is read only here, and frozen
in the database too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.fields import InvalidJSONInput
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from compliance_site.admin_history import ScopedHistoryAdmin
from reviews.models import AnswerType, Scorecard, ScorecardQuestion, ScorecardSection, ScorecardVersion
from reviews.scorecards import (
    scorecard_assign_queues,
    scorecard_create,
    scorecard_update,
    scorecard_version_draft,
    scorecard_version_problems,
    scorecard_version_publish,
    scorecard_version_update,
)
from reviews.scoring import choice_points

# A choice question's options as JSON: a few options fit in far less; more is an attack on the
# decoder (each nesting level is a recursion in it).
CHOICES_MAX_LENGTH = 5000


class ChoicesField(forms.JSONField):
    """The admin's JSON field, bounded: a long or deeply nested text is a form error, not a 500."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > CHOICES_MAX_LENGTH:
            raise ValidationError(f"At most {CHOICES_MAX_LENGTH} characters of options.")
        try:
            return super().to_python(value)
        except RecursionError as exc:
            raise ValidationError("Enter a valid JSON.", code="invalid") from exc

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)


class SectionForm(forms.ModelForm):
    weight = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_digits=6,
        decimal_places=2,
        initial=1,
        help_text="How much this section counts under the weighted-sections rule.",
    )

    class Meta:
        model = ScorecardSection
        fields = ("position", "title", "weight")


class SectionFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.deleted_forms:
            # Deleting it would take its questions along unseen (cascade).
            if form.instance.pk and form.instance.questions.exists():
                raise ValidationError(
                    f"Section “{form.instance.title}” still has questions: delete or move them first."
                )


# A smallint column's range: SQLite would store more, PostgreSQL would refuse it with a 500.
SCALE_BOUND = 32767


class QuestionForm(forms.ModelForm):
    weight = forms.DecimalField(min_value=0, max_digits=6, decimal_places=2, initial=1)
    scale_min = forms.IntegerField(required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    scale_max = forms.IntegerField(required=False, min_value=-SCALE_BOUND, max_value=SCALE_BOUND)
    choices = ChoicesField(
        required=False,
        initial=list,
        help_text='Choice questions only: [{"label": "Good", "points": 2}, {"label": "Poor", "points": 0}].',
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    class Meta:
        model = ScorecardQuestion
        fields = (
            "section",
            "position",
            "key",
            "text",
            "guidance",
            "answer_type",
            "weight",
            "allow_na",
            "auto_fail",
            "scale_min",
            "scale_max",
            "choices",
        )
        widgets = {"guidance": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("answer_type")
        if kind is None:
            return cleaned
        options = cleaned.get("choices")
        if kind == AnswerType.CHOICE and "choices" in cleaned:
            probe = ScorecardQuestion(key=cleaned.get("key") or "?", choices=options)
            try:
                if len(choice_points(probe)) < 2:
                    self.add_error("choices", "A choice question needs at least two options.")
            except ValidationError as exc:
                self.add_error("choices", exc.messages)
        elif options not in (None, [], ""):
            self.add_error("choices", "Only a choice question has options.")
        low, high = cleaned.get("scale_min"), cleaned.get("scale_max")
        if kind == AnswerType.SCALE:
            if low is None or high is None:
                self.add_error("scale_max", "A scale needs its lowest and highest values.")
            elif high <= low:
                self.add_error("scale_max", "The highest value must be above the lowest.")
        elif low is not None or high is not None:
            self.add_error("scale_max", "Only a scale question has a lowest and highest value.")
        if cleaned.get("auto_fail") and kind != AnswerType.YES_NO:
            self.add_error("auto_fail", "Only a yes/no question can fail the whole evaluation.")
        return cleaned


class _DraftContentInline(admin.options.InlineModelAdmin):
    """Sections and questions: seen by whoever sees the version, edited only in a draft by
    whoever may change the version (deleting a draft's row is an edit of the draft, not the
    removal of a record: nobody evaluated with it)."""

    extra = 0

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("reviews.view_scorecardversion")

    def _editable(self, request, obj) -> bool:
        return obj is not None and obj.is_draft and request.user.has_perm("reviews.change_scorecardversion")

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(request, obj)


class SectionInline(_DraftContentInline, admin.TabularInline):
    model = ScorecardSection
    form = SectionForm
    formset = SectionFormSet


class QuestionInline(_DraftContentInline, admin.StackedInline):
    model = ScorecardQuestion
    fk_name = "version"
    form = QuestionForm

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        section = formset.form.base_fields.get("section")
        if isinstance(section, forms.ModelChoiceField):
            # Only this version's sections (a section saved just now is offered after saving).
            section.queryset = (
                ScorecardSection.objects.filter(version=obj) if obj else ScorecardSection.objects.none()
            )
        return formset


class VersionInline(admin.TabularInline):
    """A scorecard's versions, newest first, each a link to its page."""

    model = ScorecardVersion
    fk_name = "scorecard"
    fields = ("number", "status", "scoring_rule", "pass_mark", "published_at")
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ScorecardForm(forms.ModelForm):
    class Meta:
        model = Scorecard
        fields = ("name", "description", "queues")


@admin.register(Scorecard)
class ScorecardAdmin(ScopedHistoryAdmin):
    form = ScorecardForm
    list_display = ("name", "queue_list", "published_version", "draft_version")
    search_fields = ("name",)

    def get_inlines(self, request, obj):
        # A new scorecard has no versions yet (its first draft comes with it).
        return [VersionInline] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("queues", "versions")

    @admin.display(description="Queues")
    def queue_list(self, obj: Scorecard) -> str:
        return ", ".join(queue.name for queue in obj.queues.all()) or "—"

    def _version(self, obj: Scorecard, status: str) -> str:
        version = next((v for v in obj.versions.all() if v.status == status), None)
        return f"v{version.number}" if version else "—"

    @admin.display(description="Published version")
    def published_version(self, obj: Scorecard) -> str:
        return self._version(obj, ScorecardVersion.Status.PUBLISHED)

    @admin.display(description="Draft")
    def draft_version(self, obj: Scorecard) -> str:
        return self._version(obj, ScorecardVersion.Status.DRAFT)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A scorecard's versions are what evaluations name; it is never deleted here.
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                scorecard_update(
                    scorecard=obj, name=data["name"], description=data["description"], actor=request.user
                )
                return
            created = scorecard_create(
                name=data["name"], description=data["description"], queues=data["queues"], actor=request.user
            )
        except ValidationError as exc:
            # Only a race with another writer gets here: the form checked the same.
            raise PermissionDenied("; ".join(exc.messages)) from exc
        # The page's object becomes the one created: the add page redirects and logs by its key.
        obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # The queues through the service (history by this user); the versions' inline is read only.
        if change:
            scorecard_assign_queues(
                scorecard=form.instance, queues=form.cleaned_data["queues"], actor=request.user
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(request, "Version 1 is a draft: add its sections and questions, then publish it.")
        return HttpResponseRedirect(
            reverse("admin:reviews_scorecardversion_change", args=[obj.versions.get(number=1).pk])
        )


@admin.register(ScorecardVersion)
class ScorecardVersionAdmin(ScopedHistoryAdmin):
    list_display = ("__str__", "status", "scoring_rule", "pass_mark", "published_at")
    list_filter = ("status", "scoring_rule")
    list_select_related = ("scorecard",)
    search_fields = ("scorecard__name",)
    fields = (
        "scorecard",
        "number",
        "status",
        "scoring_rule",
        "pass_mark",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
    )
    readonly_fields = (
        "scorecard",
        "number",
        "status",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
    )
    inlines = [SectionInline, QuestionInline]
    change_form_template = "admin/reviews/scorecardversion/change_form.html"

    def has_add_permission(self, request) -> bool:
        # Versions come from "Start a new version" (a copy of the published one), not a blank form.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.is_draft:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm("reviews.publish_scorecardversion")

    def has_draft_permission(self, request) -> bool:
        return request.user.has_perm("reviews.add_scorecardversion")

    def save_model(self, request, obj, form, change):
        try:
            scorecard_version_update(
                version=obj,
                scoring_rule=form.cleaned_data["scoring_rule"],
                pass_mark=form.cleaned_data["pass_mark"],
                actor=request.user,
            )
        except ValidationError as exc:
            # Published between the page's permission check and this save: nothing is written.
            raise PermissionDenied("; ".join(exc.messages)) from exc

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra: dict[str, Any] = dict(extra_context or {})
        if version is not None:
            if version.is_draft and self.has_publish_permission(request):
                extra["publish_url"] = reverse("admin:reviews_scorecardversion_publish", args=[version.pk])
            if (
                self.has_draft_permission(request)
                and not ScorecardVersion.objects.filter(
                    scorecard_id=version.scorecard_id, status=ScorecardVersion.Status.DRAFT
                ).exists()
            ):
                extra["new_version_url"] = reverse(
                    "admin:reviews_scorecardversion_new_version", args=[version.pk]
                )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        pages = [
            ("<int:object_id>/publish/", self.publish_view, "publish"),
            ("<int:object_id>/new-version/", self.new_version_view, "new_version"),
        ]
        return [
            *(
                path(route, self.admin_site.admin_view(view), name=f"reviews_scorecardversion_{name}")
                for route, view, name in pages
            ),
            *super().get_urls(),
        ]

    def _confirm_page(self, request, version: ScorecardVersion, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/reviews/scorecardversion/confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": version,
                **context,
            },
        )

    def _visible_version(self, request, object_id: int, *, allowed: bool) -> ScorecardVersion:
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = self.get_queryset(request).filter(pk=object_id).select_related("scorecard").first()
        if version is None:
            raise Http404
        if not allowed:
            raise PermissionDenied
        return version

    def publish_view(self, request, object_id: int):
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        version = self._visible_version(request, object_id, allowed=self.has_publish_permission(request))
        change_url = reverse("admin:reviews_scorecardversion_change", args=[version.pk])
        if not version.is_draft:
            messages.error(request, f"{version} is {version.get_status_display().lower()}, not a draft.")
            return HttpResponseRedirect(change_url)
        problems = scorecard_version_problems(version)
        if request.method == "POST" and not problems:
            try:
                scorecard_version_publish(version=version, actor=request.user)
            except ValidationError as exc:
                problems = exc.messages
            else:
                messages.success(
                    request, f"{version} is published: evaluations of its queues use it from now on."
                )
                return HttpResponseRedirect(change_url)
        return self._confirm_page(
            request,
            version,
            title=f"Publish {version}",
            problems=problems,
            explanation=(
                "Once published, this version cannot change: evaluations name it. The version "
                "published before it is retired (evaluations already made keep it)."
            ),
            button="Publish this version",
        )

    def new_version_view(self, request, object_id: int):
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        version = self._visible_version(request, object_id, allowed=self.has_draft_permission(request))
        problems: list[str] = []
        if request.method == "POST":
            try:
                draft = scorecard_version_draft(scorecard=version.scorecard, actor=request.user)
            except ValidationError as exc:
                problems = exc.messages
            else:
                messages.success(request, f"{draft} is a draft, copied from the published version.")
                return HttpResponseRedirect(reverse("admin:reviews_scorecardversion_change", args=[draft.pk]))
        return self._confirm_page(
            request,
            version,
            title=f"Start a new version of {version.scorecard}",
            problems=problems,
            explanation=(
                "The new version is a draft copy of the published version's sections and questions "
                "(empty if none was published). Evaluations keep using the published version until "
                "you publish the draft."
            ),
            button="Start a new version",
        )
