"""The ONC expert panels' lists: 15 high-priority interactions every US EHR must interrupt on
(Phansalkar et al., JAMIA 2012) and the interactions that must not interrupt (Phansalkar et
al., JAMIA 2013).

High priority: the panel's class table ("Revised Table 2" of the .xls: object class and drugs,
precipitant class and drugs, the member lists running down the rows) compiled as class rules,
with the QT interaction (#21) over CredibleMeds' known-risk drugs as the panel used, plus every
pair of the panel's own expansion (`ONC_High_Priority_Mapped.csv`) that the classes miss. The
table has no clinical text: each interaction's harm and advice below are the project's, written
from the paper and the drugs' US labelling. Non-interruptive: the class pairs of the formatted
CSV; they carry no text and never interrupt (cds_service.core.grading).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.core.drug_index import DrugIndex
from cds_service.core.evidence import EvidenceKind, Flag
from cds_service.core.severity import Severity
from cds_service.index_build.drug_facts import DrugFacts
from cds_service.index_build.groups import Group, Membership
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog
from cds_service.index_build.source_classes import ClassWidener
from cds_service.index_build.spreadsheets import xls_rows
from cds_service.index_build.statements import PairRow, Statement, pair_of, rows_between

HP_FOLDER = "knowledge/onc-high-priority-2012"
HP_TABLE = "ONC High Priority List.xls"
HP_SHEET = "Revised Table 2"
HP_PAIRS = "ONC_High_Priority_Mapped.csv"
NI_FOLDER = "knowledge/onc-non-interruptive-2013"
NI_TABLE = "ONC_Non_Interuptive_List_Mapped_Formatted.csv"
ONC_HP = "ONC-HP-2012"
ONC_NI = "ONC-NI-2013"
QT_INTERACTION = "21"
# The distributed files misspell a few members; the paper's names are meant.
SPELLING: dict[str, str] = {
    "lisdexamefetamine": "lisdexamfetamine",
    "esmoprazole": "esomeprazole",
    "voreconazole": "voriconazole",
    "st john\u2019s wort": "st. john's wort",
}
# The non-interruptive list's "Salicylates" lost its members in the mapping to DrugBank
# (methacholine and niclosamide stand in their place); the panel meant the salicylates.
NI_GARBLED: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "salicylates": (
        frozenset({"methacholine", "niclosamide", "morpholine salicylate"}),
        ("aspirin", "salsalate", "diflunisal", "choline magnesium trisalicylate"),
    ),
}

SOURCES = [
    {
        "id": ONC_HP,
        "label": "ONC high-priority drug-drug interactions (2012)",
        "citation": (
            "Phansalkar S, Desai AA, Bell D, et al. High-priority drug-drug interactions for use "
            "in electronic health records. J Am Med Inform Assoc 2012;19(5):735-743. Class "
            "table and pairs from dbmi-pitt/public-PDDI-analysis @ 8199ee66; harm and advice "
            "written by the project from the paper and US labelling."
        ),
        "url": "https://doi.org/10.1136/amiajnl-2011-000612",
        "licence": "Published consensus list, public; cite the paper",
    },
    {
        "id": ONC_NI,
        "label": "ONC non-interruptive drug-drug interactions (2013)",
        "citation": (
            "Phansalkar S, van der Sijs H, Tucker AD, et al. Drug-drug interactions that should "
            "be non-interruptive in order to reduce alert fatigue in electronic health records. "
            "J Am Med Inform Assoc 2013;20(3):489-493. Pairs from "
            "dbmi-pitt/public-PDDI-analysis @ 8199ee66."
        ),
        "url": "https://doi.org/10.1136/amiajnl-2012-001089",
        "licence": "Published consensus list, public; cite the paper",
    },
]

# (harm, mechanism, advice, monitor) per interaction number of the panel's table.
HP_TEXT: dict[str, tuple[str, str, str, str]] = {
    "3": (
        "Hypertensive crisis: severe hypertension, hyperthermia, stroke",
        "MAO inhibition leaves the noradrenaline the stimulant releases undegraded",
        "Do not combine. Allow 14 days after stopping the MAO inhibitor before starting the "
        "stimulant.",
        "blood-pressure",
    ),
    "4": (
        "Atazanavir absorption falls sharply: loss of HIV suppression and resistance",
        "Atazanavir needs gastric acid to dissolve; proton-pump inhibitors suppress it for a day",
        "Avoid. Treatment-experienced patients: do not co-administer. If acid suppression is "
        "needed, use an H2-receptor antagonist at the times the atazanavir label allows, or "
        "an antacid 2 hours after atazanavir.",
        "",
    ),
    "6": (
        "Severe, possibly fatal bone-marrow suppression",
        "Xanthine oxidase inactivates azathioprine and mercaptopurine; blocking it raises "
        "thiopurine nucleotides several-fold",
        "Febuxostat: contraindicated with azathioprine or mercaptopurine. With allopurinol, "
        "reduce the thiopurine to one third or one quarter of the dose and check blood counts "
        "weekly for the first month.",
        "blood-count",
    ),
    "8": (
        "Serotonin syndrome: agitation, hyperthermia, clonus, autonomic instability; deaths "
        "reported",
        "MAO inhibition and serotonin reuptake inhibition together flood synapses with serotonin",
        "Contraindicated. Allow 14 days between stopping an MAO inhibitor and starting the "
        "antidepressant (5 weeks after fluoxetine the other way round).",
        "",
    ),
    "11": (
        "More SN-38 (the active metabolite): severe neutropenia and diarrhoea",
        "CYP3A4 inhibition shifts irinotecan from inactive oxidation towards SN-38",
        "Avoid: stop strong CYP3A4 inhibitors at least 1 week before irinotecan; with other "
        "inhibitors, monitor blood counts and diarrhoea closely.",
        "blood-count",
    ),
    "16": (
        "Serotonin syndrome or opioid toxicity (meperidine, tramadol, methadone, fentanyl, "
        "tapentadol, dextromethorphan); fatal reactions reported",
        "These opioids inhibit serotonin reuptake while MAO is blocked",
        "Contraindicated: do not give within 14 days of an MAO inhibitor. Where an opioid is "
        "essential, a non-serotonergic one (e.g. morphine) at a reduced dose, with monitoring.",
        "",
    ),
    "20": (
        "Serotonin syndrome and hypertensive crisis",
        "Tricyclic reuptake inhibition of serotonin and noradrenaline while MAO is blocked",
        "Avoid. Allow 14 days after stopping the MAO inhibitor before starting a tricyclic.",
        "blood-pressure",
    ),
    QT_INTERACTION: (
        "Additive QT prolongation: torsades de pointes and sudden death",
        "Both drugs block the cardiac potassium current (hERG)",
        "Avoid the combination. If it is essential, obtain an ECG before and after starting, "
        "keep potassium and magnesium normal, and stop if the QTc exceeds 500 ms.",
        "ECG",
    ),
    "22": (
        "Ramelteon exposure rises up to 190-fold with fluvoxamine: excessive sedation",
        "CYP1A2 inhibition blocks ramelteon's first-pass metabolism",
        "Fluvoxamine: contraindicated with ramelteon. Other CYP1A2 inhibitors: use ramelteon "
        "with caution, at the lowest dose.",
        "sedation",
    ),
    "23": (
        "Protease-inhibitor levels fall: loss of HIV suppression and resistance",
        "Strong CYP3A4 (and P-gp) induction accelerates protease-inhibitor clearance",
        "Avoid: rifampin and St. John's wort are contraindicated with HIV protease inhibitors; "
        "rifabutin at an adjusted dose is the usual alternative for mycobacterial infection.",
        "",
    ),
    "25": (
        "Myopathy and rhabdomyolysis",
        "CYP3A4 inhibition raises simvastatin and lovastatin exposure many-fold",
        "Strong CYP3A4 inhibitors: contraindicated; switch to pravastatin or rosuvastatin, or "
        "hold the statin for a short course. Amiodarone, verapamil, diltiazem: keep "
        "simvastatin at 10-20 mg and lovastatin at 20-40 mg a day.",
        "CK",
    ),
    "27": (
        "Ergotism: severe vasoconstriction with limb or cerebral ischaemia",
        "CYP3A4 inhibition raises ergot alkaloid levels",
        "Contraindicated. Treat migraine with a drug not cleared by CYP3A4.",
        "",
    ),
    "28": (
        "Tizanidine exposure rises 10-fold (ciprofloxacin) to 33-fold (fluvoxamine): severe "
        "hypotension, bradycardia and sedation",
        "CYP1A2 inhibition blocks tizanidine's clearance",
        "Contraindicated with ciprofloxacin and fluvoxamine; avoid other CYP1A2 inhibitors or "
        "choose another muscle relaxant (e.g. baclofen).",
        "blood-pressure",
    ),
    "30": (
        "Hypertensive crisis and serotonin toxicity from two MAO inhibitors",
        "Procarbazine is itself an MAO inhibitor",
        "Do not combine.",
        "blood-pressure",
    ),
    "31": (
        "Serotonin syndrome; higher triptan exposure",
        "MAO-A metabolises sumatriptan, rizatriptan and zolmitriptan",
        "Contraindicated with, and within 2 weeks of, an MAO-A inhibitor. If a triptan is "
        "needed, one not cleared by MAO-A (eletriptan, frovatriptan, naratriptan), with caution.",
        "",
    ),
}


@dataclass
class OncSide:
    label: str
    names: list[str] = field(default_factory=list)


@dataclass
class OncInteraction:
    number: str
    object: OncSide
    precipitant: OncSide


@dataclass
class OncResult:
    rows: list[PairRow]
    groups: dict[str, Group]
    expansion_pairs: int = 0
    expansion_pairs_mapped: int = 0
    expansion_pairs_beyond_classes: int = 0
    widened_members: int = 0
    ni_pairs: int = 0


def input_files(data_dir: Path) -> list[Path]:
    return [
        data_dir / HP_FOLDER / HP_TABLE,
        data_dir / HP_FOLDER / HP_PAIRS,
        data_dir / NI_FOLDER / NI_TABLE,
    ]


def read_hp_table(path: Path) -> list[OncInteraction]:
    """Column positions: 0 #, 1 object class, 2 object drug, 3 precipitant class, 4 drug."""
    interactions: list[OncInteraction] = []
    for row in xls_rows(path, HP_SHEET)[1:]:
        cells = [*row, "", "", "", "", ""][:5]
        if cells[0]:
            interactions.append(
                OncInteraction(
                    cells[0],
                    OncSide(_label(cells[1]) or cells[2]),
                    OncSide(_label(cells[3]) or cells[4]),
                )
            )
        if not interactions:
            continue
        current = interactions[-1]
        if cells[2]:
            current.object.names.append(cells[2])
        if cells[4]:
            current.precipitant.names.append(cells[4])
    return interactions


