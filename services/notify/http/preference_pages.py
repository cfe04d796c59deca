"""Residents' notification preferences, reached by a signed link: channels and opt-out per case, and a
council household's choices per community and flat (community notices yes/no, the channel)."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext

from services.notify import delivery as delivery_cases
from services.notify.domain.rules import RESIDENT_CHANNELS
from services.notify.http.pages import NO_STORE, bp, current_notify
from services.notify.preferences import read_token
from shared.masking import mask_address
from shared.taxonomy import communities

# A household is reached by SMS only today (the register holds phones, not emails).
HOUSEHOLD_CHANNELS = ("sms",)


def _preference_key(token: str) -> str:
    key = read_token(current_notify().settings.secret_key, token)
    if key is None or key.count(":") < 2:
        abort(404)
    return key


@bp.route("/preferences/<string:token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    """A resident's channels and opt-out for one case, reached by the signed link."""
    key = _preference_key(token)
    if key.startswith("household:"):
        return _household(token, key)
    reference, recipient_key = key.split(":", 1)
    notify = current_notify()
    contacts = notify.db.contacts.find_one({"_id": reference}) or {}
    person: dict[str, Any] = {}
    if recipient_key == "filer":
        person = contacts.get("filer") or {}
    else:
        role, _, index = recipient_key.partition(":")
        parties = contacts.get("parties", [])
        if index.isdigit() and int(index) < len(parties) and parties[int(index)].get("role") == role:
            person = parties[int(index)]
    addresses = {"email": person.get("email"), "sms": person.get("phone")}
    channels = [c for c in RESIDENT_CHANNELS if addresses.get(c)]
    current = notify.db.preferences.find_one({"_id": key}) or {"channels": channels, "opt_out": False}
    errors: dict[str, list[str]] = {}
    saved = request.args.get("saved") == "1"
    if request.method == "POST":
        chosen = [c for c in request.form.getlist("channels") if c in channels]
        opt_out = request.form.get("opt_out") == "1"
        if not chosen and channels:
            errors["channels"] = [gettext("Choose at least one way to reach you.")]
            current = {"channels": chosen, "opt_out": opt_out}
        else:
            delivery_cases.save_preferences(notify, key, chosen, opt_out)
            return redirect(url_for("notify_web.preferences", token=token, saved="1"), code=303)
    masked = {c: mask_address(c, addresses[c]) for c in channels}
    body = render_template(
        "notify/preferences.html",
        reference=reference,
        channels=channels,
        masked=masked,
        current=current,
        errors=errors,
        saved=saved,
    )
    # The link itself is the key: never cache the page or leak it onwards.
    return body, (422 if errors else 200), NO_STORE


def _community_name(code: str) -> str:
    language = "en" if str(get_locale() or "").startswith("en") else "zh-CN"
    for community in communities():
        if community.code == code:
            return community.name(language)
    return code


def _household(token: str, key: str) -> Any:
    """A household's choices: the community's notices (meetings, minutes, plan progress) or not,
    and the channel. Consultation notices concern the flat's own answer and are always sent."""
    _, community, _flat = key.split(":", 2)
    if community not in {c.code for c in communities()}:
        abort(404)  # signed by us, but for no community we know (a changed district file)
    notify = current_notify()
    current = notify.db.preferences.find_one({"_id": key}) or {
        "community_notices": False,  # opt-in: nothing but consultations until the household asks
        "channels": list(HOUSEHOLD_CHANNELS),
    }
    errors: dict[str, list[str]] = {}
    saved = request.args.get("saved") == "1"
    if request.method == "POST":
        chosen = [c for c in request.form.getlist("channels") if c in HOUSEHOLD_CHANNELS]
        wanted = request.form.get("community_notices")
        if wanted not in ("0", "1"):
            errors["community_notices"] = [gettext("Choose whether you want the community's notices.")]
        if not chosen:
            errors["channels"] = [gettext("Choose at least one way to reach you.")]
        if errors:
            current = {"community_notices": wanted == "1", "channels": chosen}
        else:
            delivery_cases.save_household_preferences(notify, key, wanted == "1", chosen)
            return redirect(url_for("notify_web.preferences", token=token, saved="1"), code=303)
    body = render_template(
        "notify/household_preferences.html",
        community_name=_community_name(community),
        channels=HOUSEHOLD_CHANNELS,
        current=current,
        errors=errors,
        saved=saved,
    )
    return body, (422 if errors else 200), NO_STORE
