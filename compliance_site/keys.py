"""Master keys: the top of the envelope-encryption hierarchy, and the blind-index key.

A master key (KEK) wraps the per-subject keys that the database stores, together with the
master-key version that wrapped them. Rotation creates a new version and makes it current; the
subject keys are then re-wrapped under it (``recordings.services``), and a retired version is
destroyed so that old database backups become unreadable.

Two providers:

- ``LocalKeyringProvider``: versions in a JSON file (0600) under ``var/``, for laptops and the
  demo. Safe when web, worker and beat create it at the same moment.
- ``AwsKmsProvider``: one KMS key per version, behind an alias that rotation moves.

Nothing here ever puts key material into an exception message or a log line.
"""

from __future__ import annotations

import abc
import base64
import binascii
import contextlib
import datetime
import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
INDEX_KEY_BYTES = 32


class KeyProviderError(Exception):
    """A master-key operation failed; the message says why, never with key material."""


class UnknownKeyVersionError(KeyProviderError):
    """The master-key version is not known to the provider."""


class DestroyedKeyVersionError(KeyProviderError):
    """The master-key version was destroyed: what it wrapped is unreadable for good."""


@dataclass(frozen=True)
class KeyVersion:
    version: str
    created_at: datetime.datetime
    current: bool
    destroyed_at: datetime.datetime | None


