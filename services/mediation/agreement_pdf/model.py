"""The written mediation agreement (人民调解协议书) as plain data: what PML Art 29 and MoJ 2002 Art 35
require it to state, checked before anything is rendered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

APPLICANT = "applicant"
RESPONDENT = "respondent"


class InvalidAgreement(ValueError):
    """The agreement lacks something the law requires it to state; `problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Party:
    """A party's basic details (PML Art 29). Only what the agreement needs: no ID number."""

    name: str
    address: str
    phone: str = ""
    gender: str | None = None  # as written on the agreement, e.g. "男" / "female"
    age: int | None = None


@dataclass(frozen=True)
class Agent:
    """Someone acting for a party (an agent, a guardian, a representative of a company)."""

    name: str
    represents: str  # the party's name
    kind: str = ""  # e.g. "委托代理人" / "authorised agent"
    phone: str = ""


@dataclass(frozen=True)
class AgreementData:
    """Everything printed on one agreement. Texts are printed as entered (in the parties' language);
    only the form's own wording follows the rendering language."""

    number: str
    # The case reference the parties know from their tracking page, printed beside the number so a
    # signed, scanned agreement can be matched to its case.
    case_reference: str
    signed_on: date
    committee: str  # the people's mediation committee (or studio) that seals it
    applicants: tuple[Party, ...]
    respondents: tuple[Party, ...]
    facts: str  # main facts
    issues: str  # disputed issues
    responsibility: str  # each side's responsibility
    terms: tuple[str, ...]  # the agreed terms, numbered when printed
    performance_method: str  # how the terms are performed
    performance_place: str  # where (MoJ 2002 Art 35)
    performance_deadline: str  # by when, as agreed (a date, or e.g. "within 7 days of signing")
    mediators: tuple[str, ...]
    recorder: str
    agents: tuple[Agent, ...] = ()
    # Each term's own due date (ISO day) where it has one, by position: printed beside the term.
    term_dues: tuple[str | None, ...] = ()
    copies: int | None = None  # default: one per party plus one kept by the committee (PML Art 29)

    @property
    def parties(self) -> tuple[Party, ...]:
        return self.applicants + self.respondents

    @property
    def copy_count(self) -> int:
        return self.copies if self.copies is not None else len(self.parties) + 1

    def validate(self) -> AgreementData:
        """Return self, or raise `InvalidAgreement` naming every missing or inconsistent item."""
        problems: list[str] = []
        required = {
            "number": self.number,
            "case_reference": self.case_reference,
            "committee": self.committee,
            "facts": self.facts,
            "issues": self.issues,
            "responsibility": self.responsibility,
            "performance_method": self.performance_method,
            "performance_place": self.performance_place,
            "performance_deadline": self.performance_deadline,
            "recorder": self.recorder,
        }
        problems += [f"{name} is required" for name, value in required.items() if not value.strip()]
        if not self.applicants:
            problems.append("at least one applicant is required")
        if not self.respondents:
            problems.append("at least one respondent is required")
        for party in self.parties:
            if not party.name.strip() or not party.address.strip():
                problems.append("every party needs a name and an address")
                break
            if party.age is not None and not 0 <= party.age < 150:
                problems.append(f"{party.name}: age {party.age} is not an age")
        if not self.terms or not all(term.strip() for term in self.terms):
            problems.append("at least one agreed term is required, none blank")
        if not self.mediators or not all(m.strip() for m in self.mediators):
            problems.append("at least one mediator is required")
        names = {party.name for party in self.parties}
        problems += [
            f"agent {a.name} represents unknown party {a.represents}"
            for a in self.agents
            if a.represents not in names
        ]
        if self.copies is not None and self.copies < len(self.parties) + 1:
            problems.append(f"copies must be at least {len(self.parties) + 1}: one per party plus one kept")
        if problems:
            raise InvalidAgreement(problems)
        return self
