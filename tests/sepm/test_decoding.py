"""Pages of computers decode into records the cyclic collector never tracks, read as SEPM's shape."""

from __future__ import annotations

import gc
import json

from reconciler.sepm import adapter, decoding

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
