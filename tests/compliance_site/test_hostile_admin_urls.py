"""Hostile admin URLs: every registered ModelAdmin's changelist, change, delete, history and
history-version pages, with fuzzed ids in the path and fuzzed query parameters (its list
filters' own parameter names among them), walked as the DPO. Never a 500: a page, a redirect, a
404 for what is no object, or a 400 that says what was wrong."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from dsr.services import request_create
from recordings.models import Purpose, Recipient
from recordings.sharing.services import share_create
from tests.compliance_site.test_hostile_admin_forms import TEXT
from tests.factories import PurposeFactory, RecordingFactory

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000  # past the 4,300 digits Python's int() converts
HOSTILE_IDS = ["1e5", "abc", HUGE, "-1", "_31", "99999999999999999999", "1 ", "%00", "\u0661"]
GENERIC_PARAMETERS = ["q", "o", "p", "e", "all", "_to_field", "_popup", "_facets", "_changelist_filters"]
KINDS = ["changelist", "change", "delete", "history", "history_version"]


@pytest.fixture
def desk(client, dpo, queue_a):
    """A row in the main tables, so that real ids are among those tried, and the DPO's client."""
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    recording = RecordingFactory(queue=queue_a, purposes=[PurposeFactory(), sharing])
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + timezone.timedelta(days=1),
        actor=dpo,
    )
    request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=recording.subject
    )
    client.force_login(dpo)
    client.raise_request_exception = False  # a 500 is a status to assert on, with its URL
    return client


def _parameter_names(model_admin, user) -> list[str]:
    """The query parameters the changelist's filters and date hierarchy read."""
    request = RequestFactory().get("/")
    request.user = user
    if not model_admin.has_view_or_change_permission(request):
        return []
    changelist = model_admin.get_changelist_instance(request)
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return names


@pytest.fixture
def admins(desk, dpo) -> dict[str, dict]:
    """Each registered ModelAdmin: its changelist URL, a real id and history id, its parameters."""
    found = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        row = model._default_manager.order_by("pk").first()
        history = (
            getattr(model, opts.simple_history_manager_attribute, None)
            if hasattr(opts, "simple_history_manager_attribute")
            else None
        )
        version = history.order_by("pk").first() if history is not None and row is not None else None
        found[opts.label] = {
            "changelist": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            "id": str(row.pk) if row is not None else "1",
            "version": str(version.pk) if version is not None else "1",
            "parameters": [*_parameter_names(model_admin, dpo), *GENERIC_PARAMETERS],
        }
    assert len(found) > 25, sorted(found)
    return found


def url_of(entry: dict, kind: str, object_id: str, version_id: str) -> str:
    base = entry["changelist"]
    object_part = quote(object_id, safe="")
    return {
        "changelist": base,
        "change": f"{base}{object_part}/change/",
        "delete": f"{base}{object_part}/delete/",
        "history": f"{base}{object_part}/history/",
        "history_version": f"{base}{object_part}/history/{quote(version_id, safe='')}/",
    }[kind]


def assert_no_server_error(response, url: str, *, fuzzed: bool = True) -> None:
    assert response.status_code < 500, f"{response.status_code} on {url[:300]}"
    if fuzzed:
        event(f"HTTP {response.status_code}")


# --- the reproductions ---------------------------------------------------------------------


def test_an_unknown_queue_in_the_recordings_filter_is_a_400_that_says_so(desk):
    response = desk.get("/admin/recordings/recording/?queue=abc")

    assert response.status_code == 400
    assert "Unknown queue in the list's filter" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/recordings/recording/?status=%00",
        "/admin/audit/accessevent/?action=%00",
        "/admin/dsr/datasubjectrequest/?status%00=x",
        "/admin/recordings/recording/%00/change/",
    ],
)
def test_a_nul_in_the_address_is_a_400_that_says_so(desk, url):
    # Found in review: Django's list filters handed the NUL to PostgreSQL, which refuses it (a 500).
    response = desk.get(url)

    assert response.status_code == 400
    assert "NUL character is not allowed" in response.content.decode()


