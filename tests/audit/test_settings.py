"""The audit trail's integrity settings stop start-up with one line when they are wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        ("AUDIT_EXPORT_SIGNING_KEY", "too short", "AUDIT_EXPORT_SIGNING_KEY must be at least 32 characters"),
        ("AUDIT_ANCHOR_WEBHOOK_URL", "file:///etc/passwd", "AUDIT_ANCHOR_WEBHOOK_URL must be an http:// or"),
        ("AUDIT_EXPORT_MAX_BYTES", "lots", "AUDIT_EXPORT_MAX_BYTES must be a whole number"),
    ],
)
def test_it_refuses_a_bad_integrity_setting_in_one_line(tmp_path, variable, value, error):
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path), variable: value}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {error}") and result.stderr.count("\n") == 1
