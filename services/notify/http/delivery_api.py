"""Notify's JSON API under /api/v1: the delivery log, resending, template previews (staff only)."""

from __future__ import annotations

from typing import Any, cast

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from services.notify import delivery, delivery_log
from services.notify.bootstrap import Notify
from services.notify.http.schemas import (
    DeliveryDetailSchema,
    DeliveryPageSchema,
    DeliveryQuerySchema,
    PreviewQuerySchema,
    PreviewSchema,
)
from shared.auth import Staff, requires_role

blp = Blueprint(
    "deliveries", __name__, url_prefix="/api/v1", description="The delivery log of notifications."
)


def _notify() -> Notify:
    return current_app.extensions["notify"]


def _staff() -> Staff:
    return cast(Staff, current_user)


@blp.route("/deliveries")
class Deliveries(MethodView):
    decorators = [requires_role(*delivery_log.ADMIN_ROLES)]

    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Search deliveries by case reference, recipient address, status or channel (newest first).

        Addresses are masked. Studio leads see their studio's deliveries; district admins all.
        """
        return delivery_log.search(_notify(), _staff(), query)


@blp.route("/deliveries/<string:delivery_id>")
class Delivery(MethodView):
    decorators = [requires_role(*delivery_log.ADMIN_ROLES)]

    @blp.response(200, DeliveryDetailSchema)
    @blp.alt_response(404, description="No such delivery (or not yours to see).")
    def get(self, delivery_id: str) -> dict[str, Any]:
        """One delivery with its content, every attempt and the provider's answers."""
        delivery = delivery_log.find(_notify(), _staff(), delivery_id)
        if delivery is None:
            abort(404, message="No such delivery.")
        return delivery


@blp.route("/deliveries/<string:delivery_id>/resend")
class Resend(MethodView):
    decorators = [requires_role(*delivery_log.ADMIN_ROLES)]

    @blp.response(202, DeliveryDetailSchema)
    @blp.alt_response(404, description="No such delivery (or not yours to see).")
    def post(self, delivery_id: str) -> dict[str, Any]:
        """Send a delivery again: a new delivery with the same content, linked by `resend_of`."""
        if delivery_log.find(_notify(), _staff(), delivery_id) is None:
            abort(404, message="No such delivery.")
        copy = delivery.resend(_notify(), delivery_id, requested_by=_staff().user_id)
        return delivery_log.with_mask(copy)  # type: ignore[arg-type]


@blp.route("/templates/preview")
class TemplatePreview(MethodView):
    decorators = [requires_role(*delivery_log.ADMIN_ROLES)]

    @blp.arguments(PreviewQuerySchema, location="query")
    @blp.response(200, PreviewSchema)
    @blp.alt_response(404, description="No such template.")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """A template rendered with fictional data, as one channel would send it."""
        rendered = delivery_log.preview(_notify(), query["template"], query["language"], query["channel"])
        if rendered is None:
            abort(404, message="No such template.")
        return rendered
