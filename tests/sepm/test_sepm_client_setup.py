"""Building a client: base URLs, the desired site's pins, and refusals of unsafe set-ups."""

from __future__ import annotations

import json

import pytest
from sepm_fakes import PASSWORD, FakeSepm

from reconciler.desired.schema import DesiredSite
from reconciler.sepm.client import SepmClient, rest_base_url
from reconciler.sepm.errors import CredentialsRejected

A = "AA:" * 31 + "AA"
B = "BB:" * 31 + "BB"
C = "cc" * 32


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        pytest.param("https://sepm01:8446", "https://sepm01:8446/sepm/api/v1", id="bare"),
        pytest.param("https://sepm01:8446/", "https://sepm01:8446/sepm/api/v1", id="slash"),
        pytest.param("https://sepm01:8446/sepm/api/v1/", "https://sepm01:8446/sepm/api/v1", id="full"),
        pytest.param(
            "https://lb.example:443/custom/api", "https://lb.example:443/custom/api", id="custom-path"
        ),
    ],
)
def test_rest_base_url(api_url, expected):
    """A desired api.url without a path gets SEPM's /sepm/api/v1; a given path is kept."""
    assert rest_base_url(api_url) == expected


async def test_for_site_pins_every_fingerprint_the_site_allows():
    """for_site takes the URL, user and domain from the desired state and allows every server's pins."""
    site = DesiredSite.model_validate(
        {
            "site": "hq",
            "api": {
                "url": "https://sepm01:8446",
                "username": "svc",
                "password": {"env": "P"},
                "domain": "Corp",
            },
            "servers": [
                {"name": "sepm01", "address": "sepm01", "certificate": {"sha256": A, "previousSha256": [B]}},
                {"name": "sepm02", "address": "sepm02", "certificate": {"sha256": C}},
            ],
            "managementServerLists": [{"name": "Default", "servers": ["sepm01", "sepm02"]}],
        }
    )
    fake = FakeSepm()
    client = SepmClient.for_site(site, password=PASSWORD, transport=fake.transport)
    assert client.base_url == "https://sepm01:8446/sepm/api/v1"
    assert client.allowed_fingerprints == {A, B, ":".join(["CC"] * 32)}
    with pytest.raises(CredentialsRejected):  # the fake knows another user; the body is what matters
        await client.version()
    (logon,) = fake.calls("POST", "identity/authenticate")
    assert json.loads(logon.content) == {"username": "svc", "password": PASSWORD, "domain": "Corp"}
    assert logon.url.path == "/sepm/api/v1/identity/authenticate"


def test_plain_http_is_refused():
    """Without a test transport, only https base URLs are accepted (credentials never go in clear)."""
    with pytest.raises(ValueError, match="https"):
        SepmClient(
            base_url="http://sepm01:8446/sepm/api/v1",
            username="u",
            password=PASSWORD,
            allowed_fingerprints=frozenset({A}),
        )


def test_at_least_one_pin_is_required():
    """A client with nothing to trust is refused at construction."""
    with pytest.raises(ValueError, match="allowed fingerprint"):
        SepmClient(
            base_url="https://sepm01:8446/sepm/api/v1",
            username="u",
            password=PASSWORD,
            allowed_fingerprints=frozenset(),
        )
