"""callrecon receiver: the Flask app vendors push call outcomes to.

Imports happen inside create_app on purpose: gunicorn imports `receiver.gunicorn_conf` in the
master before forking, and prometheus-client must not be imported until the workers run.
"""

from __future__ import annotations


def create_app(settings=None, vendors=None):
    """Build the app for `vendors` (a receiver.registry.Registry; default: the vendors callrecon ships with);
    settings default to the environment (read once, here)."""
    import logging

    from flask import Flask

    from receiver import logs
    from receiver.config import Settings
    from receiver.database.pool import make_pool
    from receiver.landing import inbox
    from receiver.landing.groupcommit import GroupCommit
    from receiver.vendors import VENDORS
    from receiver.web import callbacks, console, errors, openapi, ops

    vendors = vendors or VENDORS
    settings = settings or Settings.from_env(vendors=vendors)
    logs.configure(settings)
    app = Flask(__name__)
    app.config["CALLRECON_SETTINGS"] = settings
    app.extensions["callrecon_vendors"] = vendors
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["callrecon_pool"] = make_pool(settings)
    if settings.ops_tokens and settings.ops_database_url:
        ops_pool = make_pool(settings, "callrecon-ops", url=settings.ops_database_url)
        app.extensions["callrecon_ops_pool"] = ops_pool
        app.extensions["callrecon_pool"].companions.append(ops_pool)
    if settings.ops_tokens and settings.console_database_url:
        # The pages' reads, on a hot standby say (receiver/web/console/__init__.py, reads()).
        pages_pool = make_pool(settings, "callrecon-console", url=settings.console_database_url)
        app.extensions["callrecon_console_pool"] = pages_pool
        app.extensions["callrecon_pool"].companions.append(pages_pool)
    app.extensions["callrecon_raw_writer"] = GroupCommit(app.extensions["callrecon_pool"], inbox.store_many)
    errors.register(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(openapi.bp)
    console.install(app, settings)
    # The callback route is plain WSGI in front of Flask (receiver/web/callbacks.py says why).
    app.wsgi_app = callbacks.CallbackRoute(app)
    if not ops.accepting(settings, vendors):
        logging.getLogger("callrecon.ops").warning(ops.no_tokens_message(vendors))
    return app
