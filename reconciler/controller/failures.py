"""What a site does after a failure: back off when it may pass, stall when a human must act.

Contract (DESIGN.md, Controller):
- **Transient** (SEPM busy, a 5xx, a timeout, an incomplete observation, a command that failed): the
  site backs off with the one back-off policy (`reconciler.backoff`: full jitter, doubling to a cap,
  never giving up) and says ``Retrying``. SEPM's ``Retry-After``, when it gave one, is the wait.
- **Permanent** (credentials rejected, a pin mismatch, a change SEPM refused, a missing secret): the
  site is ``Stalled`` with the error's name as reason and is looked at again at a slow pace, never in a
  retry loop; what releases it (a corrected secret, a new desired state) is noticed at that pace.
- A step done clears the count, so the next failure starts small again.
- **Unexpected** (a bug, a journal that cannot be written): that site alone is ``Stalled``
  (``InternalError``) and tried again with the same back-off; the process and the other sites go on.
- Each distinct stall or wait is logged once, not at every recheck.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from reconciler.backoff import RetryPolicy
from reconciler.controller.schedule import Next, Status, jittered
from reconciler.sepm.errors import CredentialsRejected

log = logging.getLogger(__name__)

SITE_BACKOFF = RetryPolicy(attempts=None, base_delay=1.0, max_delay=300.0, max_retry_after=3600.0)
STALLED_RECHECK = 60.0
"""At most this long between looks at a stalled site (the poll interval when that is shorter), doubled."""


@dataclass
class Failures:
    site: str
    rng: random.Random
    policy: RetryPolicy = SITE_BACKOFF
    count: int = 0
    _said: str = field(default="", repr=False)

    def transient(self, message: str, *, retry_after: float | None = None) -> Next:
        self.count += 1
        delay = self.policy.delay(self.count, self.rng, retry_after=retry_after)
        assert delay is not None  # an unbounded policy that obeys any sane Retry-After
        log.warning("site %s: %s (attempt %d; retrying in %.1fs)", self.site, message, self.count, delay)
        return Next(delay, Status("Reconciling", "Retrying", f"{message}; retrying in {delay:.1f}s"))

    def permanent(self, reason: str, message: str, *, poll: float) -> Next:
        self.say_once(f"{reason}:{message}", logging.ERROR, "site %s stalled: %s", self.site, message)
        if reason == CredentialsRejected.__name__:
            # The connection refuses the same password without the network; the poll notices a fix.
            delay = jittered(poll, self.rng)
        else:
            delay = jittered(min(poll, STALLED_RECHECK) * 2, self.rng)
        return Next(delay, Status("Stalled", reason, message))

    def from_error(self, error: BaseException, *, poll: float, permanent: bool) -> Next:
        """`permanent` or `transient` for an exception (its class name is the reason)."""
        if permanent:
            return self.permanent(type(error).__name__, str(error), poll=poll)
        return self.transient(str(error), retry_after=getattr(error, "retry_after", None))

    def crashed(self, error: Exception) -> Next:
        """A reconcile that failed unexpectedly (a bug, a journal that cannot be written): this site alone
        stalls and is tried again with back-off; the traceback is logged once per distinct error."""
        self.count += 1
        delay = self.policy.delay(self.count, self.rng)
        assert delay is not None
        said = f"{type(error).__name__}: {error}"[:300]
        if f"crash:{said}" != self._said:
            log.error("site %s: reconcile failed: %s", self.site, said, exc_info=error)
            self._said = f"crash:{said}"
        return Next(
            delay, Status("Stalled", "InternalError", f"reconcile failed ({said}); again in {delay:.0f}s")
        )

    def cleared(self) -> None:
        """A step was done: the next failure starts the back-off small again."""
        self.count = 0

    def say_once(self, key: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` only when ``key`` differs from the last thing said this way."""
        if key != self._said:
            log.log(level, message, *args)
            self._said = key
