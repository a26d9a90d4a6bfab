from django.apps import AppConfig


class ControlRoomConfig(AppConfig):
    name = "controlroom"
    verbose_name = "Control Room"
