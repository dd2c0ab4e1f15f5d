"""The information an access package gives under Art. 15(1)(a)-(h) and 15(2), in the request's
language (English or German, from the gettext catalogue): the manifest's ``information`` block,
which the summary renders, and the access letter (``dsr.letters``).

Recipients (Art. 15(1)(c)) are those actually given the subject's data: every share of one of
their recordings (with its date, ground and revocation) and every recipient told of a
rectification, erasure or restriction under Art. 19. The purpose registry's recipients are listed
apart, only as those the data *may be* disclosed to. Art. 15(2): each of those actual recipients
outside the EU/EEA is a transfer to a third country, named with its safeguard (the recipient's
transfer ground and its details); "none" is said only when there is none.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from dsr.models import RecipientNotification
from recordings.models import DataSubject, Purpose, Recipient, Recording, Share
from recordings.sharing.transfers import EEA_COUNTRIES
from retention.selectors import keep_days_for

LANGUAGES = ("en", "de")


def _texts() -> dict[str, Any]:
    """The information's sentences in the active language (gettext, ``locale/``)."""
    return {
        "categories": [
            _("identification and contact data: name, phone number, email address"),
            _("voice recordings of your calls with our customer support"),
            _("call metadata: time, duration, support queue, direction"),
            _("your consent decisions and the evidence of each (when, how, under which notice)"),
            _("your objections and their outcome"),
        ],
        "recipients_none": _("No recipient outside our organisation has received this data."),
        "recipients_possible": _(
            "Depending on the purposes of your calls, your data may be disclosed to these recipients:"
        ),
        "retention_rule": _(
            "Kept until keep_until: the longest retention period among the purposes the recording "
            "still serves; a legal hold can keep it longer."
        ),
        "retention_default": _("Purposes without a policy of their own are kept {days} days."),
        "rights": {
            "rectification": _("Art. 16: have inaccurate data about you corrected."),
            "erasure": _("Art. 17: have your data erased, unless an exemption of Art. 17(3) applies."),
            "restriction": _("Art. 18: have the use of your data restricted."),
            "objection": _("Art. 21: object to processing based on legitimate interests."),
            "portability": _("Art. 20: receive the data you provided in a machine-readable format."),
            "withdraw_consent": _("Art. 7(3): withdraw a consent at any time, as easily as you gave it."),
            "complaint": _("Art. 77: lodge a complaint with a supervisory authority."),
        },
        "source": _(
            "Telephony recording: the recordings were made during your calls with our customer "
            "support; your contact data comes from you or from those calls."
        ),
        "automated_decision_making": _(
            "None: no decision about you is based solely on automated processing."
        ),
        "transfers_none": _("None: the data is stored in the EU/EEA and not transferred to a third country."),
        "transfers": _(
            "Your data was transferred to these recipients outside the EU/EEA, with these safeguards:"
        ),
        "roles": {"processor": _("Processor (Art. 28)"), "third_party": _("Third party")},
        "grounds": {
            "adequacy": _("Adequacy decision (Art. 45)"),
            "scc": _("Standard contractual clauses (Art. 46(2)(c))"),
            "bcr": _("Binding corporate rules (Art. 47)"),
            "": _("No safeguard recorded"),
        },
        "share_grounds": {
            "consent": _("your consent to sharing with third parties"),
            "legal_claim": _("establishment, exercise or defence of a legal claim"),
            "legal_obligation": _("legal obligation (Art. 6(1)(c))"),
        },
        "lawful_bases": {
            "consent": _("Consent (Art. 6(1)(a))"),
            "contract": _("Contract (Art. 6(1)(b))"),
            "legal_obligation": _("Legal obligation (Art. 6(1)(c))"),
            "vital_interests": _("Vital interests (Art. 6(1)(d))"),
            "public_task": _("Public interest / official authority (Art. 6(1)(e))"),
            "legitimate_interests": _("Legitimate interests (Art. 6(1)(f))"),
        },
    }


def information_texts(language: str) -> dict[str, Any]:
    """The information's sentences in ``language`` (English for any language without a catalogue)."""
    with translation.override(language if language in LANGUAGES else "en"):
        return _texts()


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _recipient(recipient: Recipient, texts: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": recipient.name,
        "role": texts["roles"].get(recipient.role, recipient.get_role_display()),
        "country": recipient.country.upper(),
    }


