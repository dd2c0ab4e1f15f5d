"""Verifying the access log: walk the whole chain (``access_log_first_break``), compare it with
the signed digests outside the database (``anchoring``), both behind
``manage.py verify_audit_log``, and the nightly check: when the chain is broken or contradicts a
digest, alert the DPO group (and log an error). The alert names the first broken link by sequence
and id, and says what is wrong with it; it holds no personal data, as the log itself holds none.

Every night the chain stays broken the alert is sent again: a broken chain is not something to
be told about once and forgotten. A whole chain sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass, field
from typing import cast

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from compliance_site.audit.anchoring import digest_problems
from compliance_site.audit.audit_keys import audit_key_lookup, audit_keys_unopenable
from compliance_site.audit.chain import GENESIS_HASH, ChainBreak, ChainedEvent, first_break
from compliance_site.audit.models import AccessEvent, AuditChainHead
from compliance_site.audit.services import event_fields
from compliance_site.roles import DPO
from compliance_site.site_url import absolute_url

logger = logging.getLogger(__name__)


def _dpo_emails() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, groups__name=DPO).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def access_log_first_break(*, unopenable: Collection[str] | None = None) -> ChainBreak | None:
    """Walk the whole chain in order; the first broken link, or None when it is whole.

    Events before the switch-over (``AuditChainHead.keyed_from``) keep their plain SHA-256
    hashes and are checked as before; from it on, every hash must be an HMAC under an audit key.
    ``unopenable``: the labels of ``audit_keys_unopenable()``, when the caller has them already.
    """
    if unopenable is None:
        unopenable = audit_keys_unopenable()
    head = AuditChainHead.objects.filter(id=1).first()
    # A generator (Django types it as an Iterator): closing it closes the server-side cursor.
    rows = cast(Generator[AccessEvent], AccessEvent.objects.order_by("sequence").iterator(chunk_size=2000))
    events = (
        ChainedEvent(e.pk, e.sequence, e.prev_hash, e.hash, event_fields(e), e.key_version) for e in rows
    )
    try:
        return first_break(
            events,
            head.sequence if head else 0,
            head.last_hash if head else GENESIS_HASH,
            key_for=audit_key_lookup(),
            keyed_from=head.keyed_from if head else 1,
            unopenable=frozenset(unopenable),
        )
    finally:
        # A walk stopped at a break leaves PostgreSQL's server-side cursor open: close it now,
        # while its transaction lives, not whenever the garbage collector gets to it.
        rows.close()


def unopenable_keys_problem(unopenable: Mapping[str, str]) -> str:
    """What audit keys the keyring cannot unwrap mean, and what to do: one line."""
    labels = ", ".join(repr(label) for label in unopenable)
    return (
        f"the keyring cannot unwrap the audit keys {labels} ({'; '.join(unopenable.values())}): "
        "they were wrapped under a keyring (or KMS key) that is lost or is not the one this "
        "installation uses, or an intruder wrote them; the events and digests they signed cannot be "
        "verified. Restore that keyring; if it is lost for good, those events stay unverifiable"
    )


@dataclass(frozen=True)
class AuditReport:
    broken: ChainBreak | None = None
    digest_problems: list[str] = field(default_factory=list)
    # Audit keys held that the keyring cannot unwrap, by label, with the provider's reason.
    unopenable_keys: dict[str, str] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return self.broken is None and not self.digest_problems and not self.unopenable_keys

    def problems(self) -> list[str]:
        # The keyring first: it explains the breaks that follow from it.
        keys = [unopenable_keys_problem(self.unopenable_keys)] if self.unopenable_keys else []
        return keys + ([str(self.broken)] if self.broken else []) + self.digest_problems


def access_log_report() -> AuditReport:
    """The chain walked, and compared with the digests outside the database."""
    unopenable = audit_keys_unopenable()
    return AuditReport(access_log_first_break(unopenable=unopenable), digest_problems(), unopenable)


def access_log_verify() -> AuditReport:
    """Verify the chain and the digests; on any problem, alert the DPO group."""
    report = access_log_report()
    broken = report.broken
    if report.intact:
        head = AuditChainHead.objects.filter(id=1).first()
        # The head's hash, logged nightly, leaves the database with the logs: a chain rewritten
        # from some event on (every later hash recomputed) no longer ends in the hash logged here.
        logger.info(
            "The access log is intact up to event #%d; its head hash is %s.",
            head.sequence if head else 0,
            head.last_hash if head else "-",
        )
        return report
    if report.unopenable_keys:
        logger.error("The access log cannot be verified: %s", unopenable_keys_problem(report.unopenable_keys))
    if broken is not None:
        logger.error("The access log's hash chain is broken at %s", broken)
    for problem in report.digest_problems:
        logger.error("The access log does not match its digests: %s", problem)
    recipients = _dpo_emails()
    if not recipients:
        logger.error("No active DPO with an email address to alert about the broken access log.")
        return report
    context = {
        "broken": broken,
        "digest_problems": report.digest_problems,
        "unopenable_keys": unopenable_keys_problem(report.unopenable_keys) if report.unopenable_keys else "",
        "url": absolute_url(reverse("admin:audit_accessevent_changelist")),
    }
    send_mail(
        subject=render_to_string("audit/email/audit_broken_subject.txt", context).strip(),
        message=render_to_string("audit/email/audit_broken_body.txt", context),
        from_email=None,
        recipient_list=recipients,
    )
    return report
