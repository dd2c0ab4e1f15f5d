"""The recording's admin page in one place: one ``get_urls``, one ``get_readonly_fields`` and one
``render_change_form``, handing off to functions of their modules; no page state kept on the
recording or the admin between two of its hooks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recordings.admin.recording import RecordingAdmin

ADMIN = Path(__file__).resolve().parents[2] / "recordings" / "admin"


@pytest.mark.parametrize("hook", ["get_urls", "get_readonly_fields", "render_change_form"])
def test_the_recording_admin_defines_each_page_hook_once(hook):
    owners = [
        cls for cls in RecordingAdmin.__mro__ if hook in vars(cls) and cls.__module__.startswith("recordings")
    ]
    assert owners == [RecordingAdmin]


def test_the_recording_page_stores_no_page_state_on_an_object():
    # ``recording._transcript_decrypted = True`` and the like: the page's context carries it.
    stored = []
    for path in (ADMIN / name for name in ("recording.py", "transcript.py", "sensitive.py", "upload.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id not in ("self", "cls")
                    and target.attr.startswith("_")
                ):
                    stored.append(f"{path.name}:{node.lineno} {target.value.id}.{target.attr}")
    assert stored == []
