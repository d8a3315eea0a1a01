"""Pages of computers decode into records the cyclic collector never tracks, read as SEPM's shape."""

from __future__ import annotations

import gc
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model.observed import ObservedClient
from reconciler.sepm import adapter, decoding
from reconciler.sepm.errors import UnexpectedResponse

RECORD = {
    "uniqueId": "U1",
    "computerName": "pc-1",
    "group": {"id": "", "name": "My Company\\Sales", "fullPathName": "", "other": [1, 2]},
    "agentVersion": "14.3.9816.7000",
    "onlineStatus": 1,
    "lastUpdateTime": 1_764_000_000_000,
    "profileSerialNo": "s",
    "lastServerName": "sepm01",
    "ipAddresses": ["10.0.0.1"],
}


def test_computer_records_are_not_tracked_by_the_collector():
    """Each decoded record holds only texts, numbers and a GroupRef, so the collector never tracks it."""
    body = json.dumps({"content": [RECORD] * 3, "totalElements": 3, "lastPage": True}).encode()
    page = decoding.computer_page_decoder()(body)
    assert [gc.is_tracked(record) for record in page["content"]] == [False] * 3
    assert page["content"][0]["group"] == decoding.GroupRef(id="", name="My Company\\Sales", fullPathName="")


def test_a_decoded_record_reads_as_the_same_client_as_sepms_own_shape():
    """The adapter reads a decoded record (GroupRef) exactly as the record SEPM sent (a dict)."""
    body = json.dumps({"content": [RECORD], "totalElements": 1, "lastPage": True}).encode()
    decoded = decoding.computer_page_decoder()(body)["content"][0]
    paths = {"my company\\sales": "G-SALES"}
    assert adapter.parse_client(decoded, group_ids_by_path=paths) == adapter.parse_client(
        RECORD, group_ids_by_path=paths
    )
    assert adapter.parse_client(decoded, group_ids_by_path=paths).group_id == "G-SALES"


# Values for each field a computer record may carry: SEPM's own kinds, and the ones the adapter refuses.
_texts = st.text(max_size=12) | st.sampled_from(["", "x" * 4096, "x" * 4097, "é" * 4096])
_junk = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.lists(st.integers(), max_size=2)
)
_values = {
    "uniqueId": _texts | _junk,
    "computerName": _texts | _junk,
    "group": st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["", "G-SALES", "g" * 4097]) | _junk,
            "name": st.sampled_from(["My Company\\Sales", "Nowhere"]) | _junk,
            "fullPathName": st.sampled_from(["", "MY COMPANY\\SALES"]) | _junk,
        },
    )
    | _junk
    | _texts,
    "agentVersion": _texts | _junk,
    "onlineStatus": st.sampled_from([0, 1, True, "1", 1.0]) | _junk,
    "lastUpdateTime": st.sampled_from([0, 1_764_000_000_000, 2**63 - 1, 2**63, -1, 1.5e12, True]) | _junk,
    "profileSerialNo": _texts | _junk,
    "lastServerName": _texts | _junk,
    "deleted": st.sampled_from([0, 1, True, False]) | _junk,
}
_records = st.fixed_dictionaries(
    {}, optional={field: _values[field] for field in decoding.COMPUTER_FIELDS} | {"ipAddresses": _junk}
) | st.fixed_dictionaries(  # well-formed records, most of which a typed page holds
    {
        "uniqueId": st.text(min_size=1, max_size=6),
        "group": st.fixed_dictionaries({"id": st.sampled_from(["G-SALES", "G-ROOT", ""])}),
        "lastUpdateTime": st.integers(0, 2**63 - 1),
    },
    optional={field: _texts | st.none() for field in ("computerName", "agentVersion", "profileSerialNo")}
    | {"deleted": st.sampled_from([0, False, None, 1, True])},
)


def _outcome(record: Any) -> tuple[str, object]:
    try:
        return "read", adapter.read_computer(record, group_ids_by_path={"my company\\sales": "G-SALES"})
    except UnexpectedResponse as refused:
        return "refused", str(refused)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(_records, min_size=1, max_size=4, unique_by=lambda r: str(r.get("uniqueId"))))
def test_a_typed_page_reads_as_the_same_clients_and_refusals_as_sepms_own_records(records):
    """Whether a page decodes typed or not, each record reads as the client (or the refusal, with its
    message) that the record SEPM sent gives, read field by field."""
    body = json.dumps({"content": records, "totalElements": len(records), "lastPage": True}).encode()
    decoded = decoding.computer_page_decoder()(body)["content"]
    assert [_outcome(item) for item in decoded] == [_outcome(record) for record in records]


def test_a_page_of_well_formed_records_decodes_typed_and_one_odd_record_sends_it_the_ordinary_way():
    """Only a page whose every record has the adapter's types decodes into WireComputer records."""
    well_formed = {**RECORD, "group": {"id": "G-SALES", "name": "Sales"}}
    odd = {**well_formed, "uniqueId": "U2", "computerName": 7}
    typed = decoding.computer_page_decoder()(
        json.dumps({"content": [well_formed], "totalElements": 1, "lastPage": True}).encode()
    )["content"]
    mixed = decoding.computer_page_decoder()(
        json.dumps({"content": [well_formed, odd], "totalElements": 2, "lastPage": True}).encode()
    )["content"]
    assert [type(item) for item in typed] == [decoding.WireComputer]
    assert [type(item) for item in mixed] == [dict, dict]
    assert typed[0]["uniqueId"] == "U1"
    assert typed[0].get("deleted") is None
    assert [_outcome(item)[0] for item in mixed] == ["read", "read"]


def test_a_typed_record_of_a_computer_sepm_marks_not_deleted_is_read_without_its_dict(monkeypatch):
    """SEPM sends ``deleted: 0`` with every computer: such a record is read from its typed fields."""
    record = {**RECORD, "group": {"id": "G-SALES"}, "deleted": 0}
    body = json.dumps({"content": [record], "totalElements": 1, "lastPage": True}).encode()
    (typed,) = decoding.computer_page_decoder()(body)["content"]
    assert isinstance(typed, decoding.WireComputer)

    def no_dict(self: object) -> dict[str, Any]:
        raise AssertionError("read the ordinary way")

    monkeypatch.setattr(decoding.WireComputer, "as_dict", no_dict)
    client = adapter.read_computer(typed, group_ids_by_path={})
    assert isinstance(client, ObservedClient)
    assert (client.id, client.group_id, client.last_update_time) == ("U1", "G-SALES", 1_764_000_000_000)
