"""The notifications pages under notifications/ (included from cases/urls.py); following a case
is under the case (cases/casefile/urls.py)."""

from django.urls import path

from cases.watchers import views

urlpatterns = [
    path("", views.notifications_page, name="notifications"),
    path("badge/", views.notifications_badge, name="notifications-badge"),
    path("read/", views.notifications_read, name="notifications-read"),
    path("<int:notification_id>/open/", views.notification_open, name="notification-open"),
]
