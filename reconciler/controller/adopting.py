"""Taking over a rotation the journal lost (`sepm-reconciler adopt`), and a rotation this release refuses.

Contract:
- ``carry_out_adoption`` runs when a person asked to adopt and no rotation is in the journal: with
  nothing under way on SEPM the request is settled and planning goes on as usual (None); when the
  originals cannot be rebuilt the site stalls with ``AdoptionImpossible`` and the request stays pending
  (a fixed desired state is picked up); otherwise the adopted rotation is started, with the originals
  rebuilt by `reconciler.plan.adoption`, in the transaction that settles the request.
- ``refused`` words why a rotation in progress cannot be planned any more: its saved desired state fails
  this release's rules. Nothing is done then; the way out is the release that started it.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from reconciler.controller.revision import Revision
from reconciler.controller.schedule import NOW, Next, Status
from reconciler.controller.site_journal import SiteJournal, SiteRecord
from reconciler.desired.schema import DesiredSite
from reconciler.journal.records import AdoptionRow, Lease
from reconciler.model.observed import Observed
from reconciler.plan.adoption import adopt

log = logging.getLogger(__name__)

ADOPTION_RECHECK = 30.0


async def carry_out_adoption(
    records: SiteJournal,
    lease: Lease,
    request: AdoptionRow,
    *,
    desired: DesiredSite,
    observed: Observed,
    revision: Revision,
) -> Next | None:
    """Carry out a pending `adopt` (module contract); None: nothing to adopt, plan on."""
    adoption = adopt(desired, observed)
    if not adoption.evidence:
        outcome = "nothing to adopt: SEPM shows no rotation under way"
        await records.settle_adoption(lease, request, outcome=outcome)
        log.warning("site %s: adoption %d: %s", records.site, request["id"], outcome)
        return None
    if adoption.problems:
        message = f"cannot adopt the rotation under way: {'; '.join(adoption.problems)}"
        return Next(ADOPTION_RECHECK, Status("Stalled", "AdoptionImpossible", message))
    rotation_id = await records.start_rotation(
        lease,
        start=adoption,
        desired_json=desired.model_dump_json(by_alias=True),
        desired_digest=desired.digest(),
        revision=revision,
        at=observed.server_time,
        adoption=request,
    )
    how = "restoring its originals" if request["restore"] else "continuing it"
    log.warning("site %s: adopted the rotation under way as %s, %s", records.site, rotation_id, how)
    return NOW


def refused(record: SiteRecord, error: ValidationError) -> str:
    """Why the rotation in progress cannot be planned any more (its desired state fails this release's
    rules), and what to do: nothing is done until then."""
    assert record.rotation is not None
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return (
        f"rotation {record.rotation['id']} was started from a desired state this release refuses "
        f"({where}: {first['msg']}); nothing is changed: finish or abort the rotation with the release that "
        "started it, then upgrade"
    )
