"""Thin Celery tasks of the audit trail."""

import logging

from celery import shared_task

from audit.models import Source
from audit.verify import chain_verify

logger = logging.getLogger(__name__)


@shared_task
def verify_audit_chain() -> None:
    """Beat: verify the whole chain and store the result, which /audit/ shows."""
    result, _ = chain_verify(source=Source.BEAT)
    if not result.ok:
        logger.error("%s", result)
