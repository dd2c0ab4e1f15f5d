"""Admin pages of records the system writes (the access log, sweep runs, tombstones, login
attempts): viewable, never added, edited or deleted by hand, by superusers neither."""

from __future__ import annotations

from typing import Any


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
