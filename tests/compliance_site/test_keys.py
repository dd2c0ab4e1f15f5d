"""Master-key providers: wrapping, rotation, destruction, the keyring file, KMS, production rules."""

from __future__ import annotations

import base64
import datetime
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured

from compliance_site.keys import (
    AwsKmsProvider,
    DestroyedKeyVersionError,
    KeyProviderError,
    LocalKeyringProvider,
    UnknownKeyVersionError,
    get_provider,
    production_key_problems,
    reset_provider_cache,
)

ROOT = Path(__file__).resolve().parents[2]
SUBJECT_KEY = bytes(range(32))
AAD = b"custos/subject-key/DS-0001"
INDEX_KEY = bytes(range(100, 132))


@pytest.fixture(autouse=True)
def _fresh_providers():
    reset_provider_cache()
    yield
    reset_provider_cache()


@pytest.fixture
def keyring_path(tmp_path) -> Path:
    return tmp_path / "secrets" / "keyring.json"


@pytest.fixture
def keyring(keyring_path) -> LocalKeyringProvider:
    return LocalKeyringProvider(keyring_path)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


# --- Local keyring --------------------------------------------------------------------------


def test_local_wrap_roundtrip(keyring):
    version, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    assert version == "v1" == keyring.current_version()
    assert wrapped[0] == 1 and len(wrapped) == 1 + 12 + 32 + 16
    assert keyring.unwrap(version, wrapped, associated_data=AAD) == SUBJECT_KEY
    assert keyring.wrap(SUBJECT_KEY, associated_data=AAD)[1] != wrapped  # random nonce


def test_local_unwrap_with_other_associated_data_fails(keyring):
    version, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    with pytest.raises(KeyProviderError, match="associated data"):
        keyring.unwrap(version, wrapped, associated_data=b"custos/subject-key/DS-0002")


@pytest.mark.parametrize("index", [0, 5, 20, -1], ids=["format", "nonce", "ciphertext", "tag"])
def test_local_unwrap_of_tampered_blob_fails(keyring, index):
    version, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    with pytest.raises(KeyProviderError):
        keyring.unwrap(version, _flip(wrapped, index % len(wrapped)), associated_data=AAD)
    with pytest.raises(KeyProviderError):
        keyring.unwrap(version, wrapped[:20], associated_data=AAD)


def test_local_rotation_keeps_old_versions_readable_and_wraps_under_the_new_one(keyring):
    old_version, old_wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    new_version = keyring.create_version()

    assert new_version == "v2" == keyring.current_version()
    assert keyring.unwrap(old_version, old_wrapped, associated_data=AAD) == SUBJECT_KEY
    version, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)
    assert version == "v2"
    assert keyring.unwrap(version, wrapped, associated_data=AAD) == SUBJECT_KEY
    with pytest.raises(KeyProviderError):  # each version has its own key
        keyring.unwrap("v1", wrapped, associated_data=AAD)
    assert [(v.version, v.current, v.destroyed_at) for v in keyring.versions()] == [
        ("v1", False, None),
        ("v2", True, None),
    ]


def test_local_destroyed_version_no_longer_unwraps_and_current_cannot_be_destroyed(keyring, keyring_path):
    old_version, old_wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)
    with pytest.raises(KeyProviderError, match="current"):
        keyring.destroy_version("v1")
    keyring.create_version()

    keyring.destroy_version(old_version)
    keyring.destroy_version(old_version)  # twice is fine

    with pytest.raises(DestroyedKeyVersionError):
        keyring.unwrap(old_version, old_wrapped, associated_data=AAD)
    with pytest.raises(KeyProviderError, match="current"):
        keyring.destroy_version("v2")
    with pytest.raises(UnknownKeyVersionError):
        keyring.destroy_version("v9")
    destroyed = {v.version: v.destroyed_at for v in keyring.versions()}
    assert destroyed["v1"] is not None and destroyed["v2"] is None
    assert json.loads(keyring_path.read_text())["versions"]["v1"]["key"] is None  # the material is gone


