"""Database sessions whose table never holds a usable session key.

Django's database backend stores the session key, which is the cookie, as the row's primary key:
whoever reads ``django_session`` (a DBA, a backup, a dump) can paste any row's key into a browser
and be that staff user, second factor passed. Here the cookie keeps the clear key and the table
only ``session_key_digest(key)``: every read, write, existence check and delete goes through the
digest, so a row cannot be turned back into a cookie.

The digest is HMAC-SHA256 under a key derived from ``SECRET_KEY`` (never in the database),
truncated to the 40 characters of Django's column: 160 bits, against a 190-bit random key. A
clear key of an older row (32 characters) never equals a digest, so sessions from before this
backend simply end.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone
from django.utils.crypto import salted_hmac

DIGEST_LENGTH = 40  # django_session.session_key is a CharField(max_length=40)


def session_key_digest(session_key: str) -> str:
    return salted_hmac("custos.session-key", session_key, algorithm="sha256").hexdigest()[:DIGEST_LENGTH]


class SessionStore(DatabaseSessionStore):
    """``django.contrib.sessions.backends.db`` with the key replaced by its digest in the table.

    ``create``, ``save``, ``cycle_key``, ``flush`` and ``clear_expired`` come from Django and
    reach the table only through the methods below (``clear_expired`` needs no key).
    """

    def _get_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return self.model.objects.get(
                session_key=session_key_digest(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as exc:
            if isinstance(exc, SuspiciousOperation):
                logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
            self._session_key = None
            return None

    async def _aget_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return await self.model.objects.aget(
                session_key=session_key_digest(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as exc:
            if isinstance(exc, SuspiciousOperation):
                logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
            self._session_key = None
            return None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=session_key_digest(session_key)).exists()

    async def aexists(self, session_key):
        return await self.model.objects.filter(session_key=session_key_digest(session_key)).aexists()

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        instance.session_key = session_key_digest(instance.session_key)
        return instance

    async def acreate_model_instance(self, data):
        instance = await super().acreate_model_instance(data)
        instance.session_key = session_key_digest(instance.session_key)
        return instance

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=session_key_digest(session_key)).delete()

    async def adelete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        await self.model.objects.filter(session_key=session_key_digest(session_key)).adelete()


def sessions_expired_purge() -> int:
    """Delete every expired session row (what ``manage.py clearsessions`` does); returns how many."""
    from django.contrib.sessions.models import Session

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