def _label(cell: str) -> str:
    return " ".join(cell.split())


def compile_onc(
    data_dir: Path,
    index: DrugIndex,
    resolver: IngredientResolver,
    facts: DrugFacts,
    known_tdp: Group,
    log: UnmappedLog,
) -> OncResult:
    interactions = read_hp_table(data_dir / HP_FOLDER / HP_TABLE)
    ni_rows = list(_ni_rows(data_dir))
    named = {n for i in interactions for side in (i.object, i.precipitant) for n in side.names}
    named |= {row[2] for row in ni_rows} | {row[7] for row in ni_rows}
    known = {r for name in named for r in resolver.from_name(name)}
    result = OncResult(rows=[], groups={})
    widener = ClassWidener(ONC_HP, facts, known)
    covered: set[tuple[str, str]] = set()
    for interaction in interactions:
        sides = []
        roles = (("object", interaction.object), ("precipitant", interaction.precipitant))
        for role, side in roles:
            group_id = f"{ONC_HP}:{interaction.number}:{role}"
            if interaction.number == QT_INTERACTION:
                group = Group(group_id, "QT-prolonging agent", dict(known_tdp.members))
            else:
                group = _side_group(group_id, side, resolver, widener, log)
                result.widened_members += sum(
                    1 for m in group.members.values() if m.basis.startswith("ATC")
                )
            result.groups[group_id] = group
            sides.append(group)
        statement = _hp_statement(interaction, sides[0].id, sides[1].id)
        for row in rows_between(sorted(sides[0].members), sorted(sides[1].members), statement):
            result.rows.append(row)
            covered.add((row.low, row.high))
    result.rows += _expansion_beyond_classes(data_dir, index, covered, result)
    result.rows += _ni_statement_rows(ni_rows, index, resolver, result)
    return result


