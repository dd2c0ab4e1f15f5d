"""What is said on the demo's calls: an opening (the IVR's recording notice and, on consent, the
caller's answers, by key press or to the agent), a body per queue, small talk to reach the call's
length, and a closing. Billing callers read out a card number and an IBAN."""

from __future__ import annotations

import random
from dataclasses import dataclass

from compliance_site.demo.calls import AGENT, BANK_DETAILS, CALLER, IVR, PAYMENT_CARD, Chunk, Turn, turn

# The purpose codes of recordings.models.Purpose (and the demo's "training").
QUALITY_ASSURANCE, TRAINING, SHARING = "quality_assurance", "training", "sharing_with_third_parties"


@dataclass(frozen=True)
class ConsentPlan:
    """How consent is asked on this call: ``method`` "ivr_keypress" (a refusal is a key press too)
    or "verbal_agent" (the agent asks and the caller says yes: only ever a yes); the purposes
    with the decision for each."""

    method: str
    decisions: dict[str, bool]


_IVR_ASKS = {
    QUALITY_ASSURANCE: "To allow us to record this call for quality assurance, press one.",
    TRAINING: "To allow us to use the recording to train new agents, press one.",
    SHARING: "To allow us to share the recording with our dispute mediator, press one.",
}
_AGENT_ASKS = {
    QUALITY_ASSURANCE: "Before we start, may I record this call for quality assurance?",
    TRAINING: "And may we use the recording to train new colleagues?",
    SHARING: "May we also share the recording with our dispute mediator, should you ever need one?",
}
_CALLER_YES = ["Yes, that is fine.", "Sure, go ahead.", "Yes, okay.", "Yes, no problem."]


def opening(plan: ConsentPlan | None, agent_name: str, rng: random.Random) -> list[Turn]:
    turns = [turn(IVR, "Welcome to Custos Telecom customer service.")]
    if plan is None:
        turns.append(
            turn(IVR, "This call is recorded for quality assurance and as a record of what we agree.")
        )
    elif plan.method == "ivr_keypress":
        for purpose, given in plan.decisions.items():
            turns.append(turn(IVR, _IVR_ASKS[purpose], "To refuse, press two."))
            turns.append(Turn(CALLER, (Chunk(key="1" if given else "2"),), purpose))
    turns.append(
        turn(AGENT, f"Good morning, you are speaking with {agent_name}.", "How can I help you today?")
    )
    if plan is not None and plan.method == "verbal_agent":
        for purpose in plan.decisions:
            turns.append(turn(AGENT, _AGENT_ASKS[purpose]))
            turns.append(turn(CALLER, rng.choice(_CALLER_YES), answers=purpose))
    return turns


def billing(name: str, card: str, iban: str) -> list[Turn]:
    return [
        turn(
            CALLER,
            f"Hello, my name is {name}.",
            "I was charged twice for my last invoice, and I would like a refund.",
        ),
        turn(
            AGENT, "I am sorry to hear that.", "Let me look at your account.", "Which card did you pay with?"
        ),
        turn(CALLER, "With my credit card.", "The number is", Chunk(card, sensitive=PAYMENT_CARD)),
        turn(AGENT, "Thank you.", "I can see both payments of forty nine euros on that card."),
        turn(AGENT, "Would you like the refund on the card, or on your bank account?"),
        turn(CALLER, "On my bank account, please.", "My IBAN is", Chunk(iban, sensitive=BANK_DETAILS)),
        turn(
            AGENT,
            "Thank you, I have noted it.",
            "The refund will reach your account within five working days.",
        ),
    ]


def technical(name: str) -> list[Turn]:
    return [
        turn(CALLER, f"Hi, this is {name}.", "My internet has been dropping out every evening since Monday."),
        turn(AGENT, "I am sorry about that.", "Is the light on your router green or red when it happens?"),
        turn(CALLER, "It blinks red for a minute, then it comes back."),
        turn(AGENT, "Let me run a line test from here.", "Please stay on the line."),
        turn(AGENT, "I can see a lot of errors on your line in the evening.", "I will send a technician."),
        turn(CALLER, "When could someone come?"),
        turn(AGENT, "The earliest appointment is Thursday morning between eight and twelve."),
        turn(CALLER, "Thursday morning works for me."),
    ]


