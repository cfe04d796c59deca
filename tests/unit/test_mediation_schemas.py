"""Registry changes are validated before anything is written."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.mediation.http.schemas import CommunityInSchema, StudioInSchema, StudioPatchSchema, TeamInSchema

STUDIO = {
    "code": "new-studio",
    "name": {"zh-CN": "新工作室", "en": "New Studio"},
    "communities": ["lianhua"],
    "categories": ["neighbours"],
    "capacity": 5,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"communities": ["atlantis"]}, "communities"),
        ({"streets": ["nowhere"]}, "streets"),
        ({"categories": ["piracy"]}, "categories"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "7"}, "capacity"),  # strict: no silent string coercion
        ({"code": "Bad Code"}, "code"),
        ({"working_days": ["someday"]}, "working_days"),
        (
            {
                "members": [
                    {"username": "x1", "name": "X", "leave": [{"start": "2026-11-30", "end": "2026-11-01"}]}
                ]
            },
            "members",
        ),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_studio_is_refused_with_the_field(change, field) -> None:
    with pytest.raises(ValidationError) as raised:
        StudioInSchema().load({**STUDIO, **change})
    assert field in raised.value.messages


def test_unknown_community_is_named() -> None:
    with pytest.raises(ValidationError) as raised:
        StudioInSchema().load({**STUDIO, "communities": ["lianhua", "atlantis"]})
    assert raised.value.messages["communities"] == {1: ["Unknown community: atlantis."]}


def test_good_studio_loads_with_defaults() -> None:
    loaded = StudioInSchema().load(STUDIO)
    assert loaded["capacity"] == 5 and loaded["streets"] == [] and loaded["members"] == []


def test_patch_takes_a_subset_and_never_the_code() -> None:
    assert StudioPatchSchema(partial=True).load({"capacity": 0}) == {"capacity": 0}
    with pytest.raises(ValidationError):
        StudioPatchSchema(partial=True).load({"code": "other"})


@pytest.mark.parametrize(
    "shift",
    [{"days": ["mon"], "start": "25:00", "end": "08:00"}, {"days": [], "start": "08:00", "end": "18:00"}],
)
def test_bad_shift_is_refused(shift) -> None:
    with pytest.raises(ValidationError):
        TeamInSchema().load({"code": "t1", "name": {"zh-CN": "队", "en": "Team"}, "shifts": [shift]})


@pytest.mark.parametrize("days", [[0], [32], [6, "x"]])
def test_bad_reception_days_are_refused(days) -> None:
    with pytest.raises(ValidationError):
        CommunityInSchema().load({"reception_days": days})
