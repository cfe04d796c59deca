"""Who is told what, kept as data: event type → (audience, channel) pairs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    audience: str  # "studio" | "applicants"
    channel: str  # "email"
    template: str


RULES: dict[str, tuple[Rule, ...]] = {
    "case.assigned": (
        Rule("studio", "email", "case_assigned_studio"),
        Rule("applicants", "email", "case_assigned_applicant"),
    ),
}
