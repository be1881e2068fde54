"""The project's reviewed rule tables (`pharmacology/*.tsv`): groups, members, rules, references.

The format is specified in `pharmacology/README.md`. Reading checks the structure (columns,
grades, bases, duplicate ids) and stops at the first fault with the file and line; resolving
checks the content against the drug index (every name one ingredient, every group and
reference defined) and lists every problem. `--check` prints both and what each rule covers:

    python -m cds_service.index_build.pharmacology --check
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from cds_service.core.evidence import EvidenceKind
from cds_service.core.severity import Severity
from cds_service.index_build.crediblemeds import known_tdp_group
from cds_service.index_build.drug_facts import UNIPROT_BY_GENE, DrugFacts
from cds_service.index_build.groups import Group, Membership
from cds_service.index_build.ingredient_resolver import IngredientResolver
from cds_service.index_build.statements import PairRow, Statement, rows_between

TABLES_DIR = Path(__file__).resolve().parent / "pharmacology"
RULES_SOURCE_ID = "DDI-CDS-rules"
SINGLE_DRUG = "="  # a rule side naming one drug rather than a group
EXCLUDED = "!"  # a member line that keeps a drug out of a group
BASIS_KINDS: dict[str, EvidenceKind] = {
    "label": EvidenceKind.LABEL,
    "curated": EvidenceKind.CURATED_RULE,
    "pharmacology": EvidenceKind.PHARMACOLOGY,
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "references": ("id", "citation", "url"),
    "groups": (
        "group",
        "label",
        "atc",
        "atc_exclude",
        "protein_action",
        "reference",
        "description",
    ),
    "members": ("group", "ingredient", "basis", "reference", "note"),
    "rules": (
        "rule",
        "group_a",
        "group_b",
        "grade",
        "basis",
        "harm",
        "mechanism",
        "advice",
        "monitor",
        "reference",
        "except",
    ),
    "summaries": ("rule", "harm_short", "action_short"),
}
# A card's summary is "<Drug A> + <Drug B>: <harm> — <action>" in under 140 characters
SHORT_LIMITS = {"harm_short": 55, "action_short": 60}
MONITOR_CODES = frozenset(
    {
        "INR",
        "ECG",
        "potassium",
        "serum-level",
        "creatinine",
        "blood-pressure",
        "glucose",
        "CK",
        "sedation",
        "platelets",
        "blood-count",
        "liver-tests",
        "heart-rate",
        "sodium",
        "magnesium",
        "TSH",
        "lithium-level",
        "digoxin-level",
    }
)


class TableError(ValueError):
    """A structural fault in a table: `<file>:<line>: <reason>`."""


@dataclass(frozen=True, slots=True)
class Reference:
    id: str
    citation: str
    url: str


@dataclass(frozen=True, slots=True)
class GroupDef:
    id: str
    label: str
    atc: tuple[str, ...]
    atc_exclude: tuple[str, ...]
    protein_actions: tuple[tuple[str, str], ...]
    references: tuple[str, ...]
    description: str
    where: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    group: str
    ingredient: str
    excluded: bool
    basis: str
    references: tuple[str, ...]
    note: str
    where: str


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: str
    group_a: str
    group_b: str
    grade: Severity
    kind: EvidenceKind
    harm: str
    mechanism: str
    advice: str
    monitor: tuple[str, ...]
    references: tuple[str, ...]
    excepted: tuple[str, ...]
    where: str
    harm_short: str = ""  # for a card's summary (`rules.summaries.tsv`)
    action_short: str = ""


@dataclass
class Tables:
    references: dict[str, Reference] = field(default_factory=dict)
    groups: dict[str, GroupDef] = field(default_factory=dict)
    members: list[MemberRow] = field(default_factory=list)
    rules: list[RuleRow] = field(default_factory=list)
    summaries: dict[str, tuple[str, str]] = field(default_factory=dict)  # rule -> harm, action


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(",") if part.strip())


def _rows(path: Path, kind: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(file:line, row) for each data line; comment lines are skipped."""
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [
            (number, line)
            for number, line in enumerate(handle, 1)
            if line.strip() and not line.startswith("#")
        ]
    if not lines:
        return
    header = tuple(lines[0][1].rstrip("\r\n").split("\t"))
    if header != COLUMNS[kind]:
        raise TableError(f"{path.name}:{lines[0][0]}: header must be {'|'.join(COLUMNS[kind])}")
    for number, line in lines[1:]:
        cells = line.rstrip("\r\n").split("\t")
        where = f"{path.name}:{number}"
        if len(cells) > len(header):
            raise TableError(f"{where}: {len(cells)} cells, the header has {len(header)}")
        cells += [""] * (len(header) - len(cells))
        yield where, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}


