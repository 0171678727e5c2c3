"""Which routes of the tree a report matches (Alertmanager semantics), as a pure function."""

from datetime import date

from shared.directory.towns import normalise
from shared.events import CarelineReport
from shared.policy.model import Matchers, Route


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def matches(m: Matchers, report: CarelineReport) -> bool:
    age = age_on(report.child.date_of_birth, report.received_at.date())
    checks = [
        m.classification is None or report.classification in m.classification,
        m.missing_or_runaway is None or report.missing_or_runaway == m.missing_or_runaway,
        m.child_foreign_national is None or report.child.foreign_national == m.child_foreign_national,
        m.age_min is None or age >= m.age_min,
        m.age_max is None or age <= m.age_max,
        m.residence_town is None or normalise(report.residence_town) in {normalise(t) for t in m.residence_town},
        m.occurrence_town is None
        or bool({normalise(t) for t in report.occurrence_towns} & {normalise(t) for t in m.occurrence_town}),
    ]
    return all(checks)


def matching_routes(route: Route, report: CarelineReport) -> list[Route]:
    """The deepest matching routes; a node's own recipients count only when none of its children match."""
    if not matches(route.match, report):
        return []
    found: list[Route] = []
    for child in route.routes:
        hits = matching_routes(child, report)
        found += hits
        if hits and not child.continue_:
            break
    return found or [route]
