"""Link analysis and fraud rings (included from cases/urls.py)."""

from django.urls import path

from cases import views_links

urlpatterns = [
    path("rings/", views_links.rings, name="rings"),
    path("rings/refresh/", views_links.rings_refresh, name="rings-refresh"),
    path("cases/<str:reference>/links/", views_links.case_links, name="case-links"),
]