def table_files(folder: Path = TABLES_DIR) -> list[Path]:
    return sorted(folder.glob("*.tsv"))


def read_tables(folder: Path = TABLES_DIR) -> Tables:
    """Every `<domain>.<kind>.tsv` of the folder (kinds: references, groups, members, rules);
    `<domain>.atc.tsv` files are the source classes' ATC maps, read by `source_classes`."""
    tables = Tables()
    for path in table_files(folder):
        kind = path.name.split(".")[-2]
        if kind == "atc":
            continue
        if kind not in COLUMNS:
            raise TableError(f"{path.name}: unknown table kind {kind!r}")
        for where, row in _rows(path, kind):
            _read_row(tables, kind, where, row)
    return _with_summaries(tables)


def _with_summaries(tables: Tables) -> Tables:
    """Every rule with the short forms of its harm and advice; each short form of a rule."""
    rules = {rule.id for rule in tables.rules}
    unknown = sorted(set(tables.summaries) - rules)
    missing = sorted(rules - set(tables.summaries))
    if unknown or missing:
        raise TableError(
            "rules.summaries.tsv: "
            + "; ".join(
                f"{what} {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}"
                for what, ids in (("unknown rules", unknown), ("rules without one", missing))
                if ids
            )
        )
    tables.rules = [
        replace(
            rule, harm_short=tables.summaries[rule.id][0], action_short=tables.summaries[rule.id][1]
        )
        for rule in tables.rules
    ]
    return tables


def _read_row(tables: Tables, kind: str, where: str, row: dict[str, str]) -> None:
    if kind == "references":
        if row["id"] in tables.references:
            raise TableError(f"{where}: reference {row['id']!r} is defined twice")
        if not row["citation"]:
            raise TableError(f"{where}: reference {row['id']!r} has no citation")
        tables.references[row["id"]] = Reference(row["id"], row["citation"], row["url"])
    elif kind == "groups":
        tables.groups[row["group"]] = _group(where, row, tables.groups)
    elif kind == "members":
        name = row["ingredient"]
        excluded = name.startswith(EXCLUDED)
        if not row["group"] or not name.lstrip(EXCLUDED):
            raise TableError(f"{where}: a member needs a group and an ingredient")
        if not excluded and not row["basis"]:
            raise TableError(f"{where}: member {name!r} has no basis")
        tables.members.append(
            MemberRow(
                row["group"],
                name.lstrip(EXCLUDED).strip().lower(),
                excluded,
                row["basis"],
                _split(row["reference"]),
                row["note"],
                where,
            )
        )
    elif kind == "summaries":
        if row["rule"] in tables.summaries:
            raise TableError(f"{where}: rule {row['rule']!r} has two summaries")
        for column, limit in SHORT_LIMITS.items():
            text = row[column]
            if not text or len(text) > limit or "{" in text:
                raise TableError(
                    f"{where}: {column} must be 1 to {limit} characters, no placeholder"
                )
        tables.summaries[row["rule"]] = (row["harm_short"], row["action_short"])
    else:
        tables.rules.append(_rule(where, row, {r.id for r in tables.rules}))


