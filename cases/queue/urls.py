"""The triage queue under /cases/ (the queue page itself is also the home page, "/")."""

from django.urls import path

from cases.queue import saved_views
from cases.queue import views as views_queue

urlpatterns = [
    path("", views_queue.queue_page, name="case-queue"),
    path("claim-next/", views_queue.queue_claim_next, name="case-claim-next"),
    path("bulk/", views_queue.queue_bulk, name="case-bulk"),
    path("views/", saved_views.saved_view_save, name="queue-view-save"),
    path("views/<int:view_id>/delete/", saved_views.saved_view_remove, name="queue-view-delete"),
]
