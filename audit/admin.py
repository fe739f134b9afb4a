"""Admin: the audit trail is read-only here (no add, change or delete); /audit/ is the place to review it."""

from django.contrib import admin

from audit.models import AuditEvent, AuditVerification
from portal.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_username", "action", "outcome", "target_label", "ip"]
    list_filter = ["action", "outcome", "source"]
    search_fields = ["actor_username", "target_label", "reason"]
    # A count of a million-row table on every list page is the slow part of the admin; not needed here.
    show_full_result_count = False


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ["checked_at", "ok", "event_count", "last_event_id", "first_bad_id", "problem", "source"]
    list_filter = ["ok", "source"]
