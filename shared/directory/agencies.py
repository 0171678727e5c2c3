"""Agencies are entities with an id and a name; endpoints and secrets come from configuration."""

import re
from dataclasses import dataclass
from enum import StrEnum


class AgencyKind(StrEnum):
    HART_LEAD = "hart_lead"
    FBI = "fbi"
    MUNICIPAL_POLICE = "municipal_police"
    STATE_POLICE = "state_police"
    MDT = "mdt"


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


def municipal_police(department: str) -> Agency:
    return Agency(
        f"pd-{slug(department.removesuffix(' PD'))}",
        f"{department.removesuffix(' PD')} Police Department",
        AgencyKind.MUNICIPAL_POLICE,
    )


def state_police_troop(troop: str) -> Agency:
    return Agency(
        f"csp-troop-{slug(troop)}", f"Connecticut State Police Troop {troop.upper()}", AgencyKind.STATE_POLICE
    )


def mdt_for_district(judicial_district: str) -> Agency:
    name = judicial_district.removesuffix(" Judicial District")
    return Agency(f"mdt-{slug(name)}", f"{name} Judicial District Multidisciplinary Team", AgencyKind.MDT)