class MasterKeyProvider(abc.ABC):
    """Wraps and unwraps subject keys under versioned master keys."""

    # How long after ``destroy_version`` the key material is really gone (KMS waits before it
    # deletes a key); the erasure horizon adds it.
    destruction_delay = datetime.timedelta(0)

    @abc.abstractmethod
    def current_version(self) -> str:
        """The version that ``wrap`` uses now."""

    @abc.abstractmethod
    def wrap(self, key: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
        """``key`` wrapped under the current version, bound to ``associated_data``: (version, blob)."""

    @abc.abstractmethod
    def unwrap(self, version: str, wrapped: bytes, *, associated_data: bytes) -> bytes:
        """The key in ``wrapped``; ``KeyProviderError`` if tampered or bound to other data."""

    @abc.abstractmethod
    def create_version(self) -> str:
        """Rotation: a new version becomes current. Returns it."""

    @abc.abstractmethod
    def versions(self) -> list[KeyVersion]:
        """Every version this deployment has, oldest first."""

    @abc.abstractmethod
    def destroy_version(self, version: str) -> None:
        """Destroys a retired version's key material. Refuses the current version."""

    @abc.abstractmethod
    def index_key(self) -> bytes:
        """The 32-byte HMAC key of the blind indexes."""


def _check_wrap_args(key: bytes, associated_data: bytes) -> None:
    # Programming errors, not key problems: an unbound or empty wrap would be silently useless.
    if not isinstance(key, bytes | bytearray) or not key:
        raise ValueError("wrap() needs a non-empty bytes key.")
    if not associated_data:
        raise ValueError("wrap()/unwrap() need non-empty associated_data to bind the key to its owner.")


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


def decode_index_key(value: str | None) -> bytes:
    """``BLIND_INDEX_KEY`` (base64) as 32 bytes; ``ValueError`` saying what is wrong, not the value."""
    if not value:
        raise ValueError("BLIND_INDEX_KEY (or BLIND_INDEX_KEY_FILE) is not set.")
    try:
        key = _b64decode(value.strip())
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("BLIND_INDEX_KEY is not valid base64.") from None
    if len(key) != INDEX_KEY_BYTES:
        raise ValueError(f"BLIND_INDEX_KEY must decode to {INDEX_KEY_BYTES} bytes (got {len(key)}).")
    return key


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


# --- Local keyring --------------------------------------------------------------------------

_FORMAT = b"\x01"  # first byte of a locally wrapped blob: nonce (12) + ciphertext + tag (16)
_NONCE_BYTES = 12


class LocalKeyringProvider(MasterKeyProvider):
    """Master-key versions in a JSON file, AES-256-GCM key wrapping.

    File layout: ``{"format": 1, "current": "v1", "index_key": b64, "versions": {"v1": {"key":
    b64 | null, "created_at": iso, "destroyed_at": iso | null}}}``. Every change is written to a
    temporary file and renamed over the keyring under an exclusive ``flock`` on a sibling lock
    file, so that readers never see half a file and concurrent writers never lose a version.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._mutex = threading.RLock()
        self._data: dict[str, Any] | None = None
        self._signature: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"<LocalKeyringProvider {self.path}>"

    # -- file handling --

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across processes (flock) and threads (flock is per open file)."""
        self._ensure_parent()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _ensure_parent(self) -> None:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
            # mkdir's mode is filtered by the umask; the keyring's folder is for this user only.
            parent.chmod(0o700)

    def _stat_signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        # os.replace gives a new inode, so a rotation is seen even within one mtime tick.
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            # The type only: a JSON error message would quote the file, key material included.
            raise KeyProviderError(
                f"The keyring {self.path} cannot be read ({type(exc).__name__})."
            ) from None
        if not isinstance(data, dict) or not {"current", "index_key", "versions"} <= data.keys():
            raise KeyProviderError(
                f"The keyring {self.path} is malformed (current, index_key or versions missing)."
            )
        return data

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename itself must survive a crash, or a rotation could be lost after re-wrapping.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _remember(self, data: dict[str, Any]) -> dict[str, Any]:
        self._data, self._signature = data, self._stat_signature()
        return data

    def _load(self) -> dict[str, Any]:
        """The keyring as on disk now: re-read when another process replaced the file."""
        with self._mutex:
            signature = self._stat_signature()
            if signature is not None and signature == self._signature and self._data is not None:
                return self._data
            if signature is None:
                return self._create()
            return self._remember(self._read())

    def _create(self) -> dict[str, Any]:
        with self._locked():
            # Another process may have created it while this one waited for the lock.
            if self.path.exists():
                return self._remember(self._read())
            data = {
                "format": 1,
                "current": "v1",
                "index_key": base64.b64encode(os.urandom(INDEX_KEY_BYTES)).decode(),
                "versions": {"v1": self._new_version_entry()},
            }
            self._write(data)
            return self._remember(data)

    @contextlib.contextmanager
    def _modify(self) -> Iterator[dict[str, Any]]:
        """The keyring, freshly read under the lock, written back when the block succeeds."""
        self._load()  # creates it if needed
        with self._mutex, self._locked():
            data = self._read()
            yield data
            self._write(data)
            self._remember(data)

    @staticmethod
    def _new_version_entry() -> dict[str, Any]:
        return {
            "key": base64.b64encode(os.urandom(KEY_BYTES)).decode(),
            "created_at": _now().isoformat(),
            "destroyed_at": None,
        }

    def _version_key(self, version: str) -> bytes:
        entry = self._load()["versions"].get(version)
        if entry is None:
            raise UnknownKeyVersionError(f"Master-key version {version!r} is not in the keyring {self.path}.")
        if entry["destroyed_at"] is not None or not entry["key"]:
            raise DestroyedKeyVersionError(
                f"Master-key version {version!r} was destroyed on {entry['destroyed_at']}; "
                "keys wrapped under it are unreadable."
            )
        return _b64decode(entry["key"])

    # -- API --

    def current_version(self) -> str:
        return self._load()["current"]

    def wrap(self, key: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
        _check_wrap_args(key, associated_data)
        version = self.current_version()
        nonce = os.urandom(_NONCE_BYTES)
        blob = (
            _FORMAT + nonce + AESGCM(self._version_key(version)).encrypt(nonce, bytes(key), associated_data)
        )
        return version, blob

    def unwrap(self, version: str, wrapped: bytes, *, associated_data: bytes) -> bytes:
        if not associated_data:
            raise ValueError("unwrap() needs the associated_data the key was wrapped with.")
        master = self._version_key(version)
        wrapped = bytes(wrapped)
        if not wrapped.startswith(_FORMAT) or len(wrapped) < 1 + _NONCE_BYTES + 16:
            raise KeyProviderError("Not a wrapped key of the local keyring (unknown format or too short).")
        try:
            return AESGCM(master).decrypt(
                wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :], associated_data
            )
        except InvalidTag:
            raise KeyProviderError(
                f"The wrapped key does not authenticate under master-key version {version!r}: "
                "tampered, or bound to other associated data."
            ) from None

    def create_version(self) -> str:
        with self._modify() as data:
            number = max(int(name.removeprefix("v")) for name in data["versions"]) + 1
            version = f"v{number}"
            data["versions"][version] = self._new_version_entry()
            data["current"] = version
        return version

    def versions(self) -> list[KeyVersion]:
        data = self._load()
        found = [
            KeyVersion(
                version=name,
                created_at=datetime.datetime.fromisoformat(entry["created_at"]),
                current=name == data["current"],
                destroyed_at=datetime.datetime.fromisoformat(entry["destroyed_at"])
                if entry["destroyed_at"]
                else None,
            )
            for name, entry in data["versions"].items()
        ]
        return sorted(found, key=lambda v: int(v.version.removeprefix("v")))

    def destroy_version(self, version: str) -> None:
        with self._modify() as data:
            entry = data["versions"].get(version)
            if entry is None:
                raise UnknownKeyVersionError(
                    f"Master-key version {version!r} is not in the keyring {self.path}."
                )
            if version == data["current"]:
                raise KeyProviderError(
                    f"Master-key version {version!r} is current; rotate first, then destroy the old version."
                )
            if entry["destroyed_at"] is None:  # destroying twice is a no-op, the first date stays
                entry["key"], entry["destroyed_at"] = None, _now().isoformat()

    def index_key(self) -> bytes:
        return _b64decode(self._load()["index_key"])


# --- AWS KMS --------------------------------------------------------------------------------

_TAG_KEY, _TAG_VALUE = "custos", "master"
_TAG_ALIAS = "custos-alias"  # which alias a version belongs to, when deployments share an account
_AAD_CONTEXT_KEY = "custos-aad"
_STATE_TTL_SECONDS = 60.0
_DELETION_WINDOW_DAYS = 7


class AwsKmsProvider(MasterKeyProvider):
    """One KMS symmetric key per version; the version is the key ARN.

    ``key_id`` (``AWS_KMS_KEY_ID``) names the current key, preferably through an alias that
    ``create_version`` moves to a new key. Keys this deployment made or rotated away from carry
    the tags ``custos=master`` and ``custos-alias=<alias>``, which is how ``versions`` finds them.
    """

    def __init__(
        self,
        *,
        key_id: str,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        index_key: str | None = None,
        client: Any = None,
    ) -> None:
        if not key_id:
            raise ImproperlyConfigured("KEY_PROVIDER='aws-kms' needs AWS_KMS_KEY_ID (an alias, alias/...).")
        self.key_id = key_id
        self._index_key_b64 = index_key
        if client is None:
            import boto3  # only deployments on KMS pay for importing boto3

            client = boto3.client("kms", region_name=region_name or None, endpoint_url=endpoint_url or None)
        self._kms = client
        # ARN -> (KeyState, DeletionDate, when fetched): the state check before a decrypt.
        self._states: dict[str, tuple[str, datetime.datetime | None, float]] = {}
        self._states_lock = threading.Lock()

    destruction_delay = datetime.timedelta(days=_DELETION_WINDOW_DAYS)

    def __repr__(self) -> str:
        return f"<AwsKmsProvider {self.key_id}>"

    @property
    def _alias(self) -> str | None:
        return self.key_id if self.key_id.startswith("alias/") else None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A KMS call, its failures turned into ``KeyProviderError`` subclasses."""
        from botocore.exceptions import BotoCoreError, ClientError

        target = kwargs.get("KeyId") or kwargs.get("TargetKeyId") or kwargs.get("AliasName") or ""
        try:
            return getattr(self._kms, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "NotFoundException":
                raise UnknownKeyVersionError(
                    f"KMS key {target!r} does not exist (or not in this region)."
                ) from None
            if code == "InvalidCiphertextException":
                raise KeyProviderError(
                    "KMS refused the wrapped key: tampered, or bound to other associated data."
                ) from None
            if code == "IncorrectKeyException":
                raise KeyProviderError(f"The wrapped key was not made with KMS key {target!r}.") from None
            if code == "KMSInvalidStateException":
                if "pending deletion" in message.lower() or self._is_pending_deletion(target):
                    raise DestroyedKeyVersionError(
                        f"KMS key {target!r} is pending deletion; keys wrapped under it are unreadable."
                    ) from None
                raise KeyProviderError(f"KMS key {target!r} is not usable in its state: {message}") from None
            if code == "DisabledException":
                raise KeyProviderError(f"KMS key {target!r} is disabled; enable it to unwrap.") from None
            if code in {"AccessDeniedException", "AccessDenied"}:
                # KMS says this too when the ciphertext belongs to another key than the one named.
                raise KeyProviderError(
                    f"KMS denied {operation} on {target!r}: check the IAM and key policies, and that "
                    "the wrapped key was made with this key."
                ) from None
            raise KeyProviderError(
                f"KMS {operation} on {target!r} failed: {code} {message}".rstrip()
            ) from None
        except BotoCoreError as exc:
            raise KeyProviderError(f"KMS {operation} could not be called: {exc}") from None

    def _is_pending_deletion(self, key: str) -> bool:
        with contextlib.suppress(KeyProviderError):
            return self._key_state(key, refresh=True)[0] == "PendingDeletion"
        return False

    def _key_state(self, arn: str, *, refresh: bool = False) -> tuple[str, datetime.datetime | None]:
        with self._states_lock:
            cached = self._states.get(arn)
        if cached and not refresh and time.monotonic() - cached[2] < _STATE_TTL_SECONDS:
            return cached[0], cached[1]
        metadata = self._call("describe_key", KeyId=arn)["KeyMetadata"]
        state, deletion = metadata["KeyState"], metadata.get("DeletionDate")
        with self._states_lock:
            self._states[arn] = (state, deletion, time.monotonic())
        return state, deletion

    def _encryption_context(self, associated_data: bytes) -> dict[str, str]:
        return {_AAD_CONTEXT_KEY: base64.b64encode(associated_data).decode()}

    def _tags(self, key: str) -> dict[str, str]:
        tags = self._call("list_resource_tags", KeyId=key).get("Tags", [])
        return {tag["TagKey"]: tag["TagValue"] for tag in tags}

    def _is_ours(self, tags: dict[str, str]) -> bool:
        return tags.get(_TAG_KEY) == _TAG_VALUE and tags.get(_TAG_ALIAS, self.key_id) == self.key_id

    def _our_tags(self) -> list[dict[str, str]]:
        return [{"TagKey": _TAG_KEY, "TagValue": _TAG_VALUE}, {"TagKey": _TAG_ALIAS, "TagValue": self.key_id}]

    # -- API --

    def current_version(self) -> str:
        return self._call("describe_key", KeyId=self.key_id)["KeyMetadata"]["Arn"]

    def wrap(self, key: bytes, *, associated_data: bytes) -> tuple[str, bytes]:
        _check_wrap_args(key, associated_data)
        response = self._call(
            "encrypt",
            KeyId=self.key_id,
            Plaintext=bytes(key),
            EncryptionContext=self._encryption_context(associated_data),
        )
        # KMS answers with the ARN of the key behind the alias: the version to unwrap with.
        return response["KeyId"], response["CiphertextBlob"]

    def unwrap(self, version: str, wrapped: bytes, *, associated_data: bytes) -> bytes:
        if not associated_data:
            raise ValueError("unwrap() needs the associated_data the key was wrapped with.")
        if not version.startswith("arn:"):
            raise UnknownKeyVersionError(
                f"Master-key version {version!r} is not a KMS key ARN (wrapped by another provider?)."
            )
        # KMS refuses a key pending deletion by itself; checking first gives the precise error
        # everywhere, emulators included. Cached, so it costs one call per version per minute.
        if self._key_state(version)[0] == "PendingDeletion":
            raise DestroyedKeyVersionError(
                f"KMS key {version!r} is pending deletion; keys wrapped under it are unreadable."
            )
        response = self._call(
            "decrypt",
            CiphertextBlob=bytes(wrapped),
            KeyId=version,
            EncryptionContext=self._encryption_context(associated_data),
        )
        return response["Plaintext"]

    def create_version(self) -> str:
        alias = self._alias
        if alias is None:
            raise KeyProviderError(
                f"AWS_KMS_KEY_ID={self.key_id!r} is a key, not an alias: rotation makes a new key and "
                "moves an alias to it. Create an alias (alias/custos-master) for the key and use it."
            )
        try:
            previous: str | None = self.current_version()
        except UnknownKeyVersionError:
            previous = None  # first key of a new deployment: the alias is created below
        if previous is not None and not self._is_ours(self._tags(previous)):
            # A key made outside Custos: tag it first, so that versions() still lists it after
            # the alias has moved on, and so that it can be destroyed once retired.
            self._call("tag_resource", KeyId=previous, Tags=self._our_tags())
        metadata = self._call(
            "create_key",
            Description="custos master key",
            KeySpec="SYMMETRIC_DEFAULT",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=self._our_tags(),
        )["KeyMetadata"]
        if previous is None:
            self._call("create_alias", AliasName=alias, TargetKeyId=metadata["KeyId"])
        else:
            self._call("update_alias", AliasName=alias, TargetKeyId=metadata["KeyId"])
        return metadata["Arn"]

    def versions(self) -> list[KeyVersion]:
        current = self.current_version()
        found: list[KeyVersion] = []
        marker: str | None = None
        while True:
            page = self._call("list_keys", **({"Marker": marker} if marker else {}))
            for entry in page.get("Keys", []):
                arn = entry["KeyArn"]
                if arn != current:
                    try:
                        tags = self._tags(arn)
                    except KeyProviderError:
                        continue  # another team's key we may not read: not ours either
                    if not self._is_ours(tags):
                        continue
                metadata = self._call("describe_key", KeyId=arn)["KeyMetadata"]
                pending = metadata["KeyState"] == "PendingDeletion"
                found.append(
                    KeyVersion(
                        version=arn,
                        created_at=metadata["CreationDate"],
                        current=arn == current,
                        destroyed_at=metadata.get("DeletionDate") if pending else None,
                    )
                )
            if not page.get("Truncated"):
                break
            marker = page["NextMarker"]
        return sorted(found, key=lambda v: v.created_at)

    def destroy_version(self, version: str) -> None:
        if not version.startswith("arn:"):
            raise UnknownKeyVersionError(f"Master-key version {version!r} is not a KMS key ARN.")
        if version == self.current_version():
            raise KeyProviderError(
                f"Master-key version {version!r} is current; rotate first, then destroy the old version."
            )
        if not self._is_ours(self._tags(version)):
            # Scheduling the deletion of somebody else's key would be irreparable.
            raise KeyProviderError(
                f"KMS key {version!r} is not a master key of {self.key_id} (tags {_TAG_KEY}={_TAG_VALUE}, "
                f"{_TAG_ALIAS}={self.key_id}); refusing to delete it."
            )
        if self._key_state(version, refresh=True)[0] == "PendingDeletion":
            return  # destroying twice is a no-op, the first date stays
        # The key id, not the ARN: both are valid for KMS, only the id works on every emulator.
        self._call(
            "schedule_key_deletion",
            KeyId=version.rsplit("/", 1)[-1],
            PendingWindowInDays=_DELETION_WINDOW_DAYS,
        )
        self._key_state(version, refresh=True)

    def index_key(self) -> bytes:
        try:
            return decode_index_key(self._index_key_b64)
        except ValueError as exc:
            raise KeyProviderError(str(exc)) from None


# --- Selection from settings ----------------------------------------------------------------

_providers: dict[tuple[Any, ...], MasterKeyProvider] = {}
_providers_lock = threading.Lock()


def get_provider() -> MasterKeyProvider:
    """The provider the settings name, one per configuration (so a rotation is seen at once)."""
    from django.conf import settings

    kind = getattr(settings, "KEY_PROVIDER", "local")
    if kind == "local":
        path = Path(settings.LOCAL_KEYRING_PATH)
        cache_key: tuple[Any, ...] = ("local", str(path))
    elif kind == "aws-kms":
        cache_key = (
            "aws-kms",
            settings.AWS_KMS_KEY_ID,
            getattr(settings, "AWS_KMS_REGION_NAME", "") or "",
            getattr(settings, "AWS_KMS_ENDPOINT_URL", None),
            getattr(settings, "BLIND_INDEX_KEY", "") or "",
        )
    else:
        raise ImproperlyConfigured(f"KEY_PROVIDER={kind!r} must be 'local' or 'aws-kms'.")
    with _providers_lock:
        provider = _providers.get(cache_key)
        if provider is None:
            if kind == "local":
                provider = LocalKeyringProvider(path)
            else:
                provider = AwsKmsProvider(
                    key_id=cache_key[1],
                    region_name=cache_key[2],
                    endpoint_url=cache_key[3],
                    index_key=cache_key[4],
                )
            _providers[cache_key] = provider
    return provider


def reset_provider_cache() -> None:
    """Forget every provider (tests that change the key settings)."""
    with _providers_lock:
        _providers.clear()


def production_key_problems(settings: dict[str, Any]) -> list[str]:
    """Why the key settings (settings module globals) are unsafe for production; [] if none."""
    problems: list[str] = []
    provider = settings.get("KEY_PROVIDER")
    if provider != "aws-kms":
        problems.append(
            f"KEY_PROVIDER must be 'aws-kms' in production (got {provider!r}): a local keyring file "
            "keeps the master key beside the data it protects."
        )
    if not settings.get("AWS_KMS_KEY_ID"):
        problems.append(
            "AWS_KMS_KEY_ID must name the master key, as an alias (alias/...) so that it can rotate."
        )
    try:
        decode_index_key(settings.get("BLIND_INDEX_KEY"))
    except ValueError as exc:
        problems.append(f"{exc} It must be base64 of {INDEX_KEY_BYTES} random bytes.")
    region = settings.get("AWS_KMS_REGION_NAME") or ""
    if region not in settings.get("EU_ADEQUATE_S3_REGIONS", frozenset()):
        problems.append(
            f"AWS_KMS_REGION_NAME={region!r} is outside the EU/EEA and the countries with an adequacy "
            "decision (GDPR Art. 44-45); the master key may not be kept there."
        )
    return problems
