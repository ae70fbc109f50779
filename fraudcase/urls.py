from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from analytics.views import overview_page
from cases.accounts.forms import PagesAuthenticationForm

urlpatterns = [
    path(
        "auth/login/",
        auth_views.LoginView.as_view(authentication_form=PagesAuthenticationForm),
        name="login",
    ),
    path("auth/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("auth/", include("cases.accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("cases.api.urls")),
    # Dashboards live in analytics/: the overview (the landing figures) and the IP map.
    path("overview/", overview_page, name="overview"),
    path("analytics/", include("analytics.urls")),
    path("", include("cases.urls")),
]
