"""What the project adds to moto, inside the moto server process it owns.

moto 5.2 lacks some APIs the product calls (``DescribeAvailablePatches``, ``GetPatchBaseline``,
``UpdateMaintenanceWindow``, the Resource Data Sync APIs, ...) and answers others unlike AWS (tags
on patch baselines, patch-group registrations). Rather than teaching production code about the
stand-in, the stand-in learns the API: ``python -m sim.moto_ext --port P`` installs every module in
``EXTENSIONS`` into moto and then serves moto's WSGI application with werkzeug on 127.0.0.1.

An extension is a module with ``install(registry: Registry) -> None``. Through the registry it may

- add an AWS operation to a moto response class (``registry.operation``): the method reads
  ``json.loads(self.body)`` and returns the JSON text the real API returns, raising moto's
  exceptions (e.g. ``moto.ssm.exceptions.ValidationException``) for the real API's errors;
- replace what moto implements unlike the real API (``registry.replace``: an action of a response
  class, or a method of one of moto's models), saying why; the replacement is built from moto's
  original, so it can hand moto the cases moto gets right;
- add a *simulator route* ``/moto-api/sim/<name>`` (``registry.route``): how the simulator tells
  the stand-in what the real service would know (the patch catalog, ...). Handlers take the HTTP
  method and the parsed JSON body and return ``(status, JSON-able)``; nothing in ``plugins/`` or
  ``dags/`` ever calls these routes;
- register state to forget on ``POST /moto-api/reset`` (``registry.on_reset``), so a reset
  stand-in forgets everything, moto's own state and the extensions' alike.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SIM_ROUTE_PREFIX = "/moto-api/sim/"
EXTENSIONS = (
    "sim.moto_ext.available_patches",
    "sim.moto_ext.patch_baselines",
    "sim.moto_ext.maintenance_windows",
    "sim.moto_ext.resource_data_sync",
    "sim.moto_ext.glue_tables",
    "sim.moto_ext.athena",
)

RouteHandler = Callable[[str, Any], tuple[int, Any]]  # (HTTP method, JSON body or None) -> (status, JSON)


@dataclass
class Registry:
    """Collects what the extensions add, then applies it to moto (before the server starts)."""

    routes: dict[str, RouteHandler] = field(default_factory=dict)
    resets: list[Callable[[], None]] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)  # "Class.name" -> what moto gets wrong

    def operation(self, response_class: type, name: str, method: Callable[..., str]) -> None:
        """An AWS action moto lacks, as a method of its response class (snake_case action name)."""
        if hasattr(response_class, name):
            raise RuntimeError(f"{response_class.__name__}.{name} exists in moto: extend nothing that works")
        setattr(response_class, name, method)

    def replace(self, owner: type, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
                why: str) -> None:
        """Something moto defines unlike the real API (``why``): ``wrap(moto's own)`` takes its place, so
        the replacement can hand moto the cases it gets right."""
        original = owner.__dict__.get(name)
        if original is None:
            raise RuntimeError(f"{owner.__name__}.{name} is not defined by moto: nothing to replace (moto changed?)")
        key = f"{owner.__name__}.{name}"
        if key in self.replaced:
            raise RuntimeError(f"{key} replaced twice")
        setattr(owner, name, wrap(original))
        self.replaced[key] = why

    def route(self, name: str, handler: RouteHandler) -> None:
        if name in self.routes:
            raise RuntimeError(f"simulator route {name!r} registered twice")
        self.routes[name] = handler

    def on_reset(self, forget: Callable[[], None]) -> None:
        self.resets.append(forget)

    def apply(self) -> None:
        """Mount the simulator routes under /moto-api/sim/ and chain the resets to moto's."""
        from moto.moto_api._internal import urls
        from moto.moto_api._internal.models import MotoAPIBackend

        for name, handler in self.routes.items():
            urls.url_paths["{0}" + SIM_ROUTE_PREFIX + name] = _moto_handler(handler)
        moto_reset = MotoAPIBackend.reset
        resets = tuple(self.resets)

        def reset(backend: MotoAPIBackend) -> None:
            moto_reset(backend)
            for forget in resets:
                forget()

        MotoAPIBackend.reset = reset  # type: ignore[method-assign]


def _moto_handler(handler: RouteHandler) -> Callable[[Any, str, Any], tuple[int, dict[str, str], str]]:
    """A route handler in moto's (request, full_url, headers) shape, with JSON in and out."""

    def serve(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        raw = request.get_data() if hasattr(request, "get_data") else request.body
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": f"body is not JSON: {exc}"})
        try:
            status, answer = handler(request.method, body)
        except ValueError as exc:  # a malformed simulator request: say why
            status, answer = 400, {"error": str(exc)}
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    serve.__name__ = f"sim_{handler.__name__}"  # moto names the Flask endpoint after the view
    return serve


def install(extensions: tuple[str, ...] = EXTENSIONS) -> Registry:
    """Install every extension module into moto; returns the registry (for the server's banner)."""
    registry = Registry()
    for module in extensions:
        importlib.import_module(module).install(registry)
    registry.apply()
    return registry
