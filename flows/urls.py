from django.urls import include, path

from flows import views
from flows.editor import views as editor
from flows.roi import views as roi
from flows.views import home

urlpatterns = [
    path("", home.home_page, name="home"),
    path("home/panels/", home.home_panels, name="home_panels"),
    path("home/runs/<uuid:run_id>/requeue/", home.home_run_requeue, name="home_run_requeue"),
    path("home/runs/<uuid:run_id>/cancel/", home.home_run_cancel, name="home_run_cancel"),
    path("flows/", views.flow_list, name="flow_list"),
    path("flows/new/", editor.flow_new, name="flow_new"),
    path("flows/<slug:slug>/", views.flow_detail, name="flow_detail"),
    path("flows/<slug:slug>/runs/", views.flow_run_start, name="flow_run_start"),
    path("flows/<slug:slug>/edit/", editor.flow_editor, name="flow_editor"),
    path("flows/<slug:slug>/roi/", roi.flow_roi, name="flow_roi"),
    path("flows/<slug:slug>/roi.csv", roi.flow_roi_csv, name="flow_roi_csv"),
    path("roi/", roi.roi_leaderboard, name="roi_leaderboard"),
    path("roi/export.csv", roi.roi_leaderboard_csv, name="roi_leaderboard_csv"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:run_id>/steps/<int:step_id>/", views.step_detail, name="step_detail"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<uuid:run_id>/retry/", views.run_retry, name="run_retry"),
    # The approvals inbox and the kill switch's actions: their packages' URLconfs.
    path("", include("flows.approvals.urls")),
    path("", include("flows.killswitch.urls")),
]
