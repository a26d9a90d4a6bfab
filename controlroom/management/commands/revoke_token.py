from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlroom import accounts


class Command(BaseCommand):
    help = (
        "Revoke the API token with PREFIX (as listed: its first 10 characters), or with "
        "--user USERNAME --all every token of a user. A revoked token stops authenticating at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", nargs="?", help="the token's prefix, e.g. cr_AbC1234")
        parser.add_argument("--user", help="the owner (required with --all; narrows a prefix)")
        parser.add_argument("--all", action="store_true", help="every live token of --user")

    def handle(self, *args: object, **options: str | bool | None) -> None:
        prefix, username, everything = options["prefix"], options["user"], options["all"]
        if bool(prefix) == bool(everything):
            raise CommandError("give either a token PREFIX or --user USERNAME --all")
        owner = None
        if username:
            owner = get_user_model().objects.filter(username=username).first()
            if owner is None:
                raise CommandError(f"no user {username!r}")
        if everything:
            if owner is None:
                raise CommandError("--all needs --user USERNAME")
            count = accounts.token_revoke_all(user=owner)
            self.stdout.write(f"revoked {count} token(s) of {owner.get_username()}")
            return
        rows = accounts.token_live(prefix=str(prefix), owner=owner)
        if not rows:
            raise CommandError(f"no live token with prefix {prefix!r}")
        if len(rows) > 1:
            raise CommandError(f"{len(rows)} live tokens have prefix {prefix!r}; add --user")
        accounts.token_revoke(token=rows[0])
        self.stdout.write(f"revoked {rows[0].prefix} ({rows[0].name}) of {rows[0].user}")
