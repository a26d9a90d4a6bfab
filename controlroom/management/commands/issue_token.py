from django.core.management.base import BaseCommand, CommandParser

from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role


class Command(BaseCommand):
    help = "Create USERNAME if missing, give it ROLE, and print a new bearer API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=[role.value for role in Role], required=True)
        parser.add_argument("--name", default="cli", help="a label for the token")

    def handle(self, *args: object, **options: str) -> None:
        user = user_ensure(username=options["username"], role=Role(options["role"]))
        self.stdout.write(token_issue(user=user, name=options["name"]))
