"""Playback: serving a recording's audio to those allowed to hear it.

``audio`` (the response: Range, headers, server-side muting, streaming), ``http_range`` and
``muting`` (pure helpers), ``sessions`` (writes: one access event per playback, the player's
signed token), ``unredacted`` (writes: unredacted playback with a reason), ``views`` (the
back office's audio endpoint, deciding who hears what through ``recordings.selectors``).
"""
