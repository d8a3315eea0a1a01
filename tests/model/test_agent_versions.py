"""The 14.2 rule: every 14.2-family agent cannot fail over by default, whatever its build or release."""

from __future__ import annotations

import pytest

from reconciler.model.agent_versions import NO_FAILOVER_DEFAULT, cannot_fail_over, matches


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param("14.2.758.0000", True, id="14.2-base"),
        pytest.param("14.2.1015.0100", True, id="14.2-mp1"),
        pytest.param("14.2.1031.0100", True, id="14.2.1-mp1"),
        pytest.param("14.2.3332.1000", True, id="14.2-ru1"),
        pytest.param("14.2.5323.2000", True, id="14.2-ru2"),
        pytest.param("14.2.5569.2100", True, id="14.2-ru2-mp1"),
        pytest.param("14.2", True, id="family-only"),
        pytest.param("14.3.3384.1000", False, id="14.3-ru1"),
        pytest.param("14.3.4615.2000", False, id="14.3-ru2"),
        pytest.param("14.3.9816.7000", False, id="14.3-ru7"),
        pytest.param("14.20.1.0", False, id="14.20-is-not-14.2"),
        pytest.param("12.1.6867.6400", False, id="12.1"),
        pytest.param("", True, id="empty-is-treated-as-14.2"),
        pytest.param("14.2.x", True, id="unreadable-is-treated-as-14.2"),
        pytest.param("unknown", True, id="garbage-is-treated-as-14.2"),
    ],
)
def test_the_default_covers_the_whole_14_2_family(version, expected):
    """Base, MP, RU1 and RU2 releases of 14.2 all count; other families do not; unreadable ones do."""
    assert cannot_fail_over(version, NO_FAILOVER_DEFAULT) is expected


@pytest.mark.parametrize(
    ("version", "pattern", "expected"),
    [
        pytest.param("14.2.758.0000", "14.2.758.*", True, id="build-prefix"),
        pytest.param("14.2.3332.1000", "14.2.758.*", False, id="other-build"),
        pytest.param("14.2.1031.0100", "14.2.1031.100", True, id="numbers-compare-as-numbers"),
        pytest.param("14.2.1031.0100", "14.2.*.0100", True, id="inner-star-is-one-component"),
        pytest.param("14.2.1031", "14.2.*.0100", False, id="inner-star-needs-its-component"),
        pytest.param("14.2.1031.0100", "14.2.1031", False, id="no-star-is-exact"),
    ],
)
def test_narrower_patterns(version, pattern, expected):
    """A site's own patterns match component by component; a trailing * takes the rest."""
    assert matches(version, pattern) is expected