def _group(where: str, row: dict[str, str], known: dict[str, GroupDef]) -> GroupDef:
    if not row["group"] or not row["label"]:
        raise TableError(f"{where}: a group needs an id and a label")
    if row["group"] in known:
        raise TableError(f"{where}: group {row['group']!r} is defined twice")
    actions = []
    for spec in _split(row["protein_action"]):
        gene, _, action = spec.partition(":")
        if gene not in UNIPROT_BY_GENE or not action:
            raise TableError(f"{where}: protein_action {spec!r} is not GENE:action")
        actions.append((gene, action.strip().lower()))
    return GroupDef(
        row["group"],
        row["label"],
        _split(row["atc"]),
        _split(row["atc_exclude"]),
        tuple(actions),
        _split(row["reference"]),
        row["description"],
        where,
    )


def _rule(where: str, row: dict[str, str], known: set[str]) -> RuleRow:
    if not row["rule"] or row["rule"] in known:
        raise TableError(f"{where}: rule id {row['rule']!r} is missing or defined twice")
    try:
        grade = Severity(row["grade"])
    except ValueError:
        raise TableError(f"{where}: grade {row['grade']!r} is not one of the scale") from None
    if row["basis"] not in BASIS_KINDS:
        raise TableError(f"{where}: basis {row['basis']!r} is not {', '.join(BASIS_KINDS)}")
    for column in ("group_a", "group_b", "harm", "mechanism", "advice"):
        if not row[column]:
            raise TableError(f"{where}: rule {row['rule']!r} has no {column}")
    monitor = _split(row["monitor"])
    unknown = [m for m in monitor if m not in MONITOR_CODES]
    if unknown:
        raise TableError(f"{where}: monitor {', '.join(unknown)} not in {sorted(MONITOR_CODES)}")
    return RuleRow(
        row["rule"],
        row["group_a"],
        row["group_b"],
        grade,
        BASIS_KINDS[row["basis"]],
        row["harm"],
        row["mechanism"],
        row["advice"],
        monitor,
        _split(row["reference"]),
        tuple(name.lower() for name in _split(row["except"])),
        where,
    )


@dataclass
class Resolution:
    groups: dict[str, Group]
    problems: list[str]


def resolve(
    tables: Tables,
    resolver: IngredientResolver,
    facts: DrugFacts,
    external: dict[str, Group] | None = None,
) -> Resolution:
    """Groups with their members (named, by ATC, by DrugBank protein action, from the sources'
    own lists in `external`), minus the excluded; and every problem found."""
    problems: list[str] = []

    def one(name: str, where: str) -> str | None:
        found = resolver.from_name(name)
        if len(found) != 1:
            kind = "names no ingredient" if not found else f"names {len(found)} ingredients"
            problems.append(f"{where}: {name!r} {kind} in the drug index")
            return None
        return found[0]

    groups: dict[str, Group] = dict(external or {})
    for definition in tables.groups.values():
        members: dict[str, Membership] = {}
        if definition.atc:
            for rxcui, code in facts.atc_members(definition.atc, definition.atc_exclude).items():
                members[rxcui] = Membership(f"ATC {code}")
        for rxcui, basis in facts.protein_members(definition.protein_actions).items():
            joined = members.get(rxcui)
            members[rxcui] = Membership(f"{joined.basis}; {basis}" if joined else basis)
        base = groups.get(definition.id)
        if base is not None:
            members = {**members, **base.members}
        groups[definition.id] = Group(definition.id, definition.label, members)
        for ref in definition.references:
            if ref not in tables.references:
                problems.append(f"{definition.where}: unknown reference {ref!r}")
    excluded: list[tuple[str, str]] = []
    for row in tables.members:
        if row.group not in groups:
            problems.append(f"{row.where}: unknown group {row.group!r}")
            continue
        member = one(row.ingredient, row.where)
        if member is None:
            continue
        if row.excluded:
            excluded.append((row.group, member))
        else:
            groups[row.group].members[member] = Membership(row.basis, row.note)
        problems += [
            f"{row.where}: unknown reference {ref!r}"
            for ref in row.references
            if ref not in tables.references
        ]
    for group_id, left_out in excluded:
        groups[group_id].members.pop(left_out, None)
    for rule in tables.rules:
        for side in (rule.group_a, rule.group_b):
            if side.startswith(SINGLE_DRUG):
                single = one(side[1:].strip().lower(), rule.where)
                if single is not None:
                    name = side[1:].strip().lower()
                    groups[side] = Group(side, name, {single: Membership("")})
            elif side not in groups:
                problems.append(f"{rule.where}: rule {rule.id!r} uses unknown group {side!r}")
        problems += [
            f"{rule.where}: unknown reference {ref!r}"
            for ref in rule.references
            if ref not in tables.references
        ]
        for name in rule.excepted:
            one(name, rule.where)
    for group in groups.values():
        if not group.members:
            problems.append(f"group {group.id!r} has no member in the drug index")
    return Resolution(groups, problems)


