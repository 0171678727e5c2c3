"""The routing decision as a pure function: report + directory -> recipients, reasons, deadlines.

This is the walking skeleton's fixed policy 21-14 (HART Lead, FBI, local police, local MDT); the
declarative policy engine replaces it.
"""

from dataclasses import dataclass
from datetime import timedelta

from shared.directory.agencies import (
    FBI_NEW_HAVEN,
    HART_LEAD,
    STATE_POLICE_HQ,
    Agency,
    mdt_for_district,
    municipal_police,
    state_police_troop,
)
from shared.directory.towns import Town, TownDirectory, UnknownTown
from shared.events import CarelineReport, Classification, RecipientKind

POLICY_VERSION = "skeleton-21-14/1"
STATE_CLOCK = timedelta(hours=12)  # CGS 17a-101b / 17a-103(c)
FEDERAL_CLOCK = timedelta(hours=24)  # 42 USC 671(a)(34)(A)


@dataclass(frozen=True)
class Recipient:
    kind: RecipientKind
    agency: Agency
    reason: str
    deadline: timedelta
    fallback: bool = False


def police_for(town: Town) -> tuple[Agency, bool]:
    """The town's own department, else its State Police troop, else State Police HQ (a fallback)."""
    if town.police_coverage == "MUNICIPAL_PD" and town.municipal_police_dept:
        return municipal_police(town.municipal_police_dept), False
    if town.state_police_troop:
        return state_police_troop(town.state_police_troop), False
    return STATE_POLICE_HQ, True


def mdt_for(town: Town) -> tuple[Agency, bool]:
    """The judicial district's MDT, else the statewide HART Lead (documented fallback)."""
    if town.judicial_district:
        return mdt_for_district(town.judicial_district), False
    return HART_LEAD, True


def route(report: CarelineReport, directory: TownDirectory) -> list[Recipient]:
    if report.classification is not Classification.DMST:
        # Never unrouted: whatever reaches the pipeline, the HART Lead sees it.
        return [
            Recipient(
                RecipientKind.HART,
                HART_LEAD,
                f"classified {report.classification.value}, not DMST: HART Lead reviews",
                STATE_CLOCK,
                True,
            )
        ]
    recipients = [
        Recipient(
            RecipientKind.HART, HART_LEAD, "policy 21-14: statewide HART Lead gets every DMST report", STATE_CLOCK
        ),
        Recipient(
            RecipientKind.FBI, FBI_NEW_HAVEN, "policy 21-14: FBI New Haven Division covers the state", FEDERAL_CLOCK
        ),
    ]
    try:
        home = directory.find(report.residence_town)
    except UnknownTown:
        recipients.append(
            Recipient(
                RecipientKind.POLICE,
                STATE_POLICE_HQ,
                "residence town not in the Connecticut directory",
                STATE_CLOCK,
                True,
            )
        )
        recipients.append(
            Recipient(
                RecipientKind.MDT, HART_LEAD, "residence town not in the Connecticut directory", STATE_CLOCK, True
            )
        )
        return recipients
    police, police_fallback = police_for(home)
    recipients.append(
        Recipient(
            RecipientKind.POLICE,
            police,
            f"police of residence town {home.name}" + (" (no troop on record)" if police_fallback else ""),
            STATE_CLOCK,
            police_fallback,
        )
    )
    mdt, mdt_fallback = mdt_for(home)
    recipients.append(
        Recipient(
            RecipientKind.MDT,
            mdt,
            f"MDT of residence town {home.name}" + (" (no judicial district on record)" if mdt_fallback else ""),
            STATE_CLOCK,
            mdt_fallback,
        )
    )
    return recipients
