from django.apps import AppConfig
from django.core import checks

from controlroom.mail import email_delivery_check


class ControlRoomConfig(AppConfig):
    name = "controlroom"
    verbose_name = "Control Room"

    def ready(self) -> None:
        checks.register(email_delivery_check, "email")
