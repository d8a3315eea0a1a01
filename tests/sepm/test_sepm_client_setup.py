"""Building a client: base URLs, the desired site's pins, and refusals of unsafe set-ups."""

from __future__ import annotations

import json

import httpx
import pytest
from sepm_fakes import BASE_URL, PASSWORD, FakeSepm

from reconciler.desired.schema import DesiredSite
from reconciler.sepm.client import SepmClient, rest_base_url
from reconciler.sepm.errors import CredentialsRejected, NotFound, UnexpectedResponse

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


async def test_requests_go_out_as_httpx_would_build_them_from_the_path_and_parameters(make_client, fake):
    """The client hands httpx finished URLs; each is the very URL httpx builds from the base, the
    path (a group id that needs quoting included) and the query parameters."""
    client = make_client()
    await client.computers(updated_since_ms=1_764_000_000_000)
    with pytest.raises(NotFound):  # the fake has no such group: the request is what matters
        await client.location_settings("G 1/ä", "L#1")
    reference = httpx.AsyncClient(base_url=BASE_URL + "/")
    walk = fake.calls("GET", "computers")
    assert walk
    for request in walk:
        expected = reference.build_request("GET", "computers", params=dict(request.url.params)).url
        assert str(request.url) == str(expected)
        assert request.url.params["lastUpdate"] == "1764000000000"
    (settings,) = [r for r in fake.log if r.url.path.endswith("/settings")]
    expected = reference.build_request("GET", "groups/G%201%2F%C3%A4/locations/L%231/settings").url
    assert str(settings.url) == str(expected)
    assert settings.url.raw_path == b"/sepm/api/v1/groups/G%201%2F%C3%A4/locations/L%231/settings"


async def test_an_id_that_cannot_travel_in_a_url_is_an_unexpected_response(make_client):
    """A group id with a lone surrogate (a JSON escape can make one) is refused as SEPM's odd answer."""
    async with make_client() as client:
        with pytest.raises(UnexpectedResponse, match="cannot be sent back in a URL"):
            await client.locations("G\udfff")
