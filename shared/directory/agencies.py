"""Agencies are entities with an id and a name; endpoints and secrets come from configuration."""

import re
from dataclasses import dataclass
from enum import StrEnum


class AgencyKind(StrEnum):
    HART_LEAD = "hart_lead"
    HART_LIAISON = "hart_liaison"
    FBI = "fbi"
    MUNICIPAL_POLICE = "municipal_police"
    STATE_POLICE = "state_police"
    MDT = "mdt"
    NCMEC = "ncmec"
    HHS = "hhs"


@dataclass(frozen=True)
class Agency:
    agency_id: str
    name: str
    kind: AgencyKind


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


HART_LEAD = Agency("hart-lead", "DCF Statewide Human Anti-Trafficking Response Team (HART) Lead", AgencyKind.HART_LEAD)
FBI_NEW_HAVEN = Agency("fbi-new-haven", "FBI New Haven Division", AgencyKind.FBI)
STATE_POLICE_HQ = Agency("csp-hq", "Connecticut State Police Headquarters (fallback)", AgencyKind.STATE_POLICE)
NCMEC = Agency("ncmec", "National Center for Missing & Exploited Children", AgencyKind.NCMEC)
HHS_OTIP = Agency("hhs-otip", "HHS Office on Trafficking in Persons", AgencyKind.HHS)

STATEWIDE_AGENCIES: dict[str, Agency] = {
    a.agency_id: a for a in (HART_LEAD, FBI_NEW_HAVEN, STATE_POLICE_HQ, NCMEC, HHS_OTIP)
}
"""Agencies a policy may name directly (fixed recipients and fallbacks); local ones come from the directory."""


def regional_hart_liaison(dcf_region: str) -> Agency:
    """One liaison per DCF region ("Region 4" -> hart-region-4)."""
    number = dcf_region.removeprefix("Region").strip()
    return Agency(f"hart-region-{slug(number)}", f"DCF {dcf_region} HART Liaison", AgencyKind.HART_LIAISON)
