"""The SEPM REST API of the simulator (``/sepm/api/v1/``), served on every server's REST port.

Endpoints (all share one site database, as a real site's servers do):

| method | path | answer |
|---|---|---|
| POST | identity/authenticate | 200 `UserToken`; 400 bad credentials or locked account |
| POST | identity/logout | 204 |
| GET | version | 200 ``{API_SEQUENCE, API_VERSION, version}``; needs no token, as on SEPM |
| GET | computers | 200 `Page` of `Computer` (``pageIndex`` 1-based, ``pageSize`` 20, ``lastUpdate``) |
| GET | groups | 200 `Page` of `Group` (``pageSize`` 25; ``mode`` list, or tree: roots with ``childGroups``) |
| GET | groups/{id}/locations | 200 array of ``"<name>:<uri>/<locationId>"`` strings; 410 unknown group |
| GET, PATCH | groups/{g}/locations/{l}/settings | 200 `Settings` (PATCH answers the settings after it) |
| PATCH | groups/{id} | 200 `Group` after the change (body `GroupPayload`, ``name`` required) |
| GET | replication/status | 200 `ReplicationStatusResponse` |

Rules:
- Every other path answers 404, a known path with another method 405; every error has SEPM's body
  ``{"errorCode", "appErrorCode", "errorMessage"}``.
- Logon: ``domain`` "", null, absent, ``Default`` (any case) or the domain's id all name the site's one
  domain (third-party clients send null); the token names it ``Default``. Any other type answers 400.
- A bearer token is required everywhere except authenticate and version: 401 when it is missing,
  unknown, logged out or expired (tokens expire on the simulated clock).
- ``lastUpdate=T`` returns only computers whose ``lastUpdateTime`` > T (0 or absent: all of them).
- PATCH settings accepts a partial `GroupSettingsConfiguration` holding only what the simulator
  models: ``communication_settings.{sem_server.name, pull_mode_heartbeat_freq_in_seconds, mode}``
  and ``general_settings.security_settings.secure_communications`` (``sem_server.description`` is
  accepted and ignored, so a GET body can be sent back). Any other key answers 400 rather than being
  silently dropped: a controller must never believe a setting was applied when it was not.
- Faults (`reconciler.sim.faults`) are consulted before any of this, for every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.sim import rest_payloads as payloads
from reconciler.sim.errors import NotFound, SimError
from reconciler.sim.http import Request, Response, json_response, sepm_error
from reconciler.sim.rest_auth import LogonRefused, Session, Sessions

if TYPE_CHECKING:
    from reconciler.sim.engine import Site
    from reconciler.sim.faults import Faults
    from reconciler.sim.views import ComputerView

API_PREFIX = payloads.API_BASE
COMPUTERS_PAGE_SIZE = 20
GROUPS_PAGE_SIZE = 25
_SETTINGS_KEYS: Mapping[str, Any] = {
    "communication_settings": {
        "sem_server": {"name": None, "description": None},
        "pull_mode_heartbeat_freq_in_seconds": None,
        "mode": None,
    },
    "general_settings": {"security_settings": {"secure_communications": None}},
}


class RestApi:
    """Request handler for the REST listeners of one site."""

    def __init__(self, site: Site, *, sessions: Sessions, faults: Faults) -> None:
        self.site = site
        self.sessions = sessions
        self.faults = faults
        self._rank: dict[str, int] = {}

    def __call__(self, request: Request) -> Response:
        parts = request.segments_after(API_PREFIX)
        if parts is None:
            return sepm_error(404, "not found")
        injected = self.faults.intercept(request, resource="/".join(parts))
        if injected is not None:
            return injected
        try:
            return self._route(request, parts)
        except SimError as exc:
            return sepm_error(exc.status, exc.message)

    # -- routing --------------------------------------------------------------------------------

    def _route(self, request: Request, parts: list[str]) -> Response:
        method = request.method
        match parts:
            case ["identity", "authenticate"]:
                _allow(method, "POST")
                return self._authenticate(request)
            case ["version"]:
                _allow(method, "GET")
                return json_response(200, self.site.version())
        session = self._session(request)
        match parts:
            case ["identity", "logout"]:
                _allow(method, "POST")
                self.sessions.logout(session.token)
                return Response(204)
            case ["computers"]:
                _allow(method, "GET")
                return self._computers(request)
            case ["groups"]:
                _allow(method, "GET")
                return self._groups(request)
            case ["groups", group_id]:
                _allow(method, "PATCH")
                return self._patch_group(request, group_id, session)
            case ["groups", group_id, "locations"]:
                _allow(method, "GET")
                try:
                    locations = self.site.locations(group_id)
                except NotFound as exc:
                    # Broadcom documents 410 ("Cannot find the specified object") for this endpoint.
                    raise SimError(exc.message, status=410) from None
                return json_response(200, [payloads.location_entry(loc) for loc in locations])
            case ["groups", group_id, "locations", location_id, "settings"]:
                _allow(method, "GET", "PATCH")
                if method == "PATCH":
                    self._patch_settings(request, group_id, location_id, session)
                view = self.site.location_settings(group_id, location_id)
                return json_response(200, payloads.settings(view))
            case ["replication", "status"]:
                _allow(method, "GET")
                return json_response(200, self.site.replication_status())
        raise SimError("the requested resource was not found", status=404)

    def _session(self, request: Request) -> Session:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SimError("a bearer token is required", status=401)
        session = self.sessions.session_for(token.strip(), self.site.clock.now_ms())
        if session is None:
            raise SimError("the token is invalid or has expired", status=401)
        return session

    # -- identity -------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Response:
        body = _json_object(request)
        username, password, domain = body.get("username"), body.get("password"), body.get("domain")
        # Third-party clients send "domain": null for the default domain, and SEPM takes it as such.
        domain = "" if domain is None else domain
        if not isinstance(username, str) or not isinstance(password, str) or not isinstance(domain, str):
            raise SimError("username and password must be strings, domain a string or null", status=400)
        if domain.strip().lower() not in ("", payloads.DOMAIN_NAME.lower(), self.site.domain_id.lower()):
            raise SimError("invalid username or password", status=400)
        now = self.site.clock.now_ms()
        try:
            session = self.sessions.logon(username, password, now)
        except LogonRefused as exc:
            raise SimError(str(exc), status=400) from None
        token = payloads.user_token(
            session,
            domain=payloads.DOMAIN_NAME,
            domain_id=self.site.domain_id,
            server_time_ms=now,
            lifetime_s=self.sessions.token_lifetime_s,
            refresh_lifetime_s=self.sessions.refresh_lifetime_s,
        )
        return json_response(200, token)

    # -- reads ----------------------------------------------------------------------------------

    def _computers(self, request: Request) -> Response:
        page_index, page_size = _paging(request, COMPUTERS_PAGE_SIZE)
        last_update = _int_param(request, "lastUpdate", 0)
        if last_update < 0:
            raise SimError("lastUpdate must be an epoch time in milliseconds", status=400)
        views = self.site.computers(updated_since_ms=last_update or None)
        rank = self._computer_rank(views)
        views.sort(key=lambda v: rank[v.id])
        start = (page_index - 1) * page_size
        content = [
            payloads.computer(v, domain_id=self.site.domain_id) for v in views[start : start + page_size]
        ]
        body = payloads.page(
            content, page_index=page_index, page_size=page_size, total=len(views), sort="COMPUTER_NAME"
        )
        return json_response(200, body)

    def _computer_rank(self, views: list[ComputerView]) -> dict[str, int]:
        """Each client's position in SEPM's default order (computer name), cached between pages.

        Sorting 100,000 names for every page of a walk dominated the request; a client's name never
        changes, so the order is rebuilt only when a client appears that it does not know.
        """
        rank = self._rank
        if any(v.id not in rank for v in views):
            everyone = self.site.computers()
            ordered = sorted(everyone, key=lambda v: (v.name.lower(), v.id))
            rank = {v.id: position for position, v in enumerate(ordered)}
            self._rank = rank
        return rank

    def _groups(self, request: Request) -> Response:
        page_index, page_size = _paging(request, GROUPS_PAGE_SIZE)
        mode = _text_param(request, "mode", "list").lower()
        if mode not in ("list", "tree"):
            raise SimError("mode must be list or tree", status=400)
        views = self.site.groups()  # root first, tree order: stable across pages
        start = (page_index - 1) * page_size
        domain_id = self.site.domain_id
        if mode == "tree":
            roots = payloads.group_tree(views, domain_id=domain_id)
            content, total = roots[start : start + page_size], len(roots)
        else:
            content = [payloads.group(v, domain_id=domain_id) for v in views[start : start + page_size]]
            total = len(views)
        body = payloads.page(content, page_index=page_index, page_size=page_size, total=total, sort="NAME")
        return json_response(200, body)

    # -- writes ---------------------------------------------------------------------------------

    def _patch_group(self, request: Request, group_id: str, session: Session) -> Response:
        body = _json_object(request)
        unknown = set(body) - {"name", "description", "inherits"}
        if unknown:
            raise SimError(f"unknown GroupPayload field(s): {', '.join(sorted(unknown))}", status=400)
        name, description, inherits = body.get("name"), body.get("description"), body.get("inherits")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            raise SimError("GroupPayload.name is required (1 to 256 characters)", status=400)
        if description is not None and (not isinstance(description, str) or len(description) > 1024):
            raise SimError("GroupPayload.description must be a string of at most 1024 characters", status=400)
        if inherits is not None and not isinstance(inherits, bool):
            raise SimError("GroupPayload.inherits must be true or false", status=400)
        view = self.site.patch_group(
            group_id, inherits=inherits, name=name, description=description, actor=session.username
        )
        return json_response(200, payloads.group(view, domain_id=self.site.domain_id))

    def _patch_settings(self, request: Request, group_id: str, location_id: str, session: Session) -> None:
        body = _json_object(request)
        unknown = set(body) - {"configuration", "lockedoptions"}
        if unknown:
            raise SimError(f"unknown Settings field(s): {', '.join(sorted(unknown))}", status=400)
        if body.get("lockedoptions") not in (None, {}):
            raise SimError("the simulator does not model locked options", status=400)
        configuration = body.get("configuration")
        if not isinstance(configuration, dict):
            raise SimError("Settings.configuration must be an object", status=400)
        _check_keys(configuration, _SETTINGS_KEYS, "configuration")
        communication = configuration.get("communication_settings") or {}
        security = (configuration.get("general_settings") or {}).get("security_settings") or {}
        msl = (communication.get("sem_server") or {}).get("name")
        heartbeat = communication.get("pull_mode_heartbeat_freq_in_seconds")
        mode = communication.get("mode")
        secure = security.get("secure_communications")
        if msl is not None and (not isinstance(msl, str) or not msl):
            raise SimError("sem_server.name must be a non-empty string", status=400)
        if heartbeat is not None and (
            isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat <= 0
        ):
            raise SimError("pull_mode_heartbeat_freq_in_seconds must be a positive integer", status=400)
        if mode is not None and mode not in ("PULL", "PUSH"):
            raise SimError("communication_settings.mode must be PULL or PUSH", status=400)
        if secure is not None and not isinstance(secure, bool):
            raise SimError("secure_communications must be true or false", status=400)
        self.site.patch_location_settings(
            group_id,
            location_id,
            msl=msl,
            secure_communications=secure,
            heartbeat_seconds=heartbeat,
            mode=mode,
            actor=session.username,
        )


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise SimError(f"method {method} is not allowed here; use {' or '.join(allowed)}", status=405)


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        raise SimError("the request body is not valid JSON", status=400) from None
    if not isinstance(body, dict):
        raise SimError("the request body must be a JSON object", status=400)
    return body


def _check_keys(value: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    for key, item in value.items():
        if key not in allowed:
            raise SimError(
                f"{where}.{key} is not simulated; send only the settings the simulator models", status=400
            )
        shape = allowed[key]
        if shape is not None:
            if item is None:
                continue
            if not isinstance(item, dict):
                raise SimError(f"{where}.{key} must be an object", status=400)
            _check_keys(item, shape, f"{where}.{key}")


def _int_param(request: Request, name: str, default: int) -> int:
    values = request.query.get(name)
    if not values or values[0] == "":
        return default
    try:
        return int(values[0])
    except ValueError:
        raise SimError(f"query parameter {name} must be an integer", status=400) from None


def _text_param(request: Request, name: str, default: str) -> str:
    values = request.query.get(name)
    return values[0] if values and values[0] else default


def _paging(request: Request, default_size: int) -> tuple[int, int]:
    page_index = _int_param(request, "pageIndex", 1)
    page_size = _int_param(request, "pageSize", default_size)
    if page_index < 1:
        raise SimError("pageIndex is 1-based", status=400)
    if page_size < 1:
        raise SimError("pageSize must be at least 1", status=400)
    return page_index, page_size
