"""The stop tasks' logging: an expected, retried AWS fault is one line per retry and one when the retries are
spent (the relay takes over), never a traceback."""

from __future__ import annotations

import pytest

from deployments.appconfig import TransientAppConfigError
from stops import services, tasks

pytestmark = pytest.mark.django_db


def test_it_logs_a_transient_fault_in_one_line_once_the_retries_are_spent(monkeypatch, caplog):
    def throttled(**kwargs):
        raise TransientAppConfigError("StopDeployment: ThrottlingException: Rate exceeded", code="Throttling")

    monkeypatch.setattr(services, "stop_request_execute", throttled)
    with caplog.at_level("INFO"):
        result = tasks.stop_execute.apply(kwargs={"stop_request_id": 1})

    assert result.successful()
    spent = [r for r in caplog.records if "retries spent" in r.getMessage()]
    assert len(spent) == 1 and "ThrottlingException" in spent[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
