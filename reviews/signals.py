"""Signals of the QA reviews, so that one part reacts to another without importing it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the submitting transaction, with ``evaluation``: calibration reveals a session once
# its last participant has submitted.
evaluation_submitted = Signal()
