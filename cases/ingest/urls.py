"""The Ingest page, under ingest/ (included from cases/urls.py)."""

from django.urls import path

from cases.ingest import views

urlpatterns = [path("", views.ingest_runs, name="ingest-runs")]
