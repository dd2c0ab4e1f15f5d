"""The second-factor pages of the admin: enrol an authenticator, then pass it at each login.

After the password (the admin's own login form, behind django-axes), a staff user who must use a
second factor lands here: without a confirmed authenticator on the enrolment page, otherwise on
the code page. Codes are checked by django-otp's forms and devices.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.forms import OTPTokenForm
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance_site.services import second_factor_enrol, totp_device_prepare
from compliance_site.two_factor import second_factor_pending

logger = logging.getLogger(__name__)


class SecondFactorForm(OTPTokenForm):
    """django-otp's token form, with the user's devices as plain choices: the authenticator app
    (the default) or a recovery code."""

    otp_device = forms.ChoiceField(choices=[], widget=forms.RadioSelect, label="Use")
    otp_token = forms.CharField(
        label="Code",
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "size": 12}
        ),
    )

    def __init__(self, user, request=None, *args, **kwargs):
        super().__init__(user, request, *args, **kwargs)
        totp = next((d for d in devices_for_user(user) if isinstance(d, TOTPDevice)), None)
        if totp is not None:
            self.fields["otp_device"].initial = totp.persistent_id

    @staticmethod
    def device_choices(user):
        choices = []
        for device in devices_for_user(user):
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                choices.append((device.persistent_id, f"A recovery code ({left} left)"))
            else:
                choices.append((device.persistent_id, "The code of your authenticator app"))
        return choices

    def clean_otp_token(self) -> str:
        # Codes are read off a phone or a sheet of paper: spaces and dashes are not part of them,
        # and recovery codes are lower case.
        return "".join(ch for ch in self.cleaned_data["otp_token"] if ch not in " -\t").lower()


class EnrolForm(forms.Form):
    token = forms.CharField(
        label="Code from the app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "numeric", "size": 8}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def _with_next(view_name: str, next_url: str) -> str:
    return f"{reverse(view_name)}?{urlencode({'next': next_url})}"


def _staff_only(request: HttpRequest) -> HttpResponse | None:
    """These pages are for a logged-in staff user who owes a second factor; anyone else is sent
    to the login page or, once verified, on to where they were going."""
    user = request.user
    if not (user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser)):
        return HttpResponseRedirect(_with_next("admin:login", reverse("admin:index")))
    if not second_factor_pending(request):
        return HttpResponseRedirect(_next_url(request))
    return None


def _context(admin_site, request: HttpRequest, **extra) -> dict:
    return {
        **admin_site.each_context(request),
        "title": "Second factor",
        "next": _next_url(request),
        # The admin's header links (view site, password change) are not open before the second
        # factor; only "log out" is.
        "has_permission": False,
        **extra,
    }


def _verified(request: HttpRequest, device) -> None:
    """Mark the session as verified by ``device``, under a new session key (a privilege change)."""
    otp_login(request, device)
    request.session.cycle_key()


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
def second_factor_view(request: HttpRequest, admin_site) -> HttpResponse:
    refusal = _staff_only(request)
    if refusal is not None:
        return refusal
    user = request.user
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return HttpResponseRedirect(_with_next("admin:second_factor_enrol", _next_url(request)))
    form = SecondFactorForm(user, request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device = form.get_user().otp_device
        _verified(request, device)
        if isinstance(device, StaticDevice):
            left = device.token_set.count()
            logger.info("User id %s logged in with a recovery code; %s left", user.pk, left)
            messages.warning(
                request,
                f"You used a recovery code; {left} left. Each works once. If you lost your phone, ask an "
                "administrator to reset your second factor (manage.py reset_second_factor).",
            )
        return HttpResponseRedirect(_next_url(request))
    return TemplateResponse(request, "admin/two_factor/verify.html", _context(admin_site, request, form=form))


def _qr_svg(uri: str) -> str:
    # SVG paths from the qrcode package, drawn from the otpauth URI only: no user input reaches
    # the markup as text, and an inline <svg> needs no exception in the content security policy.
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
def enrol_view(request: HttpRequest, admin_site) -> HttpResponse:
    refusal = _staff_only(request)
    if refusal is not None:
        return refusal
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return HttpResponseRedirect(_with_next("admin:second_factor", _next_url(request)))
    device = totp_device_prepare(user=user)
    form = EnrolForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = second_factor_enrol(
                user=user, device_id=device.pk, token=form.cleaned_data["token"]
            )
        except ValidationError as exc:
            form.add_error("token", exc)
        else:
            _verified(request, device)
            # Shown once, in this response; the database keeps them only to check them.
            return TemplateResponse(
                request,
                "admin/two_factor/recovery_codes.html",
                _context(admin_site, request, codes=codes, title="Your recovery codes"),
            )
    return TemplateResponse(
        request,
        "admin/two_factor/enrol.html",
        _context(
            admin_site,
            request,
            form=form,
            title="Set up your second factor",
            qr_svg=mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - generated SVG, see _qr_svg
            otpauth_uri=device.config_url,
            secret=_grouped(device.config_url),
        ),
    )


def _grouped(config_url: str) -> str:
    """The base32 secret of the otpauth URI, in groups of four for typing it in by hand."""
    secret = parse_qs(urlsplit(config_url).query)["secret"][0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
