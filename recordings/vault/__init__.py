"""The vault: everything that keeps a recording and a subject's fields encrypted at rest.

``keys`` (the key hierarchy below the master key, sealed personal fields), ``services`` (writes:
crypto-shredding and re-wrapping), ``streaming_aead`` / ``streaming_decrypt`` (Tink's streaming
format for audio), ``storage`` (encrypted blobs in the recordings storage), ``mapped_files``
(reading the bytes without copying them), ``blind_index`` (lookups by phone or email without
either in clear). It stands on the models alone: nothing here knows playback or the admin.
"""
