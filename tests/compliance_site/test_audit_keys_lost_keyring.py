"""Audit keys the keyring can no longer unwrap (a lost keyring, a database restored beside another
one) are named by a system check and by the nightly verification, with what they mean and what to
do, instead of surfacing later as a 500 or as a "forged" chain."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from compliance_site.audit import audit_keys
from compliance_site.audit.services import access_event_record
from compliance_site.audit.tasks import verify_access_log
from compliance_site.audit.verification import access_log_report
from compliance_site.keys import KeyProviderError, reset_provider_cache

pytestmark = pytest.mark.django_db


def _record(n: int) -> None:
    access_event_record(action="view", object_type="recording", object_id=n, detail={"n": n})


@pytest.fixture
def keyring_lost(settings, tmp_path):
    """Events written under one keyring, then the process starts with another (a fresh one, as
    after losing the file): nothing unwrapped in memory survives the restart."""

    def lose() -> None:
        settings.LOCAL_KEYRING_PATH = tmp_path / "another-keyring.json"
        reset_provider_cache()
        audit_keys._unwrapped.clear()
        audit_keys._current.held = None  # the newest key read in this transaction, too

    yield lose
    reset_provider_cache()
    audit_keys._unwrapped.clear()


def _checks() -> dict[str, str]:
    return {message.id: message.msg for message in run_checks(databases=["default"]) if message.id}


def test_a_keyring_that_opens_every_audit_key_raises_nothing(dpo):
    _record(1)
    assert not {"custos.E030", "custos.W030"} & set(_checks())
    assert access_log_report().intact


def test_without_the_database_the_check_does_not_run(keyring_lost):
    _record(1)
    keyring_lost()
    assert "custos.E030" not in {m.id for m in run_checks()}


def test_the_check_names_a_newest_audit_key_the_keyring_cannot_open_as_an_error(keyring_lost):
    # given: the log was written under a keyring that is gone
    _record(1)
    keyring_lost()

    # when: the checks run (manage.py check --database default, migrate)
    messages = _checks()

    # then: an error that names the key and says what follows and what to do
    assert "custos.E030" in messages
    assert "'a1'" in messages["custos.E030"] and "cannot sign events" in messages["custos.E030"]
    assert "lost" in messages["custos.E030"]
    [error] = [m for m in run_checks(databases=["default"]) if m.id == "custos.E030"]
    assert "LOCAL_KEYRING_PATH" in error.hint
    # and it is what the first access would otherwise have met, later, as a 500
    with pytest.raises(KeyProviderError):
        _record(2)


def test_an_older_audit_key_the_keyring_cannot_open_is_a_warning(keyring_lost):
    # given: an old key of a lost keyring, and a newer one this keyring made since
    _record(1)
    keyring_lost()
    audit_keys._audit_key_new()
    _record(2)

    messages = _checks()

    assert "custos.E030" not in messages
    assert "'a1'" in messages["custos.W030"] and "'a2'" not in messages["custos.W030"]


def test_verify_audit_log_says_the_keyring_cannot_open_the_key_not_only_forged(keyring_lost):
    _record(1)
    keyring_lost()

    with pytest.raises(CommandError) as raised:
        call_command("verify_audit_log")

    message = str(raised.value)
    assert message.startswith(
        "The access log cannot be verified: the keyring cannot unwrap the audit keys 'a1'"
    )
    assert "Restore that keyring" in message
    report = access_log_report()
    assert set(report.unopenable_keys) == {"a1"}
    assert report.broken is not None and "lost or not this one" in report.broken.problem


def test_the_nightly_check_alerts_the_dpo_group_about_the_keyring(dpo, keyring_lost):
    _record(1)
    keyring_lost()

    result = verify_access_log()

    assert result.startswith("the keyring cannot unwrap the audit keys 'a1'")
    [alert] = mail.outbox
    assert alert.to == [dpo.email]
    assert "the keyring does not open its audit keys" in alert.subject
    assert "A lost keyring" in alert.body and "'a1'" in alert.body
