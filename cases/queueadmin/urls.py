from django.urls import path

from cases.queueadmin import views

urlpatterns = [
    path("queues/", views.queues_page, name="manage-queues"),
    path("queues/new/", views.queue_edit, name="manage-queue-new"),
    path("queues/<int:queue_id>/", views.queue_edit, name="manage-queue-edit"),
    path("reason-codes/", views.reason_codes_page, name="manage-reason-codes"),
]
