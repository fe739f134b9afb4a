from django.urls import path

from audit import views

urlpatterns = [
    path("", views.event_list, name="audit_event_list"),
    path("events/<int:event_id>/", views.event_detail, name="audit_event_detail"),
    path("export.csv", views.export_csv, name="audit_export_csv"),
    path("export.jsonl", views.export_jsonl, name="audit_export_jsonl"),
    path("export.manifest.json", views.export_manifest, name="audit_export_manifest"),
]
