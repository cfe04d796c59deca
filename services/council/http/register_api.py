"""The household register as JSON under /api/v1/communities/<community>/register.

Every endpoint needs a staff token (cookie or `Authorization: Bearer`) with a council role in the
community (district admins: any community). Lists mask names and phones; reading one flat in full
is logged in council's access log. Errors have the one Concord shape (`shared.http`); a refused
file's rows appear as `errors["rows.<row>.<field>"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.council import access, register
from services.council.domain.register import RegisterFileError, RowError
from services.council.http.context import current_council, current_staff
from services.council.http.schemas import (
    AccessSchema,
    FlatPatchSchema,
    FlatQuerySchema,
    FlatSchema,
    ImportedSchema,
    PreviewOutSchema,
    UploadSchema,
)
from services.council.spreadsheets import read_table
from shared.auth import requires_role

blp = Blueprint(
    "register_api",
    __name__,
    url_prefix="/api/v1/communities/<community>/register",
    description="The household register: flats, owners, areas; import from CSV or XLSX.",
)
T = TypeVar("T")


def row_errors(errors: Sequence[RowError]) -> dict[str, list[str]]:
    """Row problems in the one error shape: `rows.<row>.<field>` → reasons."""
    out: dict[str, list[str]] = {}
    for error in errors:
        out.setdefault(f"rows.{error.row}.{error.field or 'row'}", []).append(error.reason)
    return out


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except register.NotAllowed as err:
        abort(403, message=str(err))
    except register.NotFound as err:
        abort(404, message=str(err))
    except register.Refused as err:
        if all(error.row == 0 for error in err.errors):  # one flat's edit: field → reasons
            fields: dict[str, list[str]] = {}
            for error in err.errors:
                fields.setdefault(error.field or "_schema", []).append(error.reason)
            abort(422, message="The flat has invalid fields; nothing was changed.", errors=fields)
        abort(422, message="The file has bad rows; nothing was imported.", errors=row_errors(err.errors))
    except RegisterFileError as err:
        abort(422, message=f"The file cannot be read as a register: {err}", errors={"file": [str(err)]})
    raise AssertionError("unreachable")


def _table(upload: dict[str, Any]) -> list[list[str]]:
    file = upload["file"]
    return read_table(file.filename or "", file.read())


@blp.route("/flats")
class Flats(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.arguments(FlatQuerySchema, location="query")
    @blp.response(200, FlatSchema(many=True))
    def get(self, query: dict[str, Any], community: str) -> list[dict[str, Any]]:
        """The community's flats (a building leader: their buildings), names and phones masked."""
        return _call(
            lambda: register.list_flats(current_council(), community, current_staff(), query.get("building"))
        )


@blp.route("/flats/<flat_id>")
class Flat(MethodView):
    @requires_role(*access.COUNCIL_ROLES)
    @blp.response(200, FlatSchema)
    def get(self, community: str, flat_id: str) -> dict[str, Any]:
        """One flat: in full (and logged) for those who keep the register, masked for others."""
        return _call(lambda: register.get_flat(current_council(), community, flat_id, current_staff()))

    @requires_role(*access.REGISTER_EDITORS)
    @blp.arguments(FlatPatchSchema)
    @blp.response(200, FlatSchema)
    @blp.alt_response(422, description="A field is invalid; nothing was changed.")
    def patch(self, changes: dict[str, str], community: str, flat_id: str) -> dict[str, Any]:
        """Change a flat's area, owners, phones, owner key, occupancy or developer-held mark."""
        council, staff = current_council(), current_staff()
        doc = _call(lambda: register.update_flat(council, community, flat_id, changes, staff))
        return register.view_flat(council, doc, staff, via="api-edit")


@blp.route("/flats/<flat_id>/access-log")
class FlatAccess(MethodView):
    @requires_role(*access.REGISTER_EDITORS)
    @blp.response(200, AccessSchema(many=True))
    def get(self, community: str, flat_id: str) -> list[dict[str, Any]]:
        """Who saw this flat's names and phones, and when (newest first)."""
        return _call(lambda: register.access_log(current_council(), community, flat_id, current_staff()))


@blp.route("/preview")
class Preview(MethodView):
    @requires_role(*access.REGISTER_EDITORS)
    @blp.arguments(UploadSchema, location="files")
    @blp.response(200, PreviewOutSchema)
    def post(self, upload: dict[str, Any], community: str) -> dict[str, Any]:
        """Check a CSV or XLSX file: every bad row with its row number and reason. Stores nothing."""
        parsed = _call(
            lambda: register.check_table(current_council(), community, _table(upload), current_staff())
        )
        return {
            "clean": parsed.clean,
            "rows": len(parsed.rows),
            "errors": [
                {"row": e.row, "field": e.field, "code": e.code, "params": dict(e.params), "reason": e.reason}
                for e in parsed.errors
            ],
        }


@blp.route("/import")
class Import(MethodView):
    @requires_role(*access.REGISTER_EDITORS)
    @blp.arguments(UploadSchema, location="files")
    @blp.response(201, ImportedSchema)
    @blp.alt_response(422, description="Bad rows (each named); nothing was imported.")
    def post(self, upload: dict[str, Any], community: str) -> dict[str, Any]:
        """Import a clean CSV or XLSX file, all rows or none."""
        count = _call(
            lambda: register.import_table(current_council(), community, _table(upload), current_staff())
        )
        return {"imported": count}
