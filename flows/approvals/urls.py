"""The approvals inbox and earned autonomy (included by ``flows.urls``; names unchanged:
``approval_list`` is the inbox, a name that predates it)."""

from django.urls import path

from flows.approvals import views

urlpatterns = [
    path(
        "flows/<slug:slug>/approvals/<str:node_id>/autonomy/",
        views.approval_autonomy,
        name="approval_autonomy",
    ),
    path("approvals/", views.approval_list, name="approval_list"),
    path("approvals/insights/", views.approval_insights, name="approval_insights"),
    path("approvals/bulk/", views.approval_bulk, name="approval_bulk"),
    path("approvals/<int:approval_id>/", views.approval_detail, name="approval_detail"),
    path("approvals/<int:approval_id>/decide/", views.approval_decide, name="approval_decide"),
    path(
        "approvals/<int:approval_id>/reassign/",
        views.approval_reassign,
        name="approval_reassign",
    ),
    path("approvals/<int:approval_id>/diff/", views.approval_diff, name="approval_diff"),
    path("approvals/<int:approval_id>/seen/", views.approval_seen, name="approval_seen"),
]