def test_local_unknown_version(keyring):
    _, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    with pytest.raises(UnknownKeyVersionError, match="v7"):
        keyring.unwrap("v7", wrapped, associated_data=AAD)


def test_local_keyring_file_is_private_and_holds_no_subject_key(keyring, keyring_path):
    _, wrapped = keyring.wrap(SUBJECT_KEY, associated_data=AAD)

    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyring_path.parent.stat().st_mode) == 0o700
    content = keyring_path.read_bytes()
    for encoding in (SUBJECT_KEY, base64.b64encode(SUBJECT_KEY), SUBJECT_KEY.hex().encode(), wrapped):
        assert encoding not in content
    assert len(keyring.index_key()) == 32
    assert [p.name for p in keyring_path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_local_rotation_by_another_process_is_seen(keyring_path):
    web, worker = LocalKeyringProvider(keyring_path), LocalKeyringProvider(keyring_path)
    web_version, web_wrapped = web.wrap(SUBJECT_KEY, associated_data=AAD)

    new_version = worker.create_version()
    worker_wrapped = worker.wrap(SUBJECT_KEY, associated_data=AAD)[1]

    assert web.current_version() == new_version
    assert web.unwrap(new_version, worker_wrapped, associated_data=AAD) == SUBJECT_KEY
    worker.destroy_version(web_version)
    with pytest.raises(DestroyedKeyVersionError):
        web.unwrap(web_version, web_wrapped, associated_data=AAD)


# Each process is a fresh interpreter: forking inside a pytest-xdist worker (which runs
# threads) can leave a child stuck on a lock inherited mid-acquire.
_START_TOGETHER = """
import base64, json, os, sys, time
from compliance_site.keys import LocalKeyringProvider
path, go, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 30
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.001)
provider = LocalKeyringProvider(path)
version, wrapped = provider.wrap(bytes.fromhex(sys.argv[4]), associated_data=b"process-%d" % number)
print(json.dumps([number, provider.index_key().hex(), version, base64.b64encode(wrapped).decode()]))
"""


def test_processes_starting_together_end_with_one_keyring(keyring_path, tmp_path):
    # given: web, worker, beat (and more) starting at the same moment on a fresh install
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _START_TOGETHER, str(keyring_path), str(go), str(n), SUBJECT_KEY.hex()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    try:
        # when
        go.touch()
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()

    # then: one index key, one v1 key, which unwraps what every process wrapped
    assert [process.returncode for process in processes] == [0] * 8, [err for _, err in outputs]
    seen = [json.loads(out) for out, _ in outputs]
    assert len({index_key for _, index_key, _, _ in seen}) == 1
    keyring = LocalKeyringProvider(keyring_path)
    assert keyring.index_key().hex() == seen[0][1]
    assert [v.version for v in keyring.versions()] == ["v1"]
    for number, _, version, wrapped in seen:
        assert version == "v1"
        unwrapped = keyring.unwrap(version, base64.b64decode(wrapped), associated_data=b"process-%d" % number)
        assert unwrapped == SUBJECT_KEY


def test_get_provider_follows_the_settings(settings, tmp_path):
    settings.KEY_PROVIDER = "local"
    settings.LOCAL_KEYRING_PATH = tmp_path / "a" / "keyring.json"

    first = get_provider()

    assert isinstance(first, LocalKeyringProvider) and first.path == tmp_path / "a" / "keyring.json"
    assert get_provider() is first
    settings.LOCAL_KEYRING_PATH = tmp_path / "b" / "keyring.json"
    assert get_provider().path == tmp_path / "b" / "keyring.json"
    settings.LOCAL_KEYRING_PATH = tmp_path / "a" / "keyring.json"
    assert get_provider() is first
    reset_provider_cache()
    assert get_provider() is not first


def test_get_provider_refuses_an_unknown_provider(settings):
    settings.KEY_PROVIDER = "vault"

    with pytest.raises(ImproperlyConfigured, match="'vault'"):
        get_provider()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEY_PROVIDER": "hsm"}, "KEY_PROVIDER='hsm' must be 'local' or 'aws-kms'"),
        ({"KEY_PROVIDER": "aws-kms", "BLIND_INDEX_KEY": ""}, "needs BLIND_INDEX_KEY"),
    ],
)
def test_settings_refuse_bad_key_configuration(env, message):
    environment = {**os.environ, "CUSTOS_ENV": "development", **env}
    result = subprocess.run(
        [sys.executable, "-c", "import compliance_site.settings"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert message in result.stderr


# --- AWS KMS (a real moto server process) ---------------------------------------------------


@pytest.fixture
def kms(moto_server):
    return boto3.client("kms", region_name="eu-central-1", endpoint_url=moto_server)


@pytest.fixture
def kms_alias(kms) -> str:
    """An alias on a key made by hand, as an operator would for a new deployment."""
    alias = f"alias/custos-test-{uuid.uuid4().hex[:8]}"
    key = kms.create_key(Description="made by ops")["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return alias


@pytest.fixture
def kms_provider(settings, moto_server, kms_alias) -> AwsKmsProvider:
    settings.KEY_PROVIDER = "aws-kms"
    settings.AWS_KMS_KEY_ID = kms_alias
    settings.AWS_KMS_REGION_NAME = "eu-central-1"
    settings.AWS_KMS_ENDPOINT_URL = moto_server
    settings.BLIND_INDEX_KEY = base64.b64encode(INDEX_KEY).decode()
    provider = get_provider()
    assert isinstance(provider, AwsKmsProvider)
    return provider


def test_kms_wrap_roundtrip(kms_provider, kms, kms_alias):
    version, wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)

    assert version.startswith("arn:aws:kms:eu-central-1:")
    assert (
        version == kms_provider.current_version() == kms.describe_key(KeyId=kms_alias)["KeyMetadata"]["Arn"]
    )
    assert SUBJECT_KEY not in wrapped
    assert kms_provider.unwrap(version, wrapped, associated_data=AAD) == SUBJECT_KEY
    assert kms_provider.index_key() == INDEX_KEY


def test_kms_unwrap_with_other_associated_data_or_tampered_blob_fails(kms_provider):
    version, wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)

    with pytest.raises(KeyProviderError, match="associated data"):
        kms_provider.unwrap(version, wrapped, associated_data=b"custos/subject-key/DS-0002")
    with pytest.raises(KeyProviderError):
        kms_provider.unwrap(version, _flip(wrapped, len(wrapped) - 1), associated_data=AAD)


def test_kms_rotation_moves_the_alias_and_keeps_old_versions_readable(kms_provider, kms, kms_alias):
    old_version, old_wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)

    new_version = kms_provider.create_version()

    assert new_version != old_version
    assert (
        kms.describe_key(KeyId=kms_alias)["KeyMetadata"]["Arn"]
        == new_version
        == kms_provider.current_version()
    )
    assert kms_provider.unwrap(old_version, old_wrapped, associated_data=AAD) == SUBJECT_KEY
    version, wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)
    assert version == new_version
    assert kms_provider.unwrap(version, wrapped, associated_data=AAD) == SUBJECT_KEY
    # the hand-made first key was tagged, so it is still listed after the alias moved on
    assert [(v.version, v.current, v.destroyed_at) for v in kms_provider.versions()] == [
        (old_version, False, None),
        (new_version, True, None),
    ]
    assert kms.describe_key(KeyId=new_version)["KeyMetadata"]["Description"] == "custos master key"