def test_a_qa_lead_asking_for_another_teams_queue_gets_the_same_400(client, qa_lead_a, queue_a, queue_b):
    client.force_login(qa_lead_a)

    other = client.get(f"/admin/recordings/recording/?queue={queue_b.pk}")
    own = client.get(f"/admin/recordings/recording/?queue={queue_a.pk}")
    missing = client.get("/admin/recordings/recording/?queue=999999")

    assert other.status_code == missing.status_code == 400
    assert other.content == missing.content  # says nothing about a queue outside the grant
    assert own.status_code == 200


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("auditor", 400),  # sees every queue: the filter is offered, and checks its value
        ("qa_lead_a", 400),
        ("analyst", 403),  # no recordings list at all
        ("stranger", 403),
    ],
)
def test_every_persona_gets_a_4xx_for_a_bad_queue_never_a_500(client, request, queue_a, persona, status):
    client.force_login(request.getfixturevalue(persona))

    assert client.get("/admin/recordings/recording/?queue=abc").status_code == status


def test_anonymous_is_sent_to_log_in(client):
    assert client.get("/admin/recordings/recording/?queue=abc").status_code == 302


@pytest.mark.parametrize(
    "path",
    [
        "/admin/recordings/recording/1e5/history/",
        "/admin/recordings/recording/{pk}/history/abc/",
        "/admin/recordings/recording/_{pk_hex}/history/",
        f"/admin/recordings/recording/{HUGE}/history/",
        f"/admin/recordings/recording/{{pk}}/history/{HUGE}/",
    ],
)
def test_a_history_page_of_no_object_or_no_version_is_a_404(desk, path):
    from recordings.models import Recording

    pk = Recording.objects.get().pk
    url = path.format(pk=pk, pk_hex=f"{ord(str(pk)[0]):X}{str(pk)[1:]}")

    assert desk.get(url).status_code == 404


# --- every admin, walked -----------------------------------------------------------------------------


def test_every_admin_page_with_a_hostile_id_or_filter_value_answers_below_500(desk, admins):
    # Deterministic, so that every admin is walked on every run; the fuzzing below goes wider.
    # Five ids (a real one and four that are no id) on each page, a bad version of a real object
    # and a real version of a bad object; each filter parameter with a number int() refuses.
    for label, entry in admins.items():
        for kind in KINDS[:-1]:
            for object_id in [entry["id"], "1e5", "abc", HUGE, "99999999999999999999"]:
                url = url_of(entry, kind, object_id, "")
                assert_no_server_error(desk.get(url), f"{label}: {url}", fuzzed=False)
        versions = [
            (entry["id"], "abc"),
            (entry["id"], HUGE),
            ("1e5", entry["version"]),
            (HUGE, entry["version"]),
        ]
        for object_id, version_id in versions:
            url = url_of(entry, "history_version", object_id, version_id)
            assert_no_server_error(desk.get(url), f"{label}: {url}", fuzzed=False)
        for name in entry["parameters"]:
            url = f"{entry['changelist']}?{urlencode({name: HUGE})}"
            assert_no_server_error(desk.get(url), f"{label}: {url}", fuzzed=False)


ID = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=20).filter(lambda text: text not in ("", ".", "..")),
    st.integers(min_value=4290, max_value=5000).map(lambda n: "1" * n),
)


@given(data=st.data())
def test_fuzzed_ids_in_admin_paths(desk, admins, data):
    label = data.draw(st.sampled_from(sorted(admins)), label="admin")
    entry = admins[label]
    kind = data.draw(st.sampled_from(KINDS[1:]), label="kind")
    object_id = data.draw(st.one_of(st.just(entry["id"]), ID), label="id")
    version_id = data.draw(st.one_of(st.just(entry["version"]), ID), label="version")
    url = url_of(entry, kind, object_id, version_id)

    assert_no_server_error(desk.get(url), f"{label}: {url}")


@given(data=st.data())
def test_fuzzed_query_parameters_on_admin_lists(desk, admins, data):
    label = data.draw(st.sampled_from(sorted(admins)), label="admin")
    entry = admins[label]
    names = st.sampled_from(entry["parameters"])
    values = st.one_of(TEXT, ID, st.sampled_from(["abc", HUGE, "1e5", "-1", "true", "0", ""]))
    query = data.draw(st.dictionaries(names, values, min_size=1, max_size=3), label="query")
    url = f"{entry['changelist']}?{urlencode(query)}"

    assert_no_server_error(desk.get(url), f"{label}: {url}")
