"""Refusals: what a user asked for cannot be done, and nothing was changed. The message is an
English catalog msgid (with `%(name)s` placeholders) kept apart from its values, so an entrypoint
says it in the reader's language (`shared.web.i18n.refusal_text`) while `str()` stays English for
logs and for API clients that ask for no language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A value said differently per language, e.g. a state's label: {"zh-CN": "调解中", "en": "In mediation"}.
Localised = Mapping[str, str]


class Msgid(str):
    """A param value that is itself a catalog message (e.g. a level's label), said through it too."""


class Refusal(Exception):
    """A refused request. `message` is the msgid; `params` fill its placeholders (a `Localised` value
    or a `Msgid` is said in the reader's language); `errors` map fields to msgids of their problems; `detail`,
    when given, is the English text `str()` answers instead (a rule's technical wording)."""

    def __init__(
        self,
        message: str,
        errors: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        detail: str | None = None,
    ) -> None:
        self.message = message
        self.params = dict(params or {})
        self.errors = dict(errors or {})
        self.detail = detail
        super().__init__(detail or fill(message, self.params, "en"))


def _value(value: Any, language: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(language) or value.get("en") or next(iter(value.values()), "")
    return value


def fill(message: str, params: Mapping[str, Any], language: str, gettext: Callable[[str], str] = str) -> str:
    """`message` with its placeholders filled, each localised value in `language` (a `Msgid`
    through `gettext`)."""
    if not params:
        return message
    return message % {
        name: gettext(value) if isinstance(value, Msgid) else _value(value, language)
        for name, value in params.items()
    }


def say(refusal: Refusal, gettext: Callable[[str], str], language: str) -> str:
    """The refusal's message through the catalog (`gettext` of the reader's language), filled in."""
    return fill(gettext(refusal.message), refusal.params, language, gettext)


def say_errors(errors: Mapping[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    """Field errors through the catalog: each message string translated, lists and nested mappings
    kept in their shape (a text the catalog lacks, e.g. a name, stays as it is)."""

    def one(value: Any) -> Any:
        if isinstance(value, str):
            return gettext(value) if value else value
        if isinstance(value, Mapping):
            return {key: one(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [one(item) for item in value]
        return value

    return {key: one(value) for key, value in errors.items()}
