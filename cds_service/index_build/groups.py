"""Groups of ingredients that rules and sources speak of (a class, a mechanistic role, a
source's list), with how each member joined: the type every source module of the build shares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Membership:
    basis: str  # how the drug joined, in words a card can show
    note: str = ""  # what too much (or too little) of the drug does, for rule texts


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    label: str
    members: dict[str, Membership]  # ingredient RXCUI → how it joined
