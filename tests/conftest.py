"""Shared fixtures: fast password hashing, a private recordings storage, and named personas."""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.cache import cache, caches
from guardian.shortcuts import assign_perm
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from compliance_site.provisioning import provision
from compliance_site.roles import AUDITOR, DPO, PRIVACY_ANALYST, QA_LEAD
from tests.celery_processes import celery_processes  # noqa: F401 - real worker and beat processes
from tests.factories import QueueFactory, UserFactory
from tests.moto_server import moto_server  # noqa: F401 - session fixture: a real moto server process
from tests.request_jobs import held_jobs, jobs_eager  # noqa: F401 - request jobs eager, or held

# Hypothesis (the hostile-input fuzzing): the same examples on every run and every machine, none
# remembered between runs, no per-example deadline on a loaded CI box; the tests use function-
# scoped fixtures (database, clients) on purpose, as state shared by all examples of one test.
# HYPOTHESIS_PROFILE=explore draws fresh random examples, many more, for a hunting session.
hypothesis_settings.register_profile(
    "custos",
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore",
    parent=hypothesis_settings.get_profile("custos"),
    derandomize=False,
    max_examples=1000,
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "custos"))


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test has its own keyring: rotations in tests never touch the demo's.
    settings.LOCAL_KEYRING_PATH = tmp_path / "keyring.json"
    # Each test has its own upload spool: a cleaning in one never meets another's uploads.
    settings.CUSTOS_SPOOL_DIR = tmp_path / "spool"
    # And its own lease files (compliance_site.leases on SQLite): under pytest-xdist two tests
    # that run job or sweep-run 1 at once in their own databases would otherwise take each
    # other's lease ("held elsewhere").
    settings.VAR_DIR = tmp_path / "var"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "recordings")},
        },
    }


@pytest.fixture(autouse=True)
def _shared_cache_emptied(request, django_db_blocker):
    """The cache (the API's throttles and wrong-token lockout) is a database table by default: a
    test inside a transaction leaves nothing in it, but a transactional test commits, so its
    counts are removed here before they can throttle a later test."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if transactional:
        with django_db_blocker.unblock():
            cache.clear()
    # The dead-rows debounce lives in memory (or Redis), which no test transaction rolls back.
    # (A test that replaces CACHES may leave the alias out: then there is nothing to clear.)
    if "dead_rows" in django_settings.CACHES:
        caches["dead_rows"].clear()


@pytest.fixture
def roles(db):
    """The role groups; a flushed transactional test database lost them with everything else."""
    if Group.objects.filter(name=DPO).exists() is False:
        provision()
    return {name: Group.objects.get(name=name) for name in (DPO, PRIVACY_ANALYST, QA_LEAD, AUDITOR)}


@pytest.fixture
def queue_a(db):
    return QueueFactory(code="queue-a", name="Queue A")


@pytest.fixture
def queue_b(db):
    return QueueFactory(code="queue-b", name="Queue B")


@pytest.fixture
def dpo(roles):
    return UserFactory(username="dana.dpo", groups=[roles[DPO]])


@pytest.fixture
def analyst(roles):
    return UserFactory(username="ana.analyst", groups=[roles[PRIVACY_ANALYST]])


@pytest.fixture
def qa_lead_a(roles, queue_a):
    user = UserFactory(username="qa.a", groups=[roles[QA_LEAD]])
    assign_perm("recordings.review_queue", user, queue_a)
    return user


@pytest.fixture
def qa_lead_b(roles, queue_b):
    user = UserFactory(username="qa.b", groups=[roles[QA_LEAD]])
    assign_perm("recordings.review_queue", user, queue_b)
    return user


@pytest.fixture
def auditor(roles):
    return UserFactory(username="aud.auditor", groups=[roles[AUDITOR]])


@pytest.fixture
def stranger(db):
    """Staff with no role and no grant."""
    return UserFactory(username="charlie.stranger")
