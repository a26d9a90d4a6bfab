from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from controlroom import views
from controlroom.api import api
from controlroom.observability import prometheus

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", prometheus.metrics_view, name="metrics"),
    path(
        "login/", auth_views.LoginView.as_view(template_name="controlroom/login.html"), name="login"
    ),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("account/tokens/", views.token_list, name="token_list"),
    path("account/tokens/<str:prefix>/revoke/", views.token_revoke, name="token_revoke"),
    path("api/", api.urls),
    # Before the admin's own: its logout closes the session's websockets too.
    path("admin/logout/", views.LogoutView.as_view(), name="admin_logout"),
    path("admin/", admin.site.urls),
    path("", include("agents.urls")),
    path("", include("flows.urls")),
    path("", include("flows.triggers.urls")),
]
