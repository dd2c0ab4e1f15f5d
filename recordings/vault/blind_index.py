"""Blind indexes: find a subject by phone or email without the database holding either in clear.

The index is HMAC-SHA256 under a separate index key over the normalised value: phone numbers in
E.164, emails lower-cased. Equal inputs give equal indexes; the index reveals nothing else.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from compliance_site.keys import get_provider


def normalise_phone(value: str) -> str:
    """E.164 form (+4930123456); numbers without a country code use PHONE_DEFAULT_REGION."""
    try:
        number = phonenumbers.parse(value, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"Not a phone number: {exc}", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number for its country.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    validate_email(email)
    return email


def blind_index(kind: str, normalised: str) -> str:
    """The index of an already normalised value; ``kind`` keeps phone and email indexes apart."""
    digest = hmac.new(get_provider().index_key(), f"{kind}:{normalised}".encode(), hashlib.sha256)
    return digest.hexdigest()


def phone_index(value: str) -> str:
    return blind_index("phone", normalise_phone(value))


def email_index(value: str) -> str:
    return blind_index("email", normalise_email(value))