def recipients_given(subject: DataSubject, texts: dict[str, Any]) -> list[tuple[Recipient, dict[str, Any]]]:
    """Art. 15(1)(c): the recipients actually given the subject's data, each with the shares of
    their recordings and the Art. 19 notices sent to it, by name; two queries."""
    found: dict[int, tuple[Recipient, dict[str, Any]]] = {}

    def entry(recipient: Recipient) -> dict[str, Any]:
        if recipient.pk not in found:
            found[recipient.pk] = (
                recipient,
                {**_recipient(recipient, texts), "shares": [], "notifications": []},
            )
        return found[recipient.pk][1]

    shares = (
        Share.objects.filter(recording__subject=subject)
        .select_related("recipient", "recording")
        .order_by("created_at", "pk")
    )
    for share in shares:
        entry(share.recipient)["shares"].append(
            {
                "recording": share.recording.reference,
                "shared_at": _iso(share.created_at),
                "ground": texts["share_grounds"].get(share.ground, share.get_ground_display()),
                "revoked_at": _iso(share.revoked_at),
            }
        )
    notifications = (
        RecipientNotification.objects.filter(request__subject=subject, notified_at__isnull=False)
        .select_related("recipient", "request")
        .order_by("notified_at", "pk")
    )
    for notification in notifications:
        entry(notification.recipient)["notifications"].append(
            {"request": notification.request.reference, "notified_at": _iso(notification.notified_at)}
        )
    return sorted(found.values(), key=lambda pair: (pair[0].name, pair[0].pk))


def recipients_possible(purposes: list[Purpose], texts: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipients the purpose registry names for these purposes: those the data *may* be
    disclosed to (categories, not a record of a disclosure)."""
    found = (
        Recipient.objects.filter(purposes__in=[p.pk for p in purposes])
        .prefetch_related("purposes")
        .distinct()
        .order_by("name", "pk")
    )
    codes = {p.pk for p in purposes}
    return [
        {
            **_recipient(r, texts),
            "purposes": sorted(p.code for p in r.purposes.all() if p.pk in codes),
        }
        for r in found
    ]


def third_country_transfers(
    given: list[tuple[Recipient, dict[str, Any]]], texts: dict[str, Any]
) -> list[dict[str, Any]]:
    """Art. 15(2): each recipient given the data outside the EU/EEA, with its safeguard."""
    return [
        {
            "recipient": recipient.name,
            "country": recipient.country.upper(),
            "ground": recipient.transfer_ground or None,
            "safeguard": texts["grounds"].get(recipient.transfer_ground, recipient.transfer_ground),
            "safeguard_details": recipient.safeguard or None,
        }
        for recipient, _ in given
        if recipient.country.upper() not in EEA_COUNTRIES
    ]


def package_information(
    *, language: str, subject: DataSubject, recordings: list[Recording], policies: dict
) -> dict[str, Any]:
    """Art. 15(1)(a)-(h) and 15(2), for this subject and their recordings."""
    texts = information_texts(language)
    purposes: dict[int, Purpose] = {}
    bases: dict[int, set[str]] = {}
    for recording in recordings:
        for purpose in recording.purposes.all():
            purposes[purpose.pk] = purpose
            bases.setdefault(purpose.pk, set()).add(
                texts["lawful_bases"].get(recording.lawful_basis, recording.get_lawful_basis_display())
            )
    ordered = sorted(purposes.values(), key=lambda p: (p.name, p.pk))
    given = recipients_given(subject, texts)
    transfers = third_country_transfers(given, texts)
    possible = recipients_possible(ordered, texts)
    return {
        "purposes": [  # (a)
            {
                "code": p.code,
                "name": p.name,
                "description": p.description,
                "lawful_bases": sorted(bases[p.pk]),
            }
            for p in ordered
        ],
        "categories_of_data": texts["categories"],  # (b)
        "recipients": [item for _, item in given],  # (c)
        "recipients_note": "" if given else texts["recipients_none"],
        "possible_recipients": possible,  # (c), the categories: may be disclosed to
        "possible_recipients_note": texts["recipients_possible"] if possible else "",
        "retention": {  # (d)
            "periods": [
                {
                    "purpose": p.name,
                    "days": keep_days_for(p, policies),
                    "legal_reference": policies[p.pk].legal_reference if p.pk in policies else "",
                }
                for p in ordered
            ],
            "rule": texts["retention_rule"],
            "default": texts["retention_default"].format(days=settings.RETENTION_DEFAULT_DAYS),
        },
        "rights": texts["rights"],  # (e), (f)
        "source": texts["source"],  # (g)
        "automated_decision_making": texts["automated_decision_making"],  # (h)
        "third_country_transfers": transfers,  # 15(2)
        "third_country_transfers_note": texts["transfers"] if transfers else texts["transfers_none"],
    }
