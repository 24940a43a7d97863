"""`vectorwan ui [--root DIR] [--host H] [--port P] [--auth USER:PASS]`: the workflow in a local page."""

from __future__ import annotations

import os
from pathlib import Path

from vectorwan.errors import UserError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(p) -> None:
    p.add_argument("--root", default=".", help="the folder the page may read and write (default: here); "
                                               "outputs go to ROOT/outputs/")
    p.add_argument("--model", default="toy", help="the model the page starts with (tiny | toy | folder | hub id)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", default=os.environ.get("VECTORWAN_UI_AUTH"), metavar="USER:PASS",
                   help="require a login (needed with a --host other than this machine); "
                        "or set VECTORWAN_UI_AUTH")


def check_access(host: str, auth: str | None) -> tuple[str, str] | None:
    """The login, and the rule that a page reachable from the network has one."""
    login = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise UserError("--auth: give USER:PASS (both non-empty)")
        login = (user, password)
    if host not in LOOPBACK and login is None:
        raise UserError(f"--host {host}: reachable from the network, so the page needs a login; "
                        "add --auth USER:PASS (or set VECTORWAN_UI_AUTH)")
    return login


def run(args) -> int:
    login = check_access(args.host, args.auth)
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: use 1..65535")
    root = Path(args.root)
    if not root.is_dir():
        raise UserError(f"--root {args.root}: no such folder; give an existing folder")
    # before gradio is imported: its copies of shown files stay in the root, and it never calls home
    os.environ.setdefault("GRADIO_TEMP_DIR", str((root / "outputs" / ".gradio").resolve()))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from vectorwan.ui.app import serve  # gradio: not for --help

    serve(args.root, model=args.model, host=args.host, port=args.port, auth=login)
    return 0
