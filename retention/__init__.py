"""Retention: how long a recording may be kept, what keeps it longer, and the sweep that ends it.

``selectors`` holds the rules (``keep_days_for``, ``retention_ended``, ``recordings_past_retention``,
``holds_covering``); ``services`` the writes (keep-until, holds, disposition approvals, the
sweep and ``recordings_erase``, which the DSR desk's erasure uses too); ``explain`` says why a
recording is kept or deleted, for the admin and ``manage.py retention_preview``; ``tasks`` are
beat's. Below it only ``recordings`` and ``compliance_site``; the DSR desk sits above.
"""
