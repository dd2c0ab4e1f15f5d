"""The second-factor pages of the admin: enrol an authenticator, then pass it at each login.

After the password (the admin's own login form, behind django-axes), a staff user who must use a
second factor lands here: without a confirmed authenticator on the enrolment page, otherwise on
the code page. Codes are checked by django-otp's forms and the devices of
``compliance_site.models``.

Enrolment takes three steps, each in the session that started it: the enrolment code an
administrator issued (without one, the page says whom to ask and shows no secret); a fresh
authenticator secret, shown once (a reload makes a new one); the app's first code, which switches
it on.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.forms import OTPAuthenticationFormMixin

from compliance_site.models import Authenticator, RecoveryCodeSet, User
from compliance_site.services import authenticator_prepare, enrolment_code_redeem, second_factor_enrol
from compliance_site.two_factor import second_factor_pending, session_mark_verified

logger = logging.getLogger(__name__)


class SecondFactorForm(OTPAuthenticationFormMixin, forms.Form):
    """One field for the second factor: the authenticator app's code or a recovery code, whichever
    the user types. The code's shape picks the device to check it against (django-otp's own
    ``_verify_token`` then checks it, with each device's throttling): the app's codes are all
    digits, of its length; a recovery code is eight base32 letters and digits. Only that one
    device is tried, so a wrong app code never counts against the recovery codes, or the reverse.
    """

    otp_token = forms.CharField(
        label="Code",
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "size": 12}
        ),
    )

    def __init__(self, user, request=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        super().clean()
        self.clean_otp(self.user)
        return self.cleaned_data

    def get_user(self):
        return self.user

    def clean_otp_token(self) -> str:
        # Codes are read off a phone or a sheet of paper: spaces and dashes are not part of them,
        # and recovery codes are lower case.
        return "".join(ch for ch in self.cleaned_data["otp_token"] if ch not in " -\t").lower()

    def _chosen_device(self, user):
        # Only Custos' own devices, whose secrets are not in clear in the table: a row that
        # somebody writes into django-otp's tables is never a way in.
        token = self.cleaned_data.get("otp_token") or ""
        authenticator = Authenticator.objects.filter(user=user, confirmed=True).first()
        if authenticator is not None and token.isdigit() and len(token) == authenticator.digits:
            return authenticator
        return RecoveryCodeSet.objects.filter(user=user, confirmed=True).first() or authenticator

    def recovery_codes_left(self) -> int:
        device = RecoveryCodeSet.objects.filter(user=self.user, confirmed=True).first()
        return device.codes.count() if device is not None else 0


class EnrolmentCodeForm(forms.Form):
    enrolment_code = forms.CharField(
        label="Enrolment code",
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autofocus": True, "spellcheck": "false", "size": 28}
        ),
    )


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


def _signed_in(request: HttpRequest) -> User:
    """The signed-in user of a page that passed ``_staff_only`` (an anonymous one never gets here)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


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


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
def second_factor_view(request: HttpRequest, admin_site) -> HttpResponse:
    refusal = _staff_only(request)
    if refusal is not None:
        return refusal
    user = request.user
    if not Authenticator.objects.filter(user=user, confirmed=True).exists():
        return HttpResponseRedirect(_with_next("admin:second_factor_enrol", _next_url(request)))
    form = SecondFactorForm(user, request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device = form.get_user().otp_device
        session_mark_verified(request, device)
        if isinstance(device, RecoveryCodeSet):
            left = device.codes.count()
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


# The session's enrolment: {"user": id, "code": redeemed enrolment code id, "device": id of the
# authenticator whose secret this session was shown}. Nothing of it is a secret.
ENROLMENT_SESSION_KEY = "custos_enrolment"


@sensitive_post_parameters("token", "enrolment_code")
@csrf_protect
@never_cache
def enrol_view(request: HttpRequest, admin_site) -> HttpResponse:
    refusal = _staff_only(request)
    if refusal is not None:
        return refusal
    user = _signed_in(request)
    if Authenticator.objects.filter(user=user, confirmed=True).exists():
        request.session.pop(ENROLMENT_SESSION_KEY, None)
        return HttpResponseRedirect(_with_next("admin:second_factor", _next_url(request)))
    state = request.session.get(ENROLMENT_SESSION_KEY)
    if not isinstance(state, dict) or state.get("user") != user.pk or not state.get("code"):
        return _enrolment_code_step(request, admin_site)
    if request.method == "POST":
        return _confirm_step(request, admin_site, state)
    try:
        device = authenticator_prepare(user=user, code_id=state["code"])
    except ValidationError as exc:
        request.session.pop(ENROLMENT_SESSION_KEY, None)
        return _enrolment_code_step(request, admin_site, problem=" ".join(exc.messages))
    request.session[ENROLMENT_SESSION_KEY] = {**state, "device": device.pk}
    config_url = device.config_url
    return _enrol_page(
        request,
        admin_site,
        EnrolForm(),
        qr_svg=mark_safe(_qr_svg(config_url)),  # noqa: S308 - generated SVG, see _qr_svg
        otpauth_uri=config_url,
        secret=_grouped(config_url),
    )


def _enrolment_code_step(request: HttpRequest, admin_site, problem: str = "") -> HttpResponse:
    """Without an enrolment code in this session: ask for one; no secret is made or shown."""
    form = EnrolmentCodeForm(
        request.POST if request.method == "POST" and "enrolment_code" in request.POST else None
    )
    if form.is_bound and form.is_valid():
        try:
            code = enrolment_code_redeem(user=_signed_in(request), code=form.cleaned_data["enrolment_code"])
        except ValidationError as exc:
            form.add_error("enrolment_code", exc)
        else:
            # From here on this session, and no other, may enrol: a new key for it.
            request.session.cycle_key()
            request.session[ENROLMENT_SESSION_KEY] = {"user": request.user.pk, "code": code.pk}
            return HttpResponseRedirect(_with_next("admin:second_factor_enrol", _next_url(request)))
    return TemplateResponse(
        request,
        "admin/two_factor/enrolment_code.html",
        _context(admin_site, request, form=form, problem=problem, title="Set up your second factor"),
    )


def _confirm_step(request: HttpRequest, admin_site, state: dict) -> HttpResponse:
    form = EnrolForm(request.POST)
    if form.is_valid():
        try:
            device, codes = second_factor_enrol(
                user=_signed_in(request), device_id=state.get("device"), token=form.cleaned_data["token"]
            )
        except ValidationError as exc:
            form.add_error("token", exc)
        else:
            request.session.pop(ENROLMENT_SESSION_KEY, None)
            session_mark_verified(request, device)
            # Shown once, in this response; the database keeps only keyed digests to check them.
            return TemplateResponse(
                request,
                "admin/two_factor/recovery_codes.html",
                _context(admin_site, request, codes=codes, title="Your recovery codes"),
            )
    # The secret is not shown again: the user retries with the app they scanned, or starts over.
    return _enrol_page(request, admin_site, form)


def _enrol_page(request: HttpRequest, admin_site, form: EnrolForm, **secret) -> HttpResponse:
    return TemplateResponse(
        request,
        "admin/two_factor/enrol.html",
        _context(admin_site, request, form=form, title="Set up your second factor", **secret),
    )


def _grouped(config_url: str) -> str:
    """The base32 secret of the otpauth URI, in groups of four for typing it in by hand."""
    secret = parse_qs(urlsplit(config_url).query)["secret"][0]
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
