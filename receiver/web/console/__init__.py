"""The operator's console at /ops: server-rendered pages over the same tables, views and actions as the CLI.

It is part of the receiver's Flask app (one process to run, one pool) and so may not import the
reconciler. What it shows it reads with its own bounded SQL from the views analysts use
(completeness_daily, reconcile_gave_up, call) and from the ledgers the registry declares
(receiver.work); what it changes goes through receiver code the CLI uses too: replay
(receiver.landing.replay, `callrecon replay`) and the work actions (receiver.work, `callrecon
items`). Pages work without JavaScript: every action is a form POST with a CSRF token.

Pages only read, so they may read a hot standby (CONSOLE_DATABASE_URL, `reads()`), which spares the
primary that takes callbacks; actions always run on the primary (`pool()`), then wait briefly for
the standby to replay them, so the page an action redirects to shows what it did.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from flask import Blueprint, Response, current_app, flash, render_template
from markupsafe import Markup, escape
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from receiver.database import standby
from receiver.landing.masking import mask_body, mask_text

bp = Blueprint("console", __name__, url_prefix="/ops", template_folder="templates")
log = logging.getLogger("callrecon.console")


def settings():
    """The app's settings (read once at start-up)."""
    return current_app.config["CALLRECON_SETTINGS"]


def vendors():
    """The app's vendor registry (create_app's `vendors`): what the pages list and which steps they show."""
    return current_app.extensions["callrecon_vendors"]


def pool():
    """Where the console acts (and reads what an action needs): OPS_DATABASE_URL's login (the reconciler
    role's rights), else the worker's. Always the primary."""
    return current_app.extensions.get("callrecon_ops_pool") or current_app.extensions["callrecon_pool"]


def reads():
    """Where the pages read: CONSOLE_DATABASE_URL (a hot standby, say), else where the console acts.

    A page only reads, so it may run on a standby; nothing a GET runs may write.
    """
    return current_app.extensions.get("callrecon_console_pool") or pool()


# How long an action waits for the standby the pages read to replay it, so the page it redirects to shows it.
CATCH_UP_S = 2.0


def caught_up() -> None:
    """After an action on the primary: wait for CONSOLE_DATABASE_URL's standby to replay it (CATCH_UP_S at
    most); if it does not, the next page may not show the change yet, and the operator is told so."""
    pages = current_app.extensions.get("callrecon_console_pool")
    if pages is None:
        return
    try:
        with pool().connection() as conn:
            position = standby.primary_lsn(conn)
        if standby.wait_for_replay(pages, position, CATCH_UP_S):
            return
        why = f"is more than {CATCH_UP_S:g} s behind"
    except (psycopg.Error, PoolTimeout) as exc:
        why = f"did not answer ({type(exc).__name__})"
    flash(
        f"Done, but the database the pages read (CONSOLE_DATABASE_URL) {why}: the pages may show the change "
        "only later. `callrecon status` shows the standby's lag.",
        "error",
    )


def now() -> dt.datetime:
    """The page's clock: the app's CALLRECON_CLOCK when a test pins one, else the system's (UTC)."""
    clock = current_app.config.get("CALLRECON_CLOCK")
    return clock() if clock else dt.datetime.now(dt.timezone.utc)


@bp.app_template_filter("code")
def code(text) -> Markup:
    """Text with its `backticked` parts as <code>: a command or value to copy, set apart (the rest escaped)."""
    parts = str(escape(text or "")).split("`")
    return Markup("".join(f"<code>{part}</code>" if n % 2 else part for n, part in enumerate(parts)))


@bp.app_template_filter("clean")
def clean(text) -> str:
    """Stored text fit to show: every configured secret and any api-key field's value masked.

    Bodies were masked before they were stored, but a row stored before a key was configured (or
    written by hand) may still hold one, so the console masks again, on the raw text, before HTML
    escaping hides the quotes the key-based pattern looks for.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    return mask_body(text.encode("utf-8", "replace"), settings().secret_values()).decode("utf-8", "replace")


def page(template: str, status: int = 200, **context) -> Response:
    """Render a console page; a last pass masks any configured secret that reached the HTML anyhow."""
    html = render_template(f"console/{template}", now=now(), **context)
    return Response(mask_text(html, settings().secret_values()), status=status, mimetype="text/html")


@bp.app_template_filter("age")
def age(value) -> str:
    """A duration for people: 45 s, 12 min, 5.2 h, 3.1 d (a timedelta or seconds; '-' for none)."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "min" else 1):
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@bp.app_template_filter("capped")
def capped(count, cap) -> str:
    """A count read with a cap (receiver.work.counts): "10000+" when it reached the cap, else the count."""
    return f"{count}+" if cap is not None and count >= cap else str(count)


@bp.app_template_filter("utc")
def utc(value) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS' in UTC ('-' for none)."""
    return "-" if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# No script, no frame, no outside asset: the pages need inline styles, their own forms and data: SVG only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@bp.after_request
def _headers(response: Response) -> Response:
    """Console pages are never framed (its buttons cannot be clickjacked) nor cached (they show live data)."""
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.errorhandler(HTTPException)
def console_error(exc: HTTPException):
    """Errors inside the console as a page saying what to do (404s of a disabled console stay bare)."""
    if not settings().ops_tokens:
        return exc
    return page("error.html", status=exc.code or 500, code=exc.code, message=exc.description)


def install(app, app_settings) -> None:
    """Mount the console; without OPS_TOKENS it stays a 404 and the log says how to enable it."""

    access.configure(app, app_settings)
    app.register_blueprint(bp)
    if not app_settings.ops_tokens:
        log.info(
            "the operator console at /ops is off (404): set OPS_TOKENS to one or more long random tokens, "
            "comma-separated, to enable it (docs/console.md)"
        )


# The pages register their routes on bp.
from receiver.web.console import access, completeness, events, journey, overview, work  # noqa: E402, F401
