"""The information an access package gives under Art. 15(1)(a)-(h) and 15(2), in the request's
language (English or German): the manifest's ``information`` block, which the summary renders.

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

from dsr.models import RecipientNotification
from recordings.models import DataSubject, Purpose, Recipient, Recording, Share
from recordings.sharing.transfers import EEA_COUNTRIES
from retention.selectors import keep_days_for

_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "categories": [
            "identification and contact data: name, phone number, email address",
            "voice recordings of your calls with our customer support",
            "call metadata: time, duration, support queue, direction",
            "your consent decisions and the evidence of each (when, how, under which notice)",
            "your objections and their outcome",
        ],
        "recipients_none": "No recipient outside our organisation has received this data.",
        "recipients_possible": (
            "Depending on the purposes of your calls, your data may be disclosed to these recipients:"
        ),
        "retention_rule": (
            "Kept until keep_until: the longest retention period among the purposes the recording "
            "still serves; a legal hold can keep it longer."
        ),
        "retention_default": "Purposes without a policy of their own are kept {days} days.",
        "rights": {
            "rectification": "Art. 16: have inaccurate data about you corrected.",
            "erasure": "Art. 17: have your data erased, unless an exemption of Art. 17(3) applies.",
            "restriction": "Art. 18: have the use of your data restricted.",
            "objection": "Art. 21: object to processing based on legitimate interests.",
            "portability": "Art. 20: receive the data you provided in a machine-readable format.",
            "withdraw_consent": "Art. 7(3): withdraw a consent at any time, as easily as you gave it.",
            "complaint": "Art. 77: lodge a complaint with a supervisory authority.",
        },
        "source": (
            "Telephony recording: the recordings were made during your calls with our customer "
            "support; your contact data comes from you or from those calls."
        ),
        "automated_decision_making": "None: no decision about you is based solely on automated processing.",
        "transfers_none": "None: the data is stored in the EU/EEA and not transferred to a third country.",
        "transfers": (
            "Your data was transferred to these recipients outside the EU/EEA, with these safeguards:"
        ),
        "roles": {"processor": "Processor (Art. 28)", "third_party": "Third party"},
        "grounds": {
            "adequacy": "Adequacy decision (Art. 45)",
            "scc": "Standard contractual clauses (Art. 46(2)(c))",
            "bcr": "Binding corporate rules (Art. 47)",
            "": "No safeguard recorded",
        },
        "share_grounds": {
            "consent": "your consent to sharing with third parties",
            "legal_claim": "establishment, exercise or defence of a legal claim",
            "legal_obligation": "legal obligation (Art. 6(1)(c))",
        },
    },
    "de": {
        "categories": [
            "Identifikations- und Kontaktdaten: Name, Telefonnummer, E-Mail-Adresse",
            "Sprachaufzeichnungen Ihrer Gespräche mit unserem Kundenservice",
            "Gesprächsdaten: Zeitpunkt, Dauer, Service-Warteschlange, Richtung",
            "Ihre Einwilligungsentscheidungen und deren Nachweis (wann, wie, mit welchem Hinweis)",
            "Ihre Widersprüche und deren Ergebnis",
        ],
        "recipients_none": "Kein Empfänger außerhalb unserer Organisation hat diese Daten erhalten.",
        "recipients_possible": (
            "Je nach den Zwecken Ihrer Gespräche können Ihre Daten diesen Empfängern offengelegt werden:"
        ),
        "retention_rule": (
            "Gespeichert bis keep_until: die längste Speicherdauer unter den Zwecken, denen die "
            "Aufzeichnung noch dient; eine rechtliche Aufbewahrungspflicht kann sie verlängern."
        ),
        "retention_default": "Zwecke ohne eigene Regel werden {days} Tage gespeichert.",
        "rights": {
            "rectification": "Art. 16: Berichtigung unrichtiger Daten.",
            "erasure": "Art. 17: Löschung Ihrer Daten, sofern keine Ausnahme nach Art. 17(3) greift.",
            "restriction": "Art. 18: Einschränkung der Verarbeitung.",
            "objection": "Art. 21: Widerspruch gegen eine Verarbeitung aus berechtigtem Interesse.",
            "portability": "Art. 20: Herausgabe Ihrer bereitgestellten Daten in maschinenlesbarer Form.",
            "withdraw_consent": (
                "Art. 7(3): Widerruf einer Einwilligung jederzeit, so einfach wie ihre Erteilung."
            ),
            "complaint": "Art. 77: Beschwerde bei einer Aufsichtsbehörde.",
        },
        "source": (
            "Telefonaufzeichnung: die Aufzeichnungen entstanden während Ihrer Gespräche mit unserem "
            "Kundenservice; Ihre Kontaktdaten stammen von Ihnen oder aus diesen Gesprächen."
        ),
        "automated_decision_making": (
            "Keine: keine Entscheidung über Sie beruht ausschließlich auf automatisierter Verarbeitung."
        ),
        "transfers_none": (
            "Keine: die Daten liegen in der EU/im EWR und werden in kein Drittland übermittelt."
        ),
        "transfers": (
            "Ihre Daten wurden an diese Empfänger außerhalb der EU/des EWR übermittelt, mit diesen Garantien:"
        ),
        "roles": {"processor": "Auftragsverarbeiter (Art. 28)", "third_party": "Dritter"},
        "grounds": {
            "adequacy": "Angemessenheitsbeschluss (Art. 45)",
            "scc": "Standardvertragsklauseln (Art. 46 Abs. 2 lit. c)",
            "bcr": "Verbindliche interne Datenschutzvorschriften (Art. 47)",
            "": "Keine Garantie erfasst",
        },
        "share_grounds": {
            "consent": "Ihre Einwilligung in die Weitergabe an Dritte",
            "legal_claim": "Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen",
            "legal_obligation": "rechtliche Verpflichtung (Art. 6 Abs. 1 lit. c)",
        },
    },
}


def information_texts(language: str) -> dict[str, Any]:
    return _TEXT.get(language, _TEXT["en"])


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
            bases.setdefault(purpose.pk, set()).add(recording.get_lawful_basis_display())
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
