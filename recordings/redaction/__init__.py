"""Redaction: what of a call is sensitive, and how it is hidden.

``text`` (pure functions finding card numbers, IBANs, emails and phone numbers in a transcript),
``segments`` (the rules of a sensitive time range, and marking one: a write), ``transcripts``
(writes and reads of the sealed transcript: stored sealed, shown redacted, unredacted with a
reason).
"""
