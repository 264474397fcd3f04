"""Manage CSR and admin accounts from the command line.

::

    python -m handoff.service.accounts create --username alice --role csr [--password-stdin]
    python -m handoff.service.accounts set-password --username alice [--password-stdin]
    python -m handoff.service.accounts list
    python -m handoff.service.accounts delete --username alice

Redis comes from ``REDIS_URL`` (or ``handoff.yml``). Without ``--password-stdin``
the password is prompted for twice without echo. ``set-password`` (a forgotten or
leaked password) and ``delete`` end every session of the account at once: its tokens
are refused from the next request on, and its open console socket within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import List, Optional

from handoff.core.auth import ROLES
from handoff.core.errors import DomainError
from handoff.core.resources import Resources
from handoff.core.settings import load_config


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m handoff.service.accounts", description="Manage CSR and admin accounts."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument("--role", choices=ROLES, default="csr")
    create.add_argument("--display-name", help="name customers see (default: the username)")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    reset = commands.add_parser(
        "set-password", help="set a new password and log the account out everywhere"
    )
    reset.add_argument("--username", required=True)
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    commands.add_parser("list", help="list accounts")
    delete = commands.add_parser("delete", help="delete an account")
    delete.add_argument("--username", required=True)
    return parser.parse_args(argv)


def read_password(from_stdin: bool) -> str:
    """The new password, from stdin or an interactive prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("passwords do not match")
    return first


async def run(args: argparse.Namespace, password: Optional[str] = None) -> str:
    """Execute one command and return what to print."""
    config = load_config()
    resources = Resources(config)
    auth = resources.auth
    try:
        if args.command == "create":
            who = await auth.create_account(
                args.username, password or "", args.role, args.display_name
            )
            return f"created {who.role} account {who.username!r}"
        if args.command == "set-password":
            await auth.set_password(args.username, password or "")
            return f"password of {args.username!r} changed; its tokens are revoked"
        if args.command == "list":
            rows = await auth.list_accounts()
            return "\n".join(f"{a.username}\t{a.role}\t{a.display_name}" for a in rows)
        deleted = await auth.delete_account(args.username)
        return f"deleted {args.username!r}" if deleted else f"no account {args.username!r}"
    finally:
        await resources.close()


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    wants_password = args.command in ("create", "set-password")
    password = read_password(args.password_stdin) if wants_password else None
    try:
        print(asyncio.run(run(args, password)))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