def _side_group(
    group_id: str,
    side: OncSide,
    resolver: IngredientResolver,
    widener: ClassWidener,
    log: UnmappedLog,
) -> Group:
    members: dict[str, Membership] = {}
    for name in side.names:
        found = resolver.from_name(SPELLING.get(name.lower(), name))
        if not found:
            log.add(f"ONC high-priority member: {name}")
        for rxcui in found:
            members[rxcui] = Membership("")
    for rxcui, basis in widener.extra_members(side.label).items():
        members.setdefault(rxcui, Membership(basis))
    return Group(group_id, side.label, members)


def _hp_statement(interaction: OncInteraction, group_a: str, group_b: str) -> Statement:
    harm, mechanism, advice, monitor = HP_TEXT[interaction.number]
    return Statement(
        source=ONC_HP,
        editions=ONC_HP,
        severity=Severity.MAJOR.value,
        source_severity=f"high priority (#{interaction.number})",
        consequence=harm,
        mechanism=mechanism,
        management=advice,
        management_derived=0,
        original_text=f"#{interaction.number} {interaction.object.label} + "
        f"{interaction.precipitant.label}",
        via=f"{interaction.object.label} + {interaction.precipitant.label}",
        kind=EvidenceKind.CURATED.value,
        flag=Flag.ALWAYS_INTERRUPTIVE.value,
        monitor=monitor,
        group_a=group_a,
        group_b=group_b,
    )


