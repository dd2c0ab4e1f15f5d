"""Agents in the admin: who leads whose team (the DPO edits, the auditor reads), and ``export/``,
where the DPO downloads every evaluation of an agent for their Art. 15 request."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.client_address import client_ip
from compliance_site.roles import is_dpo
from reviews.agent_export import agent_evaluations_export
from reviews.agents import agent_supervision_set, team_lead_candidates
from reviews.models import AgentSupervision

USERNAME_MAX_LENGTH = 150


class AgentSupervisionForm(forms.ModelForm):
    class Meta:
        model = AgentSupervision
        fields = ("agent", "team_lead")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A view-only page (the auditor's) has no fields to choose from.
        choices = {
            "agent": get_user_model().objects.filter(is_active=True).order_by("username"),
            "team_lead": team_lead_candidates(),
        }
        for name, queryset in choices.items():
            field = self.fields.get(name)
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = queryset


@admin.register(AgentSupervision)
class AgentSupervisionAdmin(ScopedHistoryAdmin):
    form = AgentSupervisionForm
    list_display = ("agent", "team_lead")
    list_select_related = ("agent", "team_lead")
    search_fields = ("agent__username", "team_lead__username")
    ordering = ("agent__username",)
    change_list_template = "admin/reviews/agentsupervision/change_list.html"

    def save_model(self, request, obj, form, change):
        try:
            agent_supervision_set(
                supervision=obj,
                agent=form.cleaned_data.get("agent"),
                team_lead=form.cleaned_data.get("team_lead"),
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_export": is_dpo(request.user)})

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export/",
                self.admin_site.admin_view(agent_export_view),
                {"model_admin": self},
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]


class AgentExportForm(forms.Form):
    agent = forms.CharField(
        label="Agent's username",
        max_length=USERNAME_MAX_LENGTH,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "size": 30}),
        help_text="Every evaluation of this agent is exported, whatever its state, as JSON and CSV in one "
        "ZIP file. The export is written to the access log in your name.",
    )

    def clean_agent(self):
        username = self.cleaned_data["agent"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError("No user has this username.")
        return user


def agent_export_view(request, *, model_admin):
    """Only a DPO: the export answers a data-subject request (everyone else: 403)."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not is_dpo(request.user):
        raise PermissionDenied
    form = AgentExportForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        export = agent_evaluations_export(
            agent=form.cleaned_data["agent"], actor=request.user, via="admin", client_ip=client_ip(request)
        )
        response = HttpResponse(export.zip_bytes(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{export.basename}.zip"'
        response["Cache-Control"] = "no-store, private"
        return response
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Export an agent's evaluations (Art. 15)",
        "form": form,
    }
    return TemplateResponse(request, "admin/reviews/agentsupervision/export.html", context)
