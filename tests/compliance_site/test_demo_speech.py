"""The demo's speech (``compliance_site.demo``): espeak-ng when installed, formant synthesis in
code otherwise, tones only when both fail; numbers that pass their checks; WebVTT word timings."""

from __future__ import annotations

import random
import stat
import sys
import textwrap

import pytest
from stdnum import iban as stdnum_iban
from stdnum import luhn

from compliance_site.demo import calls, scripts, speech

VOICES = {
    calls.IVR: speech.IVR_VOICE,
    calls.AGENT: speech.AGENT_VOICES[0],
    calls.CALLER: speech.CALLER_VOICES[0],
}


def billing_call(engine: str, target_seconds: float = 0) -> calls.RenderedCall:
    rng = random.Random(7)
    return scripts.conversation(
        queue="billing",
        plan=scripts.ConsentPlan("ivr_keypress", {scripts.QUALITY_ASSURANCE: True, scripts.TRAINING: False}),
        agent_name="Mila",
        caller_name="Lena Schmidt",
        card=calls.luhn_card_number(rng),
        iban=calls.german_iban(rng),
        target_seconds=target_seconds,
        seed=3,
        voices=VOICES,
        engine=engine,
    )


@pytest.fixture
def no_espeak(monkeypatch):
    monkeypatch.setattr(speech, "espeak_binary", lambda: None)
    speech.espeak_phrase.cache_clear()
    yield
    speech.espeak_phrase.cache_clear()


@pytest.fixture
def fake_espeak(tmp_path, monkeypatch):
    """An ``espeak-ng`` on the PATH that writes, as the real one does, a 22.05 kHz mono WAV whose
    length grows with the text."""
    binary = tmp_path / "espeak-ng"
    binary.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import math, sys, wave
            args = sys.argv[1:]
            out, text = args[args.index("-w") + 1], args[-1]
            n = int(22050 * 0.06 * len(text))
            with wave.open(out, "wb") as wav:
                wav.setnchannels(1); wav.setsampwidth(2); wav.setframerate(22050)
                wav.writeframes(b"".join(
                    int(8000 * math.sin(i / 9)).to_bytes(2, "little", signed=True) for i in range(n)
                ))
            """
        )
    )
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    speech.espeak_phrase.cache_clear()
    yield
    speech.espeak_phrase.cache_clear()


def test_without_espeak_the_calls_are_synthesised_in_code(no_espeak):
    assert calls.choose_engine() == "formant"

    call = billing_call("formant", target_seconds=60)

    assert call.seconds >= 60
    # the caller's key presses are where the consents were answered, in order
    assert 0 < call.answers[scripts.QUALITY_ASSURANCE] < call.answers[scripts.TRAINING] < 30
    assert [s.kind for s in call.segments] == [calls.PAYMENT_CARD, calls.BANK_DETAILS]


def test_espeak_ng_is_used_when_installed_and_its_audio_resampled_to_8_khz(fake_espeak):
    # when
    engine = calls.choose_engine()
    call = billing_call(engine)
    frames = speech.espeak_phrase(speech.IVR_VOICE, "Hello there.")

    # then: 0.06 s a character at 22.05 kHz, 8 kHz out
    assert engine == "espeak"
    assert frames is not None and abs(speech.seconds_of(frames) - 0.06 * len("Hello there.")) < 0.01
    # a number read out is one timed token spanning its own phrase, and muted over all of it
    card = next(w for cue in call.cues for w in cue.words if w.text[0].isdigit())
    segment = call.segments[0]
    assert segment.start_seconds < card.start and card.end < segment.end_seconds


def test_a_failing_espeak_falls_back_to_the_synthesiser(tmp_path, monkeypatch):
    binary = tmp_path / "espeak-ng"
    binary.write_text("#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    speech.espeak_phrase.cache_clear()

    assert calls.choose_engine() == "formant"
    speech.espeak_phrase.cache_clear()


def test_tones_only_when_the_synthesiser_fails(no_espeak, monkeypatch):
    def broken(voice):
        raise ArithmeticError("no synthesis here")

    monkeypatch.setattr(speech, "syllable_bank", broken)

    assert calls.choose_engine() == "tones"
    assert billing_call("tones").seconds > 20


def test_the_numbers_read_out_pass_their_checks():
    rng = random.Random(1)
    for _ in range(200):
        card, iban = calls.luhn_card_number(rng), calls.german_iban(rng)
        assert luhn.is_valid(card.replace(" ", "")) and card[0] in "23456"
        assert stdnum_iban.is_valid(iban) and iban.startswith("DE")


def test_webvtt_gives_every_word_its_start(no_espeak):
    call = billing_call("formant")

    vtt = call.webvtt()
    timed = calls.word_starts(vtt)

    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.400 --> ")
    assert [word for _, word in timed] == [w.text for cue in call.cues for w in cue.words]
    assert [start for start, _ in timed] == [w.start for cue in call.cues for w in cue.words]
