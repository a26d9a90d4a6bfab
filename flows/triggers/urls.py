from django.urls import path

from flows.triggers import views

urlpatterns = [
    path("forms/<slug:slug>/", views.form_trigger, name="trigger_form"),
    path("flows/<slug:slug>/start/", views.manual_start, name="trigger_manual_start"),
]
