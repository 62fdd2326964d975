"""The Flask app factory: configuration, the connection pool, blueprints, error handling.

Nothing happens at import time; the pool opens on the first request, after the server has
forked its workers, so each worker has its own connections.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from stations import db, settings
from web import auth, database, errors, observability, pools, ratelimit, security, static_files
from web.api import api
from web.editing_api import editing
from web.features_api import features
from web.health import health
from web.json_provider import OrjsonProvider
from web.map_data import map_data
from web.offline import offline
from web.pages import pages
from web.planner_pages import planner
from web.planning_api import planning
from web.plans_api import plans_api
from web.search_api import search_api
from web.sign_in_pages import signed_in
from web.subsidy_api import subsidy
from web.union_pages import union

# Once per process: the limits belong to the blueprints, whichever app they serve.
ratelimit.public(api)
ratelimit.public(features)
ratelimit.public(pages)
ratelimit.public(map_data)
ratelimit.public(search_api)
ratelimit.planner(planning)
ratelimit.planner(plans_api)
ratelimit.planner(subsidy)
ratelimit.planner(planner)
ratelimit.planner(editing)
ratelimit.planner(signed_in)
ratelimit.planner(union)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides (tests pass ``DATABASE_URL``)."""
    app = Flask(__name__, static_url_path=static_files.url_path())
    app.json = OrjsonProvider(app)
    app.config.update(
        DATABASE_URL=db.database_url(),
        POOL_SIZE=settings.value("STATIONS_POOL_SIZE"),
        PAGE_LIMIT_MAX=settings.value("STATIONS_PAGE_LIMIT_MAX"),
        # Flask's own default is None (no limit), so this is set, not defaulted
        MAX_CONTENT_LENGTH=settings.value("STATIONS_MAX_BODY_MB") * 1024 * 1024,
        PUBLIC_URL=settings.value("STATIONS_PUBLIC_URL"),
    )
    app.config.update(config or {})
    app.config["PUBLIC_URL"] = settings.checked_public_url(app.config["PUBLIC_URL"])
    auth.init_app(app)
    security.init_app(app)
    observability.init_app(app)
    ratelimit.init_app(app)
    errors.register(app)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(editing, url_prefix="/api/v1")
    app.register_blueprint(features, url_prefix="/api/v1")
    app.register_blueprint(planning, url_prefix="/api/v1/coverage")
    app.register_blueprint(plans_api, url_prefix="/api/v1")
    app.register_blueprint(subsidy, url_prefix="/api/v1")
    app.register_blueprint(map_data, url_prefix="/api/v1")
    app.register_blueprint(search_api, url_prefix="/api/v1")
    app.register_blueprint(pages)
    app.register_blueprint(offline)
    app.register_blueprint(health)
    app.register_blueprint(planner)
    app.register_blueprint(signed_in)
    app.register_blueprint(union)

    pools.init_app(app)
    database.init_app(app)
    static_files.init_app(app)
    proxies = int(app.config.get("TRUSTED_PROXIES", settings.value("STATIONS_TRUSTED_PROXIES")))
    if proxies:
        # the client's address (rate limits), scheme and host (links, the sign-in form's
        # same-origin check) as the proxies in front say, trusting only that many hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    return app
