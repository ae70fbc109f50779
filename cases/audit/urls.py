from django.urls import path

from cases.audit import views as views_audit

urlpatterns = [
    path("", views_audit.audit_trail, name="audit-trail"),
    path("export.csv", views_audit.audit_export, name="audit-export"),
]
