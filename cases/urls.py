from django.urls import path

from cases import views

urlpatterns = [
    path("", views.home, name="home"),
    path("ingest/", views.ingest_runs, name="ingest-runs"),
]
