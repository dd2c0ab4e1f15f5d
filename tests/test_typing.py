"""The apps' interfaces are typed: every public function of a ``services`` or ``selectors``
module says what it returns (mypy, run by ``make lint``, then checks the callers against it)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("compliance_site", "recordings", "retention", "dsr")
INTERFACE_MODULES = ("services.py", "selectors.py")


def untyped_returns(root: Path) -> list[str]:
    """``path:line name`` of each public top-level function of an interface module that has no
    return annotation."""
    missing = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if path.name not in INTERFACE_MODULES or "migrations" in path.parts:
                continue
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if (
                    isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not node.name.startswith("_")
                    and node.returns is None
                ):
                    missing.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return missing


def test_every_service_and_selector_declares_its_return_type():
    assert untyped_returns(ROOT) == []


def test_the_check_sees_a_missing_return_type(tmp_path):
    # given an app whose services module has one public function without a return type
    (tmp_path / "recordings" / "vault").mkdir(parents=True)
    (tmp_path / "recordings" / "vault" / "services.py").write_text(
        "def key_rotate(*, key: bytes):\n    return key\n\n"
        "def _private(x):\n    return x\n\n"
        "def key_read(*, key: bytes) -> bytes:\n    return key\n"
    )
    # when the check reads it / then it names exactly that function
    assert untyped_returns(tmp_path) == ["recordings/vault/services.py:1 key_rotate"]