def _drugbank_pairs(path: Path) -> Iterable[tuple[str, str, str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line in handle:
            cells = line.strip().split("$")
            if len(cells) >= 4 and cells[1].startswith("DB") and cells[3].startswith("DB"):
                yield cells[0], cells[1], cells[2], cells[3]


def _expansion_beyond_classes(
    data_dir: Path, index: DrugIndex, covered: set[tuple[str, str]], result: OncResult
) -> list[PairRow]:
    """Pairs of the panel's own expansion that the class table (as read) does not produce."""
    statement = Statement(
        source=ONC_HP,
        editions=ONC_HP,
        severity=Severity.MAJOR.value,
        source_severity="high priority (panel's pair expansion)",
        consequence="",
        mechanism="",
        management="",
        management_derived=0,
        original_text="Pair listed in the panel's expansion of its high-priority classes",
        via="",
        flag=Flag.ALWAYS_INTERRUPTIVE.value,
    )
    rows: list[PairRow] = []
    seen: set[tuple[str, str]] = set()
    for _, db_a, _, db_b in _drugbank_pairs(data_dir / HP_FOLDER / HP_PAIRS):
        key = (db_a, db_b) if db_a <= db_b else (db_b, db_a)
        if key in seen:
            continue
        seen.add(key)
        result.expansion_pairs += 1
        side_a, side_b = index.ingredients_for_drugbank(db_a), index.ingredients_for_drugbank(db_b)
        if not (side_a and side_b):
            continue
        result.expansion_pairs_mapped += 1
        for a in side_a:
            for b in side_b:
                if a != b and pair_of(a, b) not in covered:
                    result.expansion_pairs_beyond_classes += 1
                    rows.extend(rows_between([a], [b], statement))
    return rows


def _ni_rows(data_dir: Path) -> Iterable[list[str]]:
    """ID, object class, object drug, DrugBank, 2 URIs, precipitant class, drug, DrugBank, …"""
    with (data_dir / NI_FOLDER / NI_TABLE).open(encoding="utf-8-sig", newline="") as handle:
        for cells in csv.reader(handle):
            if len(cells) >= 9 and cells[0].strip().isdigit():
                yield [" ".join(c.split()) for c in cells]


def _ni_members(
    drug_class: str, drugbank_id: str, name: str, index: DrugIndex, resolver: IngredientResolver
) -> list[str]:
    garbled = NI_GARBLED.get(drug_class.strip().lower())
    if garbled is not None and name.strip().lower() in garbled[0]:
        return sorted({r for member in garbled[1] for r in resolver.from_name(member)})
    return index.ingredients_for_drugbank(drugbank_id) or list(resolver.from_name(name))


def _ni_statement_rows(
    ni_rows: list[list[str]], index: DrugIndex, resolver: IngredientResolver, result: OncResult
) -> list[PairRow]:
    rows: list[PairRow] = []
    statements: dict[str, Statement] = {}
    for cells in ni_rows:
        number, object_class, object_drug, object_db = cells[0], cells[1], cells[2], cells[3]
        precipitant_class, precipitant_drug, precipitant_db = cells[6], cells[7], cells[8]
        if number not in statements:
            statements[number] = Statement(
                source=ONC_NI,
                editions=ONC_NI,
                severity=Severity.MODERATE.value,
                source_severity=f"non-interruptive (#{number})",
                consequence="",
                mechanism="",
                management="",
                management_derived=0,
                original_text=f"#{number} {object_class} + {precipitant_class}",
                via=f"{object_class} + {precipitant_class}",
                flag=Flag.NON_INTERRUPTIVE.value,
            )
        sides = [
            _ni_members(cls, db, name, index, resolver)
            for cls, db, name in (
                (object_class, object_db, object_drug),
                (precipitant_class, precipitant_db, precipitant_drug),
            )
        ]
        if sides[0] and sides[1]:
            result.ni_pairs += 1
            rows.extend(rows_between(sides[0], sides[1], statements[number]))
    return rows
