"""The refusal every council use case raises: an HTTP status, a machine code, the wording in zh-CN and
en, and per-field problems for a form or the JSON error's `errors`."""

from __future__ import annotations

from collections.abc import Mapping


class Refused(Exception):
    """A use case said no: nothing was stored. `errors` maps a field to its messages (zh-CN, en)."""

    def __init__(
        self,
        status: int,
        code: str,
        zh: str,
        en: str,
        errors: Mapping[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        super().__init__(en)
        self.status = status
        self.code = code
        self.zh = zh
        self.en = en
        self.errors = dict(errors or {})

    def message(self, language: str) -> str:
        """The refusal in the reader's language (zh* is Chinese, anything else English)."""
        return self.zh if language.lower().startswith("zh") else self.en

    def field_messages(self, language: str) -> dict[str, list[str]]:
        """Per-field messages in one language, for a page or the JSON error body."""
        zh = language.lower().startswith("zh")
        return {name: [m[0] if zh else m[1] for m in messages] for name, messages in self.errors.items()}


def not_found() -> Refused:
    """One wording for an unknown consultation and one of another community (existence is not leaked)."""
    return Refused(404, "not_found", "没有这项征询。", "No such consultation.")


def forbidden() -> Refused:
    """The staff member's role or community does not allow this."""
    return Refused(403, "forbidden", "您无权进行此操作。", "You are not allowed to do this.")