def sales(name: str) -> list[Turn]:
    return [
        turn(CALLER, f"Good morning, {name} speaking.", "I would like to upgrade my mobile contract."),
        turn(
            AGENT, "Of course.", "At the moment you have ten gigabytes a month.", "What are you looking for?"
        ),
        turn(CALLER, "I travel a lot, so I need more data and calls abroad."),
        turn(
            AGENT, "Our travel plan has fifty gigabytes, and calls in the whole European Union are included."
        ),
        turn(CALLER, "How much does that cost?"),
        turn(AGENT, "It is twenty nine euros a month, and the first month is free."),
        turn(CALLER, "That sounds good.", "Please change my contract from next month."),
        turn(AGENT, "Done.", "You will get the new contract by email today."),
    ]


_SMALL_TALK = [
    [
        turn(AGENT, "Thank you for waiting, the system is a little slow today."),
        turn(CALLER, "No problem, take your time."),
    ],
    [
        turn(AGENT, "I can see you have been with us for almost seven years."),
        turn(CALLER, "Yes, that is right.", "I have never had a problem before."),
    ],
    [
        turn(AGENT, "Have you received our email about the new tariffs?"),
        turn(CALLER, "I think so, but I have not read it yet."),
        turn(AGENT, "Nothing changes for you, it is only for new contracts."),
    ],
    [turn(AGENT, "Let me just check one more thing in your contract."), turn(CALLER, "Sure, go ahead.")],
    [
        turn(AGENT, "Can I confirm that we may reach you on this number?"),
        turn(CALLER, "Yes, this is my mobile.", "Evenings are best."),
    ],
    [
        turn(CALLER, "Can I ask one more question about my bill?"),
        turn(AGENT, "Of course, go ahead."),
        turn(CALLER, "Why is there a charge of two euros for paper invoices?"),
        turn(AGENT, "That is for the printed invoice.", "If you switch to email, the charge goes away."),
        turn(CALLER, "Then please switch me to email."),
    ],
    [
        turn(AGENT, "I will note everything we discussed on your account."),
        turn(CALLER, "Thank you, that is helpful."),
    ],
]


def small_talk(rng: random.Random) -> list[list[Turn]]:
    """Exchanges in a random order, to be added until the call is long enough."""
    exchanges = list(_SMALL_TALK)
    rng.shuffle(exchanges)
    return exchanges


def closing() -> list[Turn]:
    return [
        turn(AGENT, "Is there anything else I can help you with?"),
        turn(CALLER, "No, that was all.", "Thank you very much."),
        turn(AGENT, "You are welcome.", "Have a nice day, goodbye."),
    ]


def conversation(
    *,
    queue: str,
    plan: ConsentPlan | None,
    agent_name: str,
    caller_name: str,
    card: str,
    iban: str,
    target_seconds: float,
    seed: int,
    voices: dict,
    engine: str,
):
    """The call rendered (``calls.render``) with as much small talk before the closing as makes
    it at least ``target_seconds`` long (or all of it)."""
    from compliance_site.demo.calls import render

    body = {"billing": lambda: billing(caller_name, card, iban), "sales": lambda: sales(caller_name)}.get(
        queue, lambda: technical(caller_name)
    )()
    start = opening(plan, agent_name, random.Random(seed))  # noqa: S311 - demo data
    extra: list[Turn] = []
    pool = small_talk(random.Random(seed + 1))  # noqa: S311 - demo data
    while True:
        call = render(start + body + extra + closing(), voices, random.Random(seed + 2), engine)  # noqa: S311
        if call.seconds >= target_seconds or not pool:
            return call
        extra += pool.pop()