def rule_statement(rule: RuleRow, groups: dict[str, Group]) -> Statement:
    labels = [
        groups[side].label if side in groups else side for side in (rule.group_a, rule.group_b)
    ]
    return Statement(
        source=RULES_SOURCE_ID,
        editions=RULES_SOURCE_ID,
        severity=rule.grade.value,
        source_severity=f"{rule.grade.value} ({RULE_BASIS_WORDS[rule.kind]})",
        consequence=rule.harm,
        mechanism=rule.mechanism,
        management=rule.advice,
        management_derived=0,
        original_text="",
        via=" + ".join(labels),
        kind=rule.kind.value,
        monitor=",".join(rule.monitor),
        group_a=rule.group_a,
        group_b=rule.group_b,
        rule=rule.id,
        refs=",".join(rule.references),
        harm=rule.harm_short,
        action=rule.action_short,
    )


RULE_BASIS_WORDS = {
    EvidenceKind.LABEL: "US prescribing information",
    EvidenceKind.CURATED_RULE: "curated list",
    EvidenceKind.PHARMACOLOGY: "pharmacology rule",
}


def compile_rules(
    tables: Tables, resolution: Resolution, resolver: IngredientResolver
) -> list[PairRow]:
    rows: list[PairRow] = []
    for rule in tables.rules:
        if rule.group_a not in resolution.groups or rule.group_b not in resolution.groups:
            continue
        excepted = {found for name in rule.excepted for found in resolver.from_name(name)}
        statement = rule_statement(rule, resolution.groups)
        side_a = [r for r in resolution.groups[rule.group_a].members if r not in excepted]
        side_b = [r for r in resolution.groups[rule.group_b].members if r not in excepted]
        rows.extend(rows_between(sorted(side_a), sorted(side_b), statement))
    return rows


def main(argv: list[str] | None = None) -> int:
    from cds_service.core.drug_index import DrugIndex

    parser = argparse.ArgumentParser(description="Check the pharmacology rule tables.")
    parser.add_argument("--check", action="store_true", help="resolve and report (default)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    try:
        tables = read_tables()
    except TableError as error:
        print(f"pharmacology tables: {error}", file=sys.stderr)
        return 1
    index = DrugIndex()
    resolver = IngredientResolver(index)
    facts = DrugFacts(index, args.data)
    external = {"qt-known-tdp": known_tdp_group(args.data, resolver)}
    resolution = resolve(tables, resolver, facts, external)
    rows = compile_rules(tables, resolution, resolver)
    per_rule = Counter(row.statement.rule for row in rows)
    print(
        f"{len(tables.references)} references, {len(tables.groups)} groups, "
        f"{len(tables.members)} member lines, {len(tables.rules)} rules, {len(rows)} pair rows"
    )
    for rule in tables.rules:
        print(f"  {rule.id}: {rule.grade.value} ({rule.kind.value}) → {per_rule[rule.id]} pairs")
    for problem in resolution.problems:
        print(f"PROBLEM {problem}")
    return 1 if resolution.problems else 0


if __name__ == "__main__":
    sys.exit(main())
