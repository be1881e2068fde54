"""Medications as a US prescriber codes them, on the committed drug index (issue 18): salts that
RxNorm makes ingredients of their own, brand names, packs, and the ATC codes taken from WHO."""

import sqlite3
from pathlib import Path

import pytest

from cds_service.core.drug_index import DEFAULT_INDEX_PATH
from cds_service.core.mapping import MOIETY_TABLE
from cds_service.index_build.brands import parse_brand_mixtures
from cds_service.index_build.moieties import (
    MoietyTable,
    MoietyTableError,
    check_bases,
    moiety_links,
    read_moiety_table,
)
from cds_service.index_build.who_atc import NOT_FROM_WHO
from cds_service.testing.hook_requests import ndc, rxnorm


def names(mapping) -> set[str]:
    return {m.ingredient.name for m in mapping.ingredients}


@pytest.fixture(scope="module")
def index_db():
    db = sqlite3.connect(f"file:{DEFAULT_INDEX_PATH}?mode=ro", uri=True)
    yield db
    db.close()


# --- salts and their base moieties -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name", "salt", "base"),
    [
        ("197889", "lithium carbonate 300 MG Oral Capsule", "lithium carbonate", "lithium"),
        ("756059", "lithium citrate 60 MG/ML Oral Solution", "lithium citrate", "lithium"),
        (
            "206786",
            "lithium carbonate 300 MG Extended Release Oral Tablet [Lithobid]",
            "lithium carbonate",
            "lithium",
        ),
        (
            "198116",
            "potassium chloride 20 MEQ Extended Release Oral Tablet",
            "potassium chloride",
            "potassium",
        ),
        (
            "1088772",
            "potassium bicarbonate 25 MEQ Effervescent Oral Tablet",
            "potassium bicarbonate",
            "potassium",
        ),
        ("282465", "calcium carbonate 1250 MG Oral Tablet", "calcium carbonate", "calcium"),
        ("310325", "ferrous sulfate 325 MG Oral Tablet", "ferrous sulfate", "iron"),
        ("198741", "magnesium oxide 400 MG Oral Tablet", "magnesium oxide", "magnesium"),
        ("313773", "zinc sulfate 220 MG Oral Capsule", "zinc sulfate", "zinc"),
    ],
)
def test_a_salt_product_maps_to_the_salt_with_its_base_moiety(
    mapper, drug_index, code, name, salt, base
):
    concept = drug_index.concept(code)
    assert concept.tty in ("SCD", "SBD")
    assert concept.name == name
    mapping = mapper.map_concept(rxnorm(code))
    (item,) = mapping.ingredients
    assert item.ingredient.name == salt
    assert item.moiety is not None and item.moiety.name == base
    moiety_rxcui, basis = drug_index.moiety(item.ingredient.rxcui)
    assert moiety_rxcui == item.moiety.rxcui and basis
    assert item.ingredient.rxcui in drug_index.salts_of(moiety_rxcui)
    last = item.trail[-1]  # what a card can show
    assert (last.code, last.table) == (moiety_rxcui, MOIETY_TABLE)
    assert last.detail.startswith(f"{salt}: salt of {base} (RxNorm IN {moiety_rxcui})")


def test_moiety_and_salts_of_work_both_ways(drug_index):
    assert drug_index.moiety("42351")[0] == "6448"  # lithium carbonate -> lithium
    assert drug_index.moiety("8591")[0] == "8588"  # potassium chloride -> potassium
    assert drug_index.salts_of("6448") == ["42351", "52105"]
    assert drug_index.moiety("6448") is None  # a base is no salt
    assert drug_index.salts_of("42351") == []  # a salt has no salts
    assert drug_index.moiety("11289") is None  # nor has warfarin
    assert drug_index.salts_of("99999999") == []


