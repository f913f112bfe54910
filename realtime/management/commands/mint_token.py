"""`manage.py mint_token`: print a user or visitor token signed with JWT_SECRET, for local use."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.auth import mint_token


class Command(BaseCommand):
    help = (
        "Print a JWT the server accepts. A user: --uid U --account A --scope 'conversation'. "
        "A visitor: --visitor V --account A --conversation C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--uid", help="user id (a platform user token)")
        parser.add_argument("--visitor", help="visitor id (a live-chat visitor token)")
        parser.add_argument("--account", help="account id")
        parser.add_argument("--workspace", help="workspace id (users)")
        parser.add_argument("--scope", default="", help="space-separated scopes (users)")
        parser.add_argument("--assignment", help="assignment claim as a JSON object (users)")
        parser.add_argument("--conversation", help="conversation id (visitors)")
        parser.add_argument(
            "--ttl", type=int, default=3600, help="seconds until it expires (0: never)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["uid"]) == bool(options["visitor"]):
            raise CommandError("give exactly one of --uid and --visitor")
        claims = visitor_claims(options) if options["visitor"] else user_claims(options)
        self.stdout.write(mint_token(claims, ttl_s=options["ttl"] or None))


def user_claims(options: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {"uid": options["uid"]}
    if options["scope"]:
        claims["scope"] = options["scope"]
    if options["account"]:
        claims["account_id"] = options["account"]
    if options["workspace"]:
        claims["workspace_id"] = options["workspace"]
    if options["assignment"]:
        try:
            claims["assignment"] = json.loads(options["assignment"])
        except ValueError as exc:
            raise CommandError(f"--assignment is not JSON: {exc}") from None
    return claims


def visitor_claims(options: dict[str, Any]) -> dict[str, Any]:
    if not options["account"] or not options["conversation"]:
        raise CommandError("a visitor token needs --account and --conversation")
    return {
        "type": "visitor",
        "visitor_id": options["visitor"],
        "account_id": options["account"],
        "conversation_id": options["conversation"],
    }
