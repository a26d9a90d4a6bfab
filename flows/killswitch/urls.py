"""The kill switch's HTML actions (included by ``flows.urls``; names unchanged)."""

from django.urls import path

from flows.killswitch import views

urlpatterns = [
    path("flows/<slug:slug>/switch/", views.flow_switch, name="flow_switch"),
    path("kill-switch/", views.kill_switch, name="kill_switch"),
]
