"""Staff accounts in pages: district admins keep every account; a studio lead keeps their own
studio's mediators and leads (`domain.administration`). Create, change role, disable or enable,
reset a password (a temporary one, shown once); and every member of staff changes their own
password here (required after a reset). Changes are audited (`staff_accounts`)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from services.mediation import staff_accounts
from services.mediation.domain import administration
from services.mediation.http.context import current_mediation, current_staff
from services.mediation.http.pages import bp, community_names, get_locale_name, role_label
from services.mediation.registry import audit_log
from shared.auth import ROLES, requires_role

Page = Any
MANAGERS = ("district_admin", "studio_lead")


def _refusal(err: staff_accounts.UserError) -> str:
    return gettext(err.message, **err.params)


def _places() -> dict[str, Any]:
    """The choices of the role form: roles one may give, and the places they need, as options."""
    db = current_mediation().db
    staff = current_staff()
    admin = staff.has_role("district_admin")
    lang = "zh-CN" if get_locale_name() == "zh-CN" else "en"
    studio_query = {} if admin else {"_id": staff.studio}
    roles = ROLES if admin else administration.STUDIO_ROLES
    return {
        "roles": [(r, role_label(r)) for r in roles],
        "studios": [
            (s["_id"], s["name"][lang]) for s in db.studios.find(studio_query, {"name": 1}).sort("_id")
        ],
        "teams": [(t["_id"], t["name"][lang]) for t in db.patrol_teams.find({}, {"name": 1}).sort("_id")]
        if admin
        else [],
        "communities": list(community_names().items()) if admin else [],
    }


def _form_assignment() -> dict[str, Any]:
    return {
        "role": request.form.get("role", ""),
        "studio": request.form.get("studio") or None,
        "team": request.form.get("team") or None,
        "community": request.form.get("community") or None,
        "buildings": tuple(
            b.strip()
            for b in request.form.get("buildings", "").replace("，", ",").split(",")  # noqa: RUF001
            if b.strip()
        ),
    }


def _managed_account(username: str) -> dict[str, Any]:
    """The account, if the signed-in staff may manage it (404 unknown, 403 beyond their studio)."""
    account = staff_accounts.get_account(current_mediation().db, username)
    if account is None:
        abort(404)
    staff = current_staff()
    if not administration.may_manage_account(
        staff.roles, staff.studio, account.get("roles", []), account.get("studio")
    ):
        abort(403)
    return account


@bp.get("/admin/staff")
@requires_role(*MANAGERS)
def staff_list() -> str:
    """The accounts one keeps: all for district admins, their studio's for a lead."""
    staff = current_staff()
    db = current_mediation().db
    studio = None if staff.has_role("district_admin") else staff.studio
    return render_template("mediation/staff_list.html", accounts=staff_accounts.list_accounts(db, studio))


@bp.route("/admin/staff/new", methods=["GET", "POST"])
@requires_role(*MANAGERS)
def staff_new() -> Page:
    """Create an account with a temporary password, shown once; its owner sets their own at login."""
    staff = current_staff()
    values: dict[str, Any] = {"role": "mediator", "studio": staff.studio, "language": "zh-CN"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {
            **_form_assignment(),
            "username": request.form.get("username", "").strip(),
            "name": request.form.get("name", "").strip(),
            "email": request.form.get("email", "").strip() or None,
            "language": request.form.get("language")
            if request.form.get("language") in ("zh-CN", "en")
            else "zh-CN",
        }
        if not values["name"]:
            errors["name"] = [gettext("Enter the person's name.")]
        if not administration.may_grant(staff.roles, staff.studio, values["role"], values["studio"]):
            errors["role"] = [gettext("You may give this role only within your own studio.")]
        if not errors:
            password = staff_accounts.temporary_password()
            try:
                account = staff_accounts.create_user(
                    current_mediation().db,
                    staff_accounts.NewUser(password=password, **values),
                    actor=staff.user_id,
                )
            except staff_accounts.UserError as err:
                errors["username"] = [_refusal(err)]
            else:
                return render_template("mediation/staff_password.html", account=account, password=password)
    status = 422 if errors else 200
    return render_template("mediation/staff_new.html", values=values, errors=errors, **_places()), status


def _account_page(account: dict[str, Any], errors: dict | None = None, status: int = 200) -> Page:
    db = current_mediation().db
    return (
        render_template(
            "mediation/staff_account.html",
            account=account,
            errors=errors or {},
            audit=audit_log(db, "user", account["_id"], limit=20),
            **_places(),
        ),
        status,
    )


@bp.get("/admin/staff/<username>")
@requires_role(*MANAGERS)
def staff_account(username: str) -> Page:
    return _account_page(_managed_account(username))


@bp.post("/admin/staff/<username>/role")
@requires_role(*MANAGERS)
def staff_account_role(username: str) -> Page:
    """Change an account's role and place; it applies from the account's next login."""
    account = _managed_account(username)
    staff = current_staff()
    assignment = _form_assignment()
    if not administration.may_grant(staff.roles, staff.studio, assignment["role"], assignment["studio"]):
        return _account_page(
            account, {"role": [gettext("You may give this role only within your own studio.")]}, 422
        )
    try:
        staff_accounts.change_role(
            current_mediation().db, current_mediation().outbox, username, actor=staff.user_id, **assignment
        )
    except staff_accounts.UserError as err:
        return _account_page(account, {"role": [_refusal(err)]}, 422)
    flash(gettext("Role changed. It applies from the next login."))
    return redirect(url_for("pages.staff_account", username=username))


@bp.post("/admin/staff/<username>/active")
@requires_role(*MANAGERS)
def staff_account_active(username: str) -> Page:
    """Disable (no more logins) or enable an account."""
    account = _managed_account(username)
    active = request.form.get("active") == "yes"
    try:
        staff_accounts.set_active(
            current_mediation().db, current_mediation().outbox, username, active, current_staff().user_id
        )
    except staff_accounts.UserError as err:
        return _account_page(account, {"active": [_refusal(err)]}, 409)
    flash(gettext("Account enabled.") if active else gettext("Account disabled: it can no longer log in."))
    return redirect(url_for("pages.staff_account", username=username))


@bp.post("/admin/staff/<username>/password")
@requires_role(*MANAGERS)
def staff_account_password(username: str) -> Page:
    """Give the account a temporary password, shown once on this page (never stored in clear)."""
    account = _managed_account(username)
    password = staff_accounts.reset_password(
        current_mediation().db, current_mediation().outbox, username, current_staff().user_id
    )
    return render_template("mediation/staff_password.html", account=account, password=password, reset=True)


@bp.route("/account/password", methods=["GET", "POST"])
@requires_role(*ROLES)
def own_password() -> Page:
    """Change one's own password (required after an administrator set or reset it)."""
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_again", ""):
            errors["new_password_again"] = [gettext("The two new passwords differ.")]
        else:
            try:
                staff_accounts.change_password(
                    current_mediation().db,
                    current_staff().user_id,
                    request.form.get("current_password", ""),
                    new,
                )
            except staff_accounts.UserError as err:
                field = "current_password" if "current" in err.message else "new_password"
                errors[field] = [_refusal(err)]
            else:
                flash(gettext("Your password is changed."))
                return redirect(url_for("pages.home"))
        status = 422
    must = staff_accounts.needs_new_password(current_mediation().db, current_staff().user_id)
    return render_template("mediation/own_password.html", errors=errors, must=must), status
