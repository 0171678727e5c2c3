"""The Connecticut directory: towns and the agencies that serve them, loaded from data files."""

from shared.directory.agencies import Agency, AgencyKind
from shared.directory.towns import Town, TownDirectory, UnknownTown, load_town_directory

__all__ = ["Agency", "AgencyKind", "Town", "TownDirectory", "UnknownTown", "load_town_directory"]
