"""The recording page shows a WebVTT transcript as lines a reader follows (time, speaker, words),
not as cue blocks full of word timings."""

from __future__ import annotations

from recordings.admin.transcript import transcript_readable

TIMED = """WEBVTT

1
00:00:00.400 --> 00:00:04.136
<v IVR>Welcome <00:00:01.165>to <00:00:01.413>Custos

intro-2
00:00:20.483 --> 00:00:25.283
<v Agent>Good <00:00:20.707>morning, <00:00:21.234>how
<00:00:22.000>can I help?

01:00:25.942 --> 01:00:33.565
<v Caller>My card is <00:00:26.504>[card number] <b>&lt;script&gt;</b>
"""


def test_a_timed_transcript_reads_as_one_line_per_cue_with_time_and_speaker():
    assert transcript_readable(TIMED).splitlines() == [
        "00:00 IVR: Welcome to Custos",
        "00:20 Agent: Good morning, how can I help?",
        "1:00:25 Caller: My card is [card number] &lt;script&gt;",
    ]


def test_a_plain_transcript_is_shown_as_it_is():
    plain = "Agent: Good morning.\nCaller: 00:00:01.000 --> is not a cue here."
    assert transcript_readable(plain) == plain
