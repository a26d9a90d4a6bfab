from django.urls import path

from flows import views, views_editor
from flows.views import home, roi
from flows.views import killswitch as killswitch_views

urlpatterns = [
    path("", home.home_page, name="home"),
    path("home/panels/", home.home_panels, name="home_panels"),
    path("home/runs/<uuid:run_id>/requeue/", home.home_run_requeue, name="home_run_requeue"),
    path("home/runs/<uuid:run_id>/cancel/", home.home_run_cancel, name="home_run_cancel"),
    path("flows/", views.flow_list, name="flow_list"),
    path("flows/new/", views_editor.flow_new, name="flow_new"),
    path("flows/<slug:slug>/", views.flow_detail, name="flow_detail"),
    path("flows/<slug:slug>/runs/", views.flow_run_start, name="flow_run_start"),
    path("flows/<slug:slug>/edit/", views_editor.flow_editor, name="flow_editor"),
    path("flows/<slug:slug>/switch/", killswitch_views.flow_switch, name="flow_switch"),
    path("kill-switch/", killswitch_views.kill_switch, name="kill_switch"),
    path("flows/<slug:slug>/roi/", roi.flow_roi, name="flow_roi"),
    path("flows/<slug:slug>/roi.csv", roi.flow_roi_csv, name="flow_roi_csv"),
    path("roi/", roi.roi_leaderboard, name="roi_leaderboard"),
    path("roi/export.csv", roi.roi_leaderboard_csv, name="roi_leaderboard_csv"),
    path(
        "flows/<slug:slug>/approvals/<str:node_id>/autonomy/",
        views.approval_autonomy,
        name="approval_autonomy",
    ),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:run_id>/steps/<int:step_id>/", views.step_detail, name="step_detail"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<uuid:run_id>/retry/", views.run_retry, name="run_retry"),
    # The approvals inbox (``approval_list`` is the inbox; the name predates it).
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