@pytest.mark.parametrize(
    ("rxcui", "name"),
    [
        ("36676", "sodium bicarbonate"),  # acts as bicarbonate, never as sodium
        ("9863", "sodium chloride"),
        ("8597", "potassium iodide"),  # acts as iodide
        ("52364", "magnesium salicylate"),  # a salicylate
        ("1484283", "sucroferric oxyhydroxide"),  # a phosphate binder
        ("612", "aluminum hydroxide"),  # no RxNorm code for aluminum in the sources at hand
    ],
)
def test_look_alikes_keep_no_moiety(mapper, drug_index, rxcui, name):
    assert drug_index.ingredient(rxcui).name == name
    assert drug_index.moiety(rxcui) is None
    (item,) = mapper.map_concept(rxnorm(rxcui)).ingredients
    assert item.moiety is None and all(step.table != MOIETY_TABLE for step in item.trail)


# Every salt -> base of the index, as reviewed: a change in the table or in RxNorm shows here.
REVIEWED_SALTS = {
    "calcium": {'calcium acetate', 'calcium carbonate', 'calcium chloride', 'calcium citrate',
                'calcium gluconate', 'calcium glycerophosphate', 'calcium lactate',
                'calcium phosphate', 'tricalcium phosphate'},
    "chromium": {'chromic chloride', 'chromium nicotinic acid complex', 'chromium picolinate',
                 'chromium, chelated'},
    "copper": {'copper gluconate', 'copper sulfate', 'cupric chloride', 'cupric oxide',
               'cuprous oxide'},
    "iron": {'ferric carboxymaltose', 'ferric citrate', 'ferric derisomaltose', 'ferric maltol',
             'ferric pyrophosphate', 'ferrous asparto glycinate', 'ferrous bisglycinate',
             'ferrous fumarate', 'ferrous gluconate', 'ferrous sulfate', 'heme iron polypeptide',
             'iron carbonyl', 'iron succinyl milk protein complex', 'iron sucrose',
             'iron-dextran complex', 'polysaccharide iron complex',
             'sodium ferric gluconate complex'},
    "lithium": {'lithium carbonate', 'lithium citrate'},
    "magnesium": {'magnesium acetate', 'magnesium amino acid chelate', 'magnesium aspartate',
                  'magnesium carbonate', 'magnesium chloride', 'magnesium citrate',
                  'magnesium gluconate', 'magnesium glycinate', 'magnesium hydroxide',
                  'magnesium lactate', 'magnesium oxide', 'magnesium sulfate',
                  'magnesium trisilicate', 'magnesium, chelated'},
    "potassium": {'dibasic potassium phosphate', 'potassium acetate', 'potassium aspartate',
                  'potassium bicarbonate', 'potassium chloride', 'potassium citrate',
                  'potassium gluconate', 'potassium phosphate', 'potassium sulfate',
                  'potassium,chelated'},
    "selenium": {'sodium selenate'},
    "zinc": {'zinc acetate', 'zinc chloride', 'zinc citrate', 'zinc gluconate', 'zinc glycinate',
             'zinc oxide', 'zinc sulfate'},
}  # fmt: skip


def test_every_salt_to_base_link_is_the_reviewed_one(index_db):
    found: dict[str, set[str]] = {}
    for salt, base in index_db.execute(
        "SELECT s.name, b.name FROM ingredient_moiety m JOIN ingredient s ON s.rxcui = m.rxcui "
        "JOIN ingredient b ON b.rxcui = m.moiety_rxcui"
    ):
        found.setdefault(base, set()).add(salt)
    assert found == REVIEWED_SALTS


def test_every_base_of_the_table_is_an_ingredient_named_as_rxnorm_names_it(mapper, drug_index):
    for name, (rxcui, _basis) in read_moiety_table().bases.items():
        assert drug_index.ingredient(rxcui).name == name
        assert mapper.map_concept({"text": name}).ingredient_rxcuis == (rxcui,)


# --- brands and packs --------------------------------------------------------------------------