def test_kms_first_rotation_creates_a_missing_alias(settings, moto_server):
    provider = AwsKmsProvider(
        key_id=f"alias/custos-new-{uuid.uuid4().hex[:8]}",
        region_name="eu-central-1",
        endpoint_url=moto_server,
    )
    with pytest.raises(UnknownKeyVersionError):
        provider.current_version()

    version = provider.create_version()

    assert provider.current_version() == version
    assert [v.version for v in provider.versions()] == [version]


def test_kms_rotation_needs_an_alias(kms_provider, settings):
    settings.AWS_KMS_KEY_ID = kms_provider.current_version()  # a key ARN, not an alias

    with pytest.raises(KeyProviderError, match="alias"):
        get_provider().create_version()


def test_kms_destroyed_version_no_longer_unwraps(kms_provider, kms, settings):
    old_version, old_wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)
    with pytest.raises(KeyProviderError, match="current"):
        kms_provider.destroy_version(old_version)
    kms_provider.create_version()

    kms_provider.destroy_version(old_version)
    kms_provider.destroy_version(old_version)  # twice is fine

    assert kms.describe_key(KeyId=old_version)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(DestroyedKeyVersionError, match="pending deletion"):
        kms_provider.unwrap(old_version, old_wrapped, associated_data=AAD)
    reset_provider_cache()  # another process, with nothing cached, sees it too
    with pytest.raises(DestroyedKeyVersionError):
        get_provider().unwrap(old_version, old_wrapped, associated_data=AAD)
    destroyed_at = {v.version: v.destroyed_at for v in kms_provider.versions()}[old_version]
    now = datetime.datetime.now(tz=datetime.UTC)
    assert now + datetime.timedelta(days=6) < destroyed_at <= now + datetime.timedelta(days=7, minutes=1)


