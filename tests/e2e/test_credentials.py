"""A rejected password is tried once, stalls the site with the reason, and is never retried in a loop."""

from __future__ import annotations

import asyncio
import os

from reconciler.cli.rehearsal import PASSWORD_VARIABLE
from tests.e2e.harness import run_controller


async def test_wrong_password_is_tried_once_then_the_site_stalls(rehearse, journal_path, monkeypatch):
    """With a wrong password the controller authenticates exactly once, stalls with CredentialsRejected,
    leaves the account unlocked, and resumes by itself once the secret is corrected."""
    rehearsal = rehearse("single-server")
    site = rehearsal.sim.site
    attempts: list[bool] = []
    real_authenticate = site.authenticate

    def counting(username: str, password: str) -> bool:
        accepted = real_authenticate(username, password)
        attempts.append(accepted)
        return accepted

    monkeypatch.setattr(site, "authenticate", counting)
    good = os.environ[PASSWORD_VARIABLE]
    monkeypatch.setenv(PASSWORD_VARIABLE, "not-the-password")
    stalled_at: list[float] = []

    def fix_later(status) -> None:
        if status.reason == "CredentialsRejected" and not stalled_at:
            stalled_at.append(asyncio.get_running_loop().time())

            def correct() -> None:
                # Several seconds of polling at 250 ms: dozens of reconciles, still one attempt.
                assert len(attempts) == 1, f"{len(attempts)} logon attempts with a rejected password"
                assert site_unlocked()
                os.environ[PASSWORD_VARIABLE] = good

            asyncio.get_running_loop().call_later(6.0, correct)

    def site_unlocked() -> bool:
        return rehearsal.sim.sessions.locked_until_ms(rehearsal.desired["api"]["username"]) == 0

    run = await run_controller(rehearsal, journal_path, on_status=fix_later, timeout=90)

    stalled = [s for s in run.statuses if s.reason == "CredentialsRejected"]
    assert stalled, "the site never reported the rejected credentials"
    assert stalled[0].phase == "Stalled"
    assert "not-the-password" not in stalled[0].message
    assert rehearsal.desired["api"]["username"] in stalled[0].message
    assert not run.timed_out, f"{run.last.reason}: {run.last.message}"
    assert attempts.count(False) == 1, "the rejected password was tried again"
    assert attempts[0] is False
    assert True in attempts, "the corrected secret was used"
    assert site_unlocked()
