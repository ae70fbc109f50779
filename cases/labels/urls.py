from django.urls import path

from cases.labels import views as views_labels

urlpatterns = [
    path("held/", views_labels.held_labels_page, name="held-labels"),
    path("held/<int:version_id>/review", views_labels.held_label_review, name="held-label-review"),
    path("quarantine", views_labels.labels_quarantine, name="labels-quarantine"),
    path("release", views_labels.labels_release, name="labels-release"),
]