def test_kms_refuses_to_destroy_a_key_that_is_not_ours(kms_provider, kms):
    foreign = kms.create_key(Description="somebody else's")["KeyMetadata"]["Arn"]

    with pytest.raises(KeyProviderError, match="refusing"):
        kms_provider.destroy_version(foreign)
    assert kms.describe_key(KeyId=foreign)["KeyMetadata"]["KeyState"] == "Enabled"


def test_kms_unknown_version(kms_provider):
    version, wrapped = kms_provider.wrap(SUBJECT_KEY, associated_data=AAD)
    missing = version.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"

    with pytest.raises(UnknownKeyVersionError):
        kms_provider.unwrap(missing, wrapped, associated_data=AAD)
    with pytest.raises(UnknownKeyVersionError, match="not a KMS key ARN"):
        kms_provider.unwrap("v1", wrapped, associated_data=AAD)


def test_kms_index_key_must_be_32_bytes(moto_server):
    provider = AwsKmsProvider(
        key_id="alias/x", region_name="eu-central-1", endpoint_url=moto_server, index_key="c2hvcnQ="
    )

    with pytest.raises(KeyProviderError, match="32 bytes"):
        provider.index_key()


# --- Production rules -----------------------------------------------------------------------

SAFE_KEY_SETTINGS = {
    "KEY_PROVIDER": "aws-kms",
    "AWS_KMS_KEY_ID": "alias/custos-master",
    "AWS_KMS_REGION_NAME": "eu-central-1",
    "BLIND_INDEX_KEY": base64.b64encode(INDEX_KEY).decode(),
    "EU_ADEQUATE_S3_REGIONS": frozenset({"eu-central-1", "eu-west-1"}),
}


def test_safe_key_settings_have_no_production_problem():
    assert production_key_problems(SAFE_KEY_SETTINGS) == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"KEY_PROVIDER": "local"}, "KEY_PROVIDER must be 'aws-kms' in production (got 'local')"),
        ({"AWS_KMS_KEY_ID": ""}, "AWS_KMS_KEY_ID must name the master key"),
        ({"BLIND_INDEX_KEY": ""}, "BLIND_INDEX_KEY (or BLIND_INDEX_KEY_FILE) is not set"),
        ({"BLIND_INDEX_KEY": "not base64!"}, "BLIND_INDEX_KEY is not valid base64"),
        ({"BLIND_INDEX_KEY": base64.b64encode(b"short").decode()}, "must decode to 32 bytes (got 5)"),
        ({"AWS_KMS_REGION_NAME": "us-east-1"}, "AWS_KMS_REGION_NAME='us-east-1' is outside the EU/EEA"),
        ({"AWS_KMS_REGION_NAME": ""}, "AWS_KMS_REGION_NAME='' is outside the EU/EEA"),
    ],
)
def test_unsafe_key_settings_are_production_problems(override, message):
    problems = production_key_problems({**SAFE_KEY_SETTINGS, **override})

    assert len(problems) == 1
    assert message in problems[0]
    assert SAFE_KEY_SETTINGS["BLIND_INDEX_KEY"] not in problems[0]
