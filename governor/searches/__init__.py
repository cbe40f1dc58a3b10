"""Searches by name (`--search`, `--policies`): importing this package registers every one of them."""

from governor.searches import baselines, fuse, fusegov, oracle  # noqa: F401  (registration)
from governor.searches.base import SEARCHES, Choice, Search, SearchContext

__all__ = ["SEARCHES", "Choice", "Search", "SearchContext"]
