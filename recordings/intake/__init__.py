"""Intake: how a call comes in. ``api`` (the telephony integration's ingest and consent
withdrawal endpoints), ``serializers`` (the one validator of a recording's metadata, shared by
the API, the admin upload and the import command), ``audio_format`` (audio recognised by its
content), ``services`` (the write: ``recording_ingest``).
"""
