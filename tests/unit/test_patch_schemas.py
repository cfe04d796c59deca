"""PATCH bodies may give any subset of an object's fields, but every nested object they give must
be complete. Found by the API fuzzer (tests/fuzz): `PATCH /api/v1/studios/{code}` loaded with
`partial=True` accepted a member without a username and crashed (500) on a leave without an end.
"""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from services.mediation.http.schemas import CommunityInSchema, StudioPatchSchema, TeamPatchSchema
from shared.schemas import for_patch


def test_patch_takes_any_subset_of_top_level_fields() -> None:
    assert for_patch(StudioPatchSchema).load({"capacity": 3}) == {"capacity": 3}
    assert for_patch(TeamPatchSchema).load({}) == {}
    assert for_patch(CommunityInSchema).load({}) == {}


def test_patch_refuses_an_incomplete_nested_member() -> None:
    with pytest.raises(ValidationError) as err:
        for_patch(StudioPatchSchema).load({"members": [{"name": "王芳"}]})
    assert "username" in err.value.messages["members"][0]


def test_patch_refuses_a_leave_without_end_as_invalid_not_as_a_crash() -> None:
    member = {"username": "wangfang", "name": "王芳", "leave": [{"start": "2026-12-01"}]}
    with pytest.raises(ValidationError) as err:
        for_patch(StudioPatchSchema).load({"members": [member]})
    assert "end" in err.value.messages["members"][0]["leave"][0]