US_BRANDS = [
    ("Eliquis", {"apixaban"}),
    ("Xarelto", {"rivaroxaban"}),
    ("Pradaxa", {"dabigatran etexilate"}),
    ("Savaysa", {"edoxaban"}),
    ("Coumadin", {"warfarin"}),
    ("Jantoven", {"warfarin"}),
    ("Lipitor", {"atorvastatin"}),
    ("Zocor", {"simvastatin"}),
    ("Crestor", {"rosuvastatin"}),
    ("Plavix", {"clopidogrel"}),
    ("Brilinta", {"ticagrelor"}),
    ("Entresto", {"sacubitril", "valsartan"}),
    ("Synthroid", {"levothyroxine"}),
    ("Lasix", {"furosemide"}),
    ("Aldactone", {"spironolactone"}),
    ("Klor-Con", {"potassium chloride"}),
    ("Zoloft", {"sertraline"}),
    ("Prozac", {"fluoxetine"}),
    ("Lexapro", {"escitalopram"}),
    ("Celexa", {"citalopram"}),
    ("Paxil", {"paroxetine"}),
    ("Wellbutrin", {"bupropion"}),
    ("Cymbalta", {"duloxetine"}),
    ("Effexor", {"venlafaxine"}),
    ("Nardil", {"phenelzine"}),
    ("Parnate", {"tranylcypromine"}),
    ("Xanax", {"alprazolam"}),
    ("Klonopin", {"clonazepam"}),
    ("Ativan", {"lorazepam"}),
    ("Valium", {"diazepam"}),
    ("Ambien", {"zolpidem"}),
    ("Seroquel", {"quetiapine"}),
    ("Zyprexa", {"olanzapine"}),
    ("Abilify", {"aripiprazole"}),
    ("Risperdal", {"risperidone"}),
    ("Lithobid", {"lithium carbonate"}),
    ("Depakote", {"valproate"}),
    ("Lamictal", {"lamotrigine"}),
    ("Tegretol", {"carbamazepine"}),
    ("Dilantin", {"phenytoin"}),
    ("Keppra", {"levetiracetam"}),
    ("Neurontin", {"gabapentin"}),
    ("Lyrica", {"pregabalin"}),
    ("Zanaflex", {"tizanidine"}),
    ("OxyContin", {"oxycodone"}),
    ("Percocet", {"acetaminophen", "oxycodone"}),
    ("Percodan", {"aspirin", "oxycodone"}),
    ("Vicodin", {"acetaminophen", "hydrocodone"}),
    ("Norco", {"acetaminophen", "hydrocodone"}),
    ("Ultram", {"tramadol"}),
    ("Imitrex", {"sumatriptan"}),
    ("Flagyl", {"metronidazole"}),
    ("Cipro", {"ciprofloxacin"}),
    ("Levaquin", {"levofloxacin"}),
    ("Zithromax", {"azithromycin"}),
    ("Biaxin", {"clarithromycin"}),
    ("Bactrim", {"sulfamethoxazole", "trimethoprim"}),
    ("Septra", {"sulfamethoxazole", "trimethoprim"}),
    ("Augmentin", {"amoxicillin", "clavulanate"}),
    ("Zovirax", {"acyclovir"}),
    ("Diflucan", {"fluconazole"}),
    ("Sporanox", {"itraconazole"}),
    ("Nizoral", {"ketoconazole"}),
    ("Prilosec", {"omeprazole"}),
    ("Nexium", {"esomeprazole"}),
    ("Protonix", {"pantoprazole"}),
    ("Glucophage", {"metformin"}),
    ("Januvia", {"sitagliptin"}),
    ("Jardiance", {"empagliflozin"}),
    ("Farxiga", {"dapagliflozin"}),
    ("Ozempic", {"semaglutide"}),
    ("Lantus", {"insulin glargine"}),
    ("Norvasc", {"amlodipine"}),
    ("Cardizem", {"diltiazem"}),
    ("Calan", {"verapamil"}),
    ("Lopressor", {"metoprolol"}),
    ("Toprol-XL", {"metoprolol"}),
    ("Coreg", {"carvedilol"}),
    ("Zestril", {"lisinopril"}),
    ("Prinivil", {"lisinopril"}),
    ("Cozaar", {"losartan"}),
    ("Diovan", {"valsartan"}),
    ("Tikosyn", {"dofetilide"}),
    ("Multaq", {"dronedarone"}),
    ("Cordarone", {"amiodarone"}),
    ("Pacerone", {"amiodarone"}),
    ("Lanoxin", {"digoxin"}),
    ("Viagra", {"sildenafil"}),
    ("Cialis", {"tadalafil"}),
    ("Paxlovid", {"nirmatrelvir", "ritonavir"}),
    ("Norvir", {"ritonavir"}),
    ("Kaletra", {"lopinavir", "ritonavir"}),
    ("Biktarvy", {"bictegravir", "emtricitabine", "tenofovir alafenamide"}),
    ("Prezista", {"darunavir"}),
    ("Prezcobix", {"cobicistat", "darunavir"}),
    ("Genvoya", {"cobicistat", "elvitegravir", "emtricitabine", "tenofovir alafenamide"}),
    ("Truvada", {"emtricitabine", "tenofovir disoproxil"}),
]


