"""Hostile ``Range`` headers on the audio endpoint and on a share link, fuzzed with hypothesis:
never a 500; a 200 with the whole recording, a 206 with exactly the bytes its Content-Range names,
or a 416 that says why. A position of thousands of digits (Python's int() refuses more than
4,300) is a 416, not a ValueError."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from recordings.models import Purpose, Recipient
from recordings.playback.http_range import MAX_POSITION_DIGITS, UnsatisfiableRange, parse_range
from recordings.sharing.services import share_create
from tests.factories import PurposeFactory, RecordingFactory, _wav

pytestmark = pytest.mark.django_db

AUDIO = _wav(seconds=5)  # 80 kB: two 64 KiB segments
SIZE = len(AUDIO)
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        (f"bytes=0-{'9' * MAX_POSITION_DIGITS}", (0, SIZE - 1)),  # 2**64 - 1 style: to the end
        (f"bytes={'0' * 5000}7-9", (7, 9)),  # leading zeros are not digits of size
        (f"bytes=-{'9' * MAX_POSITION_DIGITS}", (0, SIZE - 1)),
        ("bytes=٣-٩", None),  # only ASCII digits are digits in HTTP: ignored, the whole body
        ("bytes=0-1,5-9", None),
        ("items=0-9", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}", f"bytes={HUGE}-{HUGE}", f"bytes=1{'0' * 20}-"],
)
def test_a_position_longer_than_any_file_is_unsatisfiable_not_a_crash(header):
    with pytest.raises(UnsatisfiableRange, match="more than 20 digits"):
        parse_range(header, SIZE)


@pytest.fixture
def recording(queue_a):
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    return RecordingFactory(queue=queue_a, audio=AUDIO, purposes=[PurposeFactory(), sharing])


@pytest.fixture
def staff_audio(client, dpo, recording):
    client.force_login(dpo)
    return client, f"/recordings/{recording.pk}/audio"


@pytest.fixture
def share_audio(client, dpo, recording):
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    _, token = share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        actor=dpo,
    )
    response = client.post("/shares/open", {"token": token})
    return client, response["Location"]


ENDPOINTS = ["staff_audio", "share_audio"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}"])
def test_a_range_of_thousands_of_digits_is_416_with_its_reason(request, endpoint, header):
    client, url = request.getfixturevalue(endpoint)

    response = client.get(url, HTTP_RANGE=header)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    assert "more than 20 digits" in response.content.decode()


# --- the fuzzing ----------------------------------------------------------------------------------

POSITION = st.integers(min_value=0, max_value=2 * SIZE).map(str)  # around the recording's end
DIGITS = st.one_of(
    POSITION,
    POSITION,
    POSITION,
    st.just(""),
    st.integers(min_value=0, max_value=2**80).map(str),
    st.text("0123456789", min_size=1, max_size=30),
    st.integers(min_value=4290, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=5000).map(lambda n: "0" * n + "1"),
    st.sampled_from(["-0", "+5", "0x10", "1e3", " 5", "٣", "²"]),
)
SPACE = st.sampled_from(["", " ", "\t", "  "])
WELL_FORMED = st.builds(lambda first, last: f"bytes={first}-{last}", DIGITS, DIGITS)
# Half well formed (they reach the parser's arithmetic), half anything a client may send.
RANGE = st.one_of(
    WELL_FORMED,
    WELL_FORMED,
    WELL_FORMED,
    st.builds(
        lambda unit, s1, first, s2, last, s3: f"{s1}{unit}={first}{s2}-{last}{s3}",
        st.sampled_from(["bytes", "Bytes", "BYTES", "items", ""]),
        SPACE,
        DIGITS,
        SPACE,
        DIGITS,
        SPACE,
    ),
    st.lists(st.builds(lambda a, b: f"{a}-{b}", DIGITS, DIGITS), min_size=2, max_size=4).map(
        lambda parts: "bytes=" + ",".join(parts)
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
)


def assert_valid_audio_answer(response) -> None:
    assert response.status_code in (200, 206, 416), response.status_code
    event(f"HTTP {response.status_code}")
    if response.status_code == 416:
        assert response["Content-Range"] == f"bytes */{SIZE}"
        assert response.content.decode()
        return
    served = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(served)
    if response.status_code == 200:
        assert len(served) == SIZE
        return
    unit, _, span = response["Content-Range"].partition(" ")
    first, last = (int(n) for n in span.split("/")[0].split("-"))
    assert (unit, span.split("/")[1]) == ("bytes", str(SIZE))
    assert 0 <= first <= last < SIZE and len(served) == last - first + 1


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@given(header=RANGE)
def test_fuzzed_range_headers_get_a_valid_answer(request, endpoint, header):
    client, url = request.getfixturevalue(endpoint)

    assert_valid_audio_answer(client.get(url, HTTP_RANGE=header))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_with_debug_off_as_in_production_a_huge_range_is_a_416_and_no_error_report(
    request, endpoint, settings
):
    # given: the production error handling: DEBUG off, 500s mailed to ADMINS, no exception raised
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@custos.example")]
    client, url = request.getfixturevalue(endpoint)
    client.raise_request_exception = False

    response = client.get(url, HTTP_RANGE=f"bytes=0-{HUGE}")

    assert response.status_code == 416
    assert mail.outbox == []
