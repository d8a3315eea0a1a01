"""noFailoverVersions: a site may narrow the 14.2 rule, never widen it away from 14.2 or empty it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.desired.schema import DesiredSite
from reconciler.model.agent_versions import NO_FAILOVER_DEFAULT
from tests.plan.builders import desired_site


def _with(patterns: object) -> DesiredSite:
    document = desired_site().model_dump(by_alias=True, mode="json")
    document["noFailoverVersions"] = patterns
    return DesiredSite.model_validate(document)


def test_the_default_is_every_14_2_agent_and_does_not_change_the_digest():
    """Without the setting every 14.2 agent counts; stating the default changes nothing, digest included."""
    plain = desired_site()
    assert plain.no_failover_versions == NO_FAILOVER_DEFAULT
    assert _with(["14.2.*"]).digest() == plain.digest()


def test_a_site_may_narrow_the_rule():
    """Patterns inside 14.2 are kept as written."""
    assert _with(["14.2.758.*", " 14.2.1031.0100 "]).no_failover_versions == ("14.2.758.*", "14.2.1031.0100")


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        pytest.param(["14.*"], "is not inside 14.2", id="wider-than-14.2"),
        pytest.param(["14.3.*"], "is not inside 14.2", id="another-family"),
        pytest.param(["14"], "is not inside 14.2", id="major-only"),
        pytest.param(["14.2.x"], "expected an agent version pattern", id="not-a-pattern"),
        pytest.param(["*"], "expected an agent version pattern", id="star"),
        pytest.param([""], "expected an agent version pattern", id="empty-pattern"),
        pytest.param([142], "expected an agent version pattern", id="a-number"),
        pytest.param([], "at least 1 item", id="empty-list"),
    ],
)
def test_patterns_outside_14_2_or_none_at_all_are_refused(patterns, message):
    """A pattern that widens the rule beyond 14.2, is malformed, or an empty list is an error saying so."""
    with pytest.raises(ValidationError, match=message):
        _with(patterns)