@pytest.mark.parametrize(("brand", "expected"), US_BRANDS, ids=[b for b, _ in US_BRANDS])
def test_us_brand_names_map_to_every_ingredient(mapper, brand, expected):
    mapping = mapper.map_concept({"text": brand})
    assert names(mapping) == expected, mapping.unmapped_reasons


def test_the_brand_list_is_long_enough():
    assert len(US_BRANDS) >= 40


@pytest.mark.parametrize(
    ("concept", "product", "tty", "expected"),
    [
        (rxnorm("206786"), "206786", "SBD", {"lithium carbonate"}),  # [Lithobid]
        (rxnorm("1364441"), "1364441", "product", {"apixaban"}),  # Eliquis, only in RxTerms
        (rxnorm("2599543"), "2599543", "BPCK", {"nirmatrelvir", "ritonavir"}),  # Paxlovid
        (rxnorm("2587899"), "2587899", "BPCK", {"nirmatrelvir", "ritonavir"}),  # Paxlovid 5-Day
        (ndc("00069-0345-06"), "2587899", "BPCK", {"nirmatrelvir", "ritonavir"}),  # its NDC
        # amoxicillin lives in the missing A.json: found from the pack's own component list
        (rxnorm("1291987"), "1291987", "BPCK", {"amoxicillin", "clarithromycin", "omeprazole"}),
        (
            rxnorm("2604579"),
            "2604579",
            "GPCK",
            {"acetaminophen", "chlorpheniramine", "dextromethorphan"},
        ),
    ],
)
def test_branded_drugs_and_packs_map_by_code(mapper, drug_index, concept, product, tty, expected):
    assert drug_index.concept(product).tty == tty
    mapping = mapper.map_concept(concept)
    assert names(mapping) == expected
    assert mapping.notes == ()


@pytest.mark.parametrize(
    ("pack", "checked", "unknown"),
    [
        ("2714921", {"defactinib"}, "avutometinib 0.8 MG Oral Capsule"),
        ("2723663", {"docetaxel"}, "50 ML albumin human-kjda 250 MG/ML Injection"),
    ],
)
def test_a_pack_component_with_no_known_ingredient_is_said_not_dropped(
    mapper, drug_index, pack, checked, unknown
):
    assert (unknown, ()) in drug_index.pack_components(pack)
    mapping = mapper.map_concept(rxnorm(pack))
    assert names(mapping) == checked
    assert any(unknown in note and "NOT checked" in note for note in mapping.notes)


def test_placebo_days_of_a_pack_are_known_and_not_checked(mapper, drug_index, index_db):
    (pack,) = index_db.execute(
        "SELECT pack_rxcui FROM pack_component WHERE component LIKE 'inert ingredients%' "
        "ORDER BY pack_rxcui LIMIT 1"
    ).fetchone()
    mapping = mapper.map_concept(rxnorm(pack))
    assert mapping.is_mapped and mapping.notes == ()
    assert "inert ingredients" not in names(mapping)


# --- ATC codes ---------------------------------------------------------------------------------


def atc(index_db, name: str) -> tuple[str | None, str | None]:
    return index_db.execute(
        "SELECT atc_codes, atc_source FROM ingredient WHERE name = ?", (name,)
    ).fetchone()


