"""Tink's own StreamingAead (AES-GCM-HKDF, SHA-256, 32-byte derived keys, Custos's segment size)
over a raw 32-byte key: the ground truth Custos's ciphertext is checked against."""

from __future__ import annotations

from tink import cleartext_keyset_handle
from tink import streaming_aead as tink_streaming_aead
from tink.proto import aes_gcm_hkdf_streaming_pb2, common_pb2, tink_pb2

from recordings.vault.streaming_aead import SEGMENT_SIZE


def tink_streaming_primitive(key: bytes):
    tink_streaming_aead.register()
    key_proto = aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey(
        version=0,
        key_value=key,
        params=aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams(
            derived_key_size=32, hkdf_hash_type=common_pb2.SHA256, ciphertext_segment_size=SEGMENT_SIZE
        ),
    )
    keyset = tink_pb2.Keyset(
        primary_key_id=7,
        key=[
            tink_pb2.Keyset.Key(
                key_data=tink_pb2.KeyData(
                    type_url="type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey",
                    value=key_proto.SerializeToString(),
                    key_material_type=tink_pb2.KeyData.SYMMETRIC,
                ),
                status=tink_pb2.ENABLED,
                key_id=7,
                output_prefix_type=tink_pb2.RAW,
            )
        ],
    )
    return cleartext_keyset_handle.from_keyset(keyset).primitive(tink_streaming_aead.StreamingAead)
