"""Encrypted audio in S3 (a real moto server standing in for AWS, in an EU region), and the
system check that refuses a storage region outside the EU/EEA and the adequacy countries."""

from __future__ import annotations

import io

import boto3
import pytest
from django.core.checks import run_checks

from recordings.vault.storage import audio_blob_name, audio_open, audio_store
from tests.factories import AUDIO

BUCKET = "custos-recordings-test"


@pytest.fixture
def s3_storage(settings, moto_server):
    boto3.client("s3", endpoint_url=moto_server, region_name="eu-central-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    settings.RECORDINGS_STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "region_name": "eu-central-1",
                "endpoint_url": moto_server,
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    return boto3.client("s3", endpoint_url=moto_server, region_name="eu-central-1")


def test_audio_roundtrips_encrypted_through_s3(s3_storage):
    # given
    key = bytes(range(32))
    name = audio_blob_name("wav")

    # when
    stored = audio_store(plaintext=io.BytesIO(AUDIO), key=key, recording_id=7, name=name)

    # then: the object in the bucket is ciphertext, and reads back seekably
    body = s3_storage.get_object(Bucket=BUCKET, Key=stored.name)["Body"].read()
    assert AUDIO[44:120] not in body
    with audio_open(name=stored.name, key=key, recording_id=7) as reader:
        assert b"".join(reader.iter_range(100, 2000)) == AUDIO[100:2001]
    assert stored.plaintext_bytes == len(AUDIO)


def test_storage_region_outside_the_eu_fails_the_system_check(settings):
    settings.RECORDINGS_STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"region_name": "us-east-1"}},
    }

    errors = [e for e in run_checks() if e.id == "custos.E001"]

    assert len(errors) == 1
    assert "'us-east-1'" in errors[0].msg
    assert "Art. 44-45" in errors[0].hint


def test_eu_storage_region_passes_the_system_check(settings):
    settings.RECORDINGS_STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"region_name": "eu-north-1"}},
    }

    assert not [e for e in run_checks() if e.id.startswith("custos.")]