@pytest.mark.parametrize(
    ("name", "codes", "source"),
    [
        ("apixaban", "B01AF02", "drugbank-4.2"),
        ("semaglutide", "A10BJ06", "who-atc-2026:ingredient-name"),
        ("aluminum hydroxide", "A02AB01", "who-atc-2026:ingredient-name"),  # aluminium
        ("potassium bicarbonate", "A12BA04", "who-atc-2026:ingredient-name"),  # hydrogencarbonate
        # tetryzoline in WHO, through a DrugBank synonym
        ("tetrahydrozoline", "R01AA06|R01AB03|S01GA02", "who-atc-2026:drugbank-name"),
        ("lithium carbonate", "N05AN01", "who-atc-2026:base-moiety"),  # WHO names lithium
        ("camphor", None, None),  # reviewed out: WHO's camphor is a heart stimulant
        ("calcium", None, None),  # a base the moiety table adds takes no code
    ],
)
def test_atc_codes_come_from_exact_names_only(index_db, name, codes, source):
    assert atc(index_db, name) == (codes, source)


def test_atc_coverage_and_sources(index_db):
    sources = dict(
        index_db.execute(
            "SELECT atc_source, count(*) FROM ingredient WHERE atc_codes IS NOT NULL "
            "GROUP BY atc_source"
        ).fetchall()
    )
    assert set(sources) <= {
        "drugbank-4.2",
        "pharmgkb-2023",
        "who-atc-2026:ingredient-name",
        "who-atc-2026:rxnorm-name",
        "who-atc-2026:drugbank-name",
        "who-atc-2026:base-moiety",
    }
    assert sum(sources.values()) >= 1790  # 1,085 before the WHO index was read
    for name in NOT_FROM_WHO:
        assert not (atc(index_db, name)[1] or "").startswith("who-atc")


# --- the build's readers, on small inputs --------------------------------------------------------


def test_brand_mixtures_are_read_with_quotes_and_brackets():
    text = (
        'Lotrel (amlodipine + benazepril), "Alesse 21, Tablets (Ethinyl Estradiol + '
        'Levonorgestrel)", Geri (Calcium (Calcium Phosphate (Dibasic)) + Copper), alone'
    )
    assert parse_brand_mixtures(text) == [
        ("Lotrel", ("amlodipine", "benazepril")),
        ("Alesse 21, Tablets", ("Ethinyl Estradiol", "Levonorgestrel")),
        ("Geri", ("Calcium (Calcium Phosphate (Dibasic))", "Copper")),
    ]


def small_table(folder: Path, extra: str = "") -> MoietyTable:
    rows = (
        "kind\tname\tmoiety\tbasis\n"
        "base\tlithium\t6448\tRxNorm IN\n"
        "cation\tlithium\tlithium\tlithium ion\n"
        "anion\tcarbonate\t\tcounter-ion\n"
        "anion\tchloride\t\tcounter-ion\n"
        "own\tlithium chloride\t\tnot a medicine here\n" + extra
    )
    path = folder / "moieties.tsv"
    path.write_text(rows)
    return read_moiety_table(path)


def test_the_rule_maps_cation_anion_names_and_spares_the_own_rows(tmp_path):
    ingredients = {"6448": "lithium", "42351": "lithium carbonate", "1": "lithium chloride"}
    links = moiety_links(small_table(tmp_path), ingredients)
    assert [(m.salt_rxcui, m.moiety_rxcui, m.how) for m in links] == [("42351", "6448", "rule")]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("salt\tlithium orotate\tlithium\tsupplement\n", "is not an ingredient of the index"),
        ("salt\tlithium carbonate\tsodium\tx\n", "has no base row"),
    ],
)
def test_a_table_row_that_does_not_hold_fails_the_build(tmp_path, extra, error):
    ingredients = {"6448": "lithium", "42351": "lithium carbonate", "1": "lithium chloride"}
    table = small_table(tmp_path, extra)
    with pytest.raises(MoietyTableError, match=error):
        check_bases(table, lambda name, rxcui: True)
        moiety_links(table, ingredients)


def test_a_base_rxcui_no_source_attests_fails_the_build(tmp_path):
    with pytest.raises(MoietyTableError, match="in no source under that name"):
        check_bases(small_table(tmp_path), lambda name, rxcui: False)
