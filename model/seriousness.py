"""Seriousness tiers for the 963 TWOSIDES/Decagon polypharmacy side effects.

Why: the deep model predicts, for a drug pair, which of 963 side effects the combination is
associated with. Most of those effects (nausea, alopecia, back ache, hay fever...) do not justify
interrupting a prescriber. Clinician-facing CDS cards must only warn on predicted effects that are
serious, so every side effect gets a tier:

* ``LIFE_THREATENING`` (3): an acute event that puts the patient at risk of death when it happens
  (ICH E2A sense) or needs emergency treatment: major and intracranial bleeding, ventricular
  arrhythmias, cardiac arrest, heart failure, stroke, pulmonary embolism, anaphylaxis, respiratory
  failure, sepsis, acute kidney or liver failure, marrow failure, severe skin reactions...
* ``SERIOUS`` (2): would usually lead to hospital admission, urgent review, a change of the
  drug combination or lasting harm (ICH E2A seriousness criteria, "medically important"):
  hypotension, syncope, seizures, hepatitis, renal impairment, pneumonia, thrombosis, anaemia,
  electrolyte disturbances, bradyarrhythmias, overt non-major bleeding...
* ``OTHER`` (1): everything else, including malignancies, chronic background diseases,
  procedures and laboratory findings, which in TWOSIDES mostly reflect the indication rather
  than an acute interaction effect.

This is a reviewed rule table, not a learned model: an explicit list of CUI overrides, then
ordered regular-expression rules (first match wins), then the default ``OTHER``. Names are
lower-cased and British spellings folded to American ones (haemorrhage -> hemorrhage, anaemia ->
anemia, oedema -> edema, leucopenia -> leukopenia) before matching, so rules are written in
American spelling. Every decision carries the rule id or override that made it, so cards and the
model card can say why. Regenerate the review table after any change::

    python -m model.seriousness /work/shared/data --out model/SIDE_EFFECT_TIERS.md
"""

from __future__ import annotations

import argparse
import csv
import enum
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SIDE_EFFECT_CSV = Path("ddi-benchmark/DeSIDE-DDI/data/twosides_side_effect_info.csv")
DEFAULT_OUT = Path(__file__).resolve().parent / "SIDE_EFFECT_TIERS.md"


class Tier(enum.IntEnum):
    """How serious a side effect is; higher is more serious."""

    LIFE_THREATENING = 3
    SERIOUS = 2
    OTHER = 1

    @property
    def label(self) -> str:
        """The label cards and tables show: life-threatening, serious or other."""
        return self.name.lower().replace("_", "-")


LT = Tier.LIFE_THREATENING
SE = Tier.SERIOUS
OT = Tier.OTHER


@dataclass(frozen=True)
class Rule:
    """One reviewed rule: if `pattern` matches the normalised name, the effect is `tier`."""

    id: str
    tier: Tier
    pattern: re.Pattern[str]
    reason: str


def _rule(rule_id: str, tier: Tier, pattern: str, reason: str) -> Rule:
    return Rule(rule_id, tier, re.compile(pattern), reason)


# CUI -> (tier, reason): names that are abbreviations, UMLS synonyms the rules cannot read, or
# where a keyword rule would misfire. Checked before the rules.
OVERRIDES: dict[str, tuple[Tier, str]] = {
    "C0016059": (OT, "'fib' is UMLS Fibrosis (site unspecified), not fibrillation; nonspecific"),
    "C0011860": (OT, "'Mod' is UMLS type 2 diabetes mellitus: chronic disease, mostly indication"),
    "C0206062": (SE, "'ild' is interstitial lung disease: drug-induced pneumonitis/fibrosis"),
    "C0002736": (OT, "'als' is amyotrophic lateral sclerosis: neurodegenerative, not drug-caused"),
    "C0027022": (OT, "'MPD' is myeloproliferative disorder: a neoplasm, not an acute effect"),
    "C0005779": (SE, "'Clotting' is UMLS blood coagulation disorder: coagulopathy, bleeding risk"),
    "C0034150": (SE, "'peliosis' is UMLS purpura: sign of thrombocytopenia or vasculitis"),
    "C0038999": (OT, "'bulging' is UMLS swelling: nonspecific"),
    "C0005758": (OT, "'bleb' is UMLS bulla (skin blister) without a severe-skin-reaction term"),
    "C0497327": (OT, "'amentia' is UMLS dementia: chronic background disease"),
    "C0036396": (OT, "'ischias' is sciatica: not serious"),
    "C0041755": (OT, "'adverse drug effect' is nonspecific: nothing to warn about"),
}

RULES: tuple[Rule, ...] = (
    # --- exceptions first: terms that would otherwise be caught by a broader rule below -------
    _rule(
        "other.procedure",
        OT,
        r"ectom(y|ies)\b|ostomy\b|\btransplant\b|bypass graft|angioplasty|cesarean"
        r"|hyperalimentation",
        "procedure or intervention, not an adverse effect",
    ),
    _rule(
        "other.neoplasm",
        OT,
        r"cancer|carcinoma|neoplas|adenoma|lymphoma|leukemia|myeloma|melanoma|sarcoma"
        r"|glioblastoma|meningioma|mycosis fungoides|hemangioma|lipoma|\bsclc\b|myelodysplas"
        r"|carcinoid|tumor|gammopathy",
        "neoplasm: chronic disease reflecting indication/background risk, not an acute "
        "interaction effect",
    ),
    _rule(
        "other.viral-hepatitis",
        OT,
        r"hepatitis [abc]\b",
        "viral hepatitis: community-acquired or pre-existing infection, not a drug effect",
    ),
    _rule(
        "other.diabetes-complication",
        OT,
        r"diabetic (nephropathy|neuropathy|retinopathy)",
        "chronic complication of diabetes (underlying disease)",
    ),
    _rule(
        "other.chronic-biliary",
        OT,
        r"primary biliary cirrhosis|cholecystitis chronic"
        r"|chronic cholecystitis",
        "chronic biliary disease, not an acute drug effect",
    ),
    _rule(
        "other.minor-bleeding",
        OT,
        r"breakthrough bleeding|bruis|ecchymos",
        "minor bleeding (bruising, contraceptive spotting)",
    ),
    _rule(
        "other.benign-conduction",
        OT,
        r"first degree|bundle branch block right|right bundle branch",
        "benign conduction finding (1st-degree AV block, right bundle branch block)",
    ),
    _rule(
        "other.superficial-phlebitis",
        OT,
        r"superficial",
        "superficial (thrombo)phlebitis: local, self-limiting",
    ),
    _rule(
        "other.presyncope",
        OT,
        r"near syncope|presyncope",
        "presyncope without loss of consciousness",
    ),
    _rule("other.sleep-apnea", OT, r"sleep apnea", "chronic sleep-disordered breathing"),
    _rule("other.night-blindness", OT, r"night blindness", "night blindness: not vision loss"),
    _rule("other.plantar-fasciitis", OT, r"plantar", "plantar fasciitis: local, benign"),
    _rule("other.tympanic", OT, r"tympanic membrane", "ear-drum perforation: local, minor"),
    _rule(
        "serious.chronic-pancreatitis",
        SE,
        r"(chronic|relapsing|recurrent) pancreatitis|pancreatitis (chronic|relapsing|recurrent)",
        "chronic or relapsing pancreatitis",
    ),
    _rule(
        "serious.av-block-2",
        SE,
        r"second degree (atrioventricular |av |heart )?block|block second degree",
        "second-degree AV block: may progress to complete block",
    ),
    # --- life-threatening --------------------------------------------------------------------
    _rule(
        "lt.anaphylaxis",
        LT,
        r"anaphyla|angioedema|angio edema|laryngeal edema",
        "anaphylaxis/angioedema: airway and circulatory emergency",
    ),
    _rule(
        "lt.severe-skin",
        LT,
        r"stevens johnson|toxic epidermal necrolysis|\blyell\b|\bdress\b|drug reaction with "
        r"eosinophilia",
        "severe cutaneous adverse reaction (SJS/TEN/DRESS), high mortality",
    ),
    _rule(
        "lt.cardiac-arrest",
        LT,
        r"cardiac arrest|\basystole|cardiovascular collapse|circulatory collapse"
        r"|cardiogenic shock|sudden (cardiac )?death",
        "cardiac arrest or circulatory collapse",
    ),
    _rule("lt.tamponade", LT, r"tamponade", "cardiac tamponade: obstructive shock"),
    _rule(
        "lt.ventricular-arrhythmia",
        LT,
        r"\bventricular (fibrillation|tachycardia|flutter)|(fibrillation|tachycardia) ventricular"
        r"|torsade|qt prolong|long qt",
        "ventricular arrhythmia / QT prolongation: risk of sudden death",
    ),
    _rule(
        "lt.complete-heart-block",
        LT,
        r"(complete|third degree) (atrioventricular |av |heart )?block"
        r"|(atrioventricular|av|heart) block (complete|third degree)",
        "complete heart block: risk of asystole",
    ),
    _rule(
        "lt.myocardial-infarction", LT, r"myocardial infarct|heart attack", "myocardial infarction"
    ),
    _rule(
        "lt.heart-failure",
        LT,
        r"(cardiac|heart) failure|cardiac decompensation|pulmonary edema|lung edema",
        "heart failure / acute pulmonary edema",
    ),
    _rule(
        "lt.cns-bleed",
        LT,
        r"(intracranial|cerebral|intracerebral|subarachnoid|brain) hemorrhage"
        r"|hemorrhage (intracranial|cerebral|subarachnoid)"
        r"|(subdural|epidural|extradural) hematoma|hematoma (subdural|epidural|extradural)",
        "intracranial haemorrhage or haematoma",
    ),
    _rule(
        "lt.stroke",
        LT,
        r"stroke|apoplexy|cerebrovascular accident|cerebral (infarct|ischemi|thrombosis"
        r"|artery embolism|embolism)",
        "stroke (cerebral infarction, ischaemia, thrombosis or embolism)",
    ),
    _rule(
        "lt.gi-bleed",
        LT,
        r"gastrointestinal (bleed|hemorrhage)|\bgi (bleed|hemorrhage)|ulcer (hemorrhage|bleed)"
        r"|hematemesis|variceal",
        "gastrointestinal haemorrhage",
    ),
    _rule(
        "lt.major-bleed",
        LT,
        r"^(bleeding|hemorrhage|major bleeding)$",
        "haemorrhage (site unspecified): treat as major bleeding",
    ),
    _rule("lt.pulmonary-embolism", LT, r"pulmonary embol|embolism pulmonary", "pulmonary embolism"),
    _rule("lt.embolism", LT, r"^(arterial )?embolism$", "embolism (arterial or venous)"),
    _rule(
        "lt.hypertensive-emergency",
        LT,
        r"malignant hypertension|hypertensive (crisis|emergency|encephalopathy)",
        "hypertensive emergency",
    ),
    _rule(
        "lt.respiratory",
        LT,
        r"respiratory (failure|arrest|depression)|pulmonary arrest|respiratory distress"
        r"|apnea|hypoventilation",
        "respiratory failure, arrest or depression (incl. apnoea, ARDS)",
    ),
    _rule(
        "lt.sepsis", LT, r"sepsis|\bseptic|septicemia|toxic shock", "sepsis or septic/toxic shock"
    ),
    _rule("lt.rhabdomyolysis", LT, r"rhabdomyolysis", "rhabdomyolysis: AKI and hyperkalaemia"),
    _rule("lt.hepatorenal", LT, r"hepatorenal", "hepatorenal syndrome"),
    _rule(
        "lt.acute-kidney-failure",
        LT,
        r"acute (kidney|renal) (failure|injury)|^(kidney|renal) failure( acute)?$",
        "acute kidney failure",
    ),
    _rule(
        "lt.liver-failure",
        LT,
        r"(hepatic|liver) (failure|necrosis)|fulminant hepatitis|hepatitis fulminant"
        r"|hepatic encephalopathy|acute liver",
        "acute liver failure / hepatic necrosis",
    ),
    _rule(
        "lt.serotonin-nms",
        LT,
        r"serotonin syndrome|neuroleptic malignant|malignant hyperthermia",
        "serotonin syndrome / neuroleptic malignant syndrome",
    ),
    _rule(
        "lt.hypoglycemia",
        LT,
        r"hypoglycemi",
        "hypoglycaemia: coma, seizures, death if untreated (e.g. sulfonylurea interactions)",
    ),
    _rule(
        "lt.hyperkalemia",
        LT,
        r"hyperkalemi|excess potassium|blood potassium increased",
        "hyperkalaemia: cardiac arrest risk",
    ),
    _rule(
        "lt.ketoacidosis",
        LT,
        r"ketoacidosis|diabetic acidosis|lactic acidosis",
        "ketoacidosis / lactic acidosis",
    ),
    _rule(
        "lt.marrow-failure",
        LT,
        r"agranulocytos|aplastic anemia|anemia aplastic|pancytopeni|bone marrow (failure"
        r"|aplasia|depression)|febrile neutropeni",
        "agranulocytosis / marrow failure: overwhelming infection or bleeding",
    ),
    _rule(
        "lt.thrombotic-microangiopathy",
        LT,
        r"thrombotic (microangiopathy|thrombocytopenic)|hemolytic uremic",
        "thrombotic microangiopathy (TTP/HUS)",
    ),
    _rule(
        "lt.thrombocytopenia",
        LT,
        r"thrombocytopeni",
        "thrombocytopenia: spontaneous/major bleeding risk",
    ),
    _rule("lt.status-epilepticus", LT, r"status epilepticus", "status epilepticus"),
    _rule("lt.coma", LT, r"\bcoma\b", "coma"),
    _rule(
        "lt.pancreatitis",
        LT,
        r"pancreatitis",
        "acute pancreatitis (unspecified taken as acute): necrotising form is lethal",
    ),
    _rule(
        "lt.perforation",
        LT,
        r"(intestinal|gastric|duodenal|bowel|esophageal|colon|colonic|ulcer) perforation"
        r"|perforated|peritonitis|volvulus",
        "GI perforation, peritonitis or volvulus: surgical emergency",
    ),
    _rule(
        "lt.pml",
        LT,
        r"leukoencephalopathy",
        "progressive multifocal leukoencephalopathy: frequently fatal, no specific treatment",
    ),
    # --- serious -----------------------------------------------------------------------------
    _rule(
        "serious.bleeding",
        SE,
        r"bleed|hemorrhage|hematuria|blood in urine|hemoptysis|coughing blood|hematochezia"
        r"|melena|black stools|occult blood|hemarthrosis|epistaxis",
        "overt bleeding (clinically relevant, not presumed major)",
    ),
    _rule(
        "serious.purpura",
        SE,
        r"petechi|purpura",
        "petechiae/purpura: sign of thrombocytopenia or vasculitis",
    ),
    _rule(
        "serious.coagulation",
        SE,
        r"coagulopathy|coagulation|platelet disorder",
        "coagulation or platelet function disorder: bleeding risk",
    ),
    _rule(
        "serious.anemia",
        SE,
        r"anemi|red cell aplasia|aplasia pure red cell|hemoly",
        "anaemia or haemolysis",
    ),
    _rule(
        "serious.leukopenia", SE, r"neutropeni|leukopeni", "neutropenia/leukopenia: infection risk"
    ),
    _rule("serious.methemoglobinemia", SE, r"methemoglobin", "methaemoglobinaemia: hypoxia"),
    _rule(
        "serious.hypotension",
        SE,
        r"hypotension|arterial pressure nos decreased|blood pressure decreased|shock",
        "hypotension: falls, syncope, organ hypoperfusion",
    ),
    _rule(
        "serious.syncope",
        SE,
        r"syncope|fainting|loss of consciousness",
        "syncope / loss of consciousness",
    ),
    _rule("serious.seizure", SE, r"convulsion|seizure|epilep|grand mal|petit mal", "seizure"),
    _rule(
        "serious.arrhythmia",
        SE,
        r"arrhythmi|atrial fibrillation|\bafib\b|atrial flutter|supraventricular tachycardia"
        r"|bradycardi|bradyarrhythmi|sick sinus|sinus arrest|atrioventricular block|\bav block"
        r"|heart block|bundle branch block",
        "arrhythmia, bradycardia or conduction block",
    ),
    _rule("serious.tia", SE, r"transient ischemic", "transient ischaemic attack: stroke warning"),
    _rule(
        "serious.cerebrovascular",
        SE,
        r"cerebral vascular|cerebrovascular",
        "cerebrovascular disorder",
    ),
    _rule(
        "serious.heart-failure-symptom",
        SE,
        r"orthopnea|paroxysmal nocturnal",
        "orthopnoea / paroxysmal nocturnal dyspnoea: symptom of heart failure",
    ),
    _rule(
        "serious.ischemia",
        SE,
        r"angina|ischemi|coronary (spasm|insufficiency)",
        "myocardial or organ ischaemia",
    ),
    _rule(
        "serious.heart-disease",
        SE,
        r"cardiomyopathy|myocarditis|pericardi|endocarditis|valvulopathy|valve disease"
        r"|regurgitation|aortic stenosis|cor pulmonale",
        "structural or inflammatory heart disease",
    ),
    _rule(
        "serious.congenital",
        SE,
        r"birth defect|congenital|septal defect|ductus arteriosus|ductus arteriosis",
        "congenital anomaly (ICH E2A seriousness criterion; exposure in pregnancy)",
    ),
    _rule(
        "serious.pregnancy-loss",
        SE,
        r"abortion spontaneous|spontaneous abortion|miscarriage|still ?birth|fetal death",
        "pregnancy loss",
    ),
    _rule(
        "serious.vascular",
        SE,
        r"aneurysm|vasculitis|angiitis|arteritis|gangrene|infarction|artery occlusion"
        r"|vena cava",
        "arterial/vascular event: aneurysm, vasculitis, infarction, occlusion, gangrene",
    ),
    _rule(
        "serious.thrombosis",
        SE,
        r"thrombos|thrombus|thrombophlebitis|phlebothrombosis",
        "venous or arterial thrombosis (risk of embolism)",
    ),
    _rule(
        "serious.infection",
        SE,
        r"bacteremia|meningiti|encephalitis|myelitis|(brain|epidural|spinal|cerebral)"
        r" abscess|pyelonephritis|cellulitis|erysipelas|soft tissue infection|fasciitis"
        r"|arthritis (infective|bacterial|septic)|(infective|bacterial|septic) arthritis"
        r"|appendicitis|cholecystitis|diverticulitis|tuberculosis|mycobacteri|aspergillosis"
        r"|cryptococcosis|histoplasmosis|pneumocystis|cmv infection|cytomegalovirus",
        "serious or opportunistic infection",
    ),
    _rule(
        "serious.liver",
        SE,
        r"hepatitis|icterus|jaundice|cirrhosis|liver disease|disease of liver|cholestasis"
        r"|liver abscess|portal hypertension|ascites|cholangitis|liver injury",
        "liver injury or liver disease",
    ),
    _rule(
        "serious.renal",
        SE,
        r"\brenal (impairment|insufficiency|disorder)|disorder renal|kidney disease|nephritis"
        r"|nephrotic|azotemi|nephrocalcinosis|hydronephrosis|hydroureter|obstructive uropathy"
        r"|ureteral obstruction|diabetes insipidus",
        "renal impairment or urinary tract obstruction",
    ),
    _rule(
        "serious.urinary-retention",
        SE,
        r"urinary retention|bladder retention|distended bladder",
        "acute urinary retention: catheterisation",
    ),
    _rule(
        "serious.electrolyte",
        SE,
        r"hyponatremi|blood sodium decreased|hypernatremi|hypokalemi|hypomagnesemi|hypocalcemi"
        r"|hypercalcemi|blood calcium (increased|decreased)|electrolyte|adh inappropriate"
        r"|inappropriate adh|siadh",
        "clinically important electrolyte disturbance (arrhythmia, seizure, confusion)",
    ),
    _rule("serious.acid-base", SE, r"acidosis|alkalosis", "acid-base disturbance"),
    _rule("serious.hyperglycemia", SE, r"hyperglycemi", "hyperglycaemia"),
    _rule(
        "serious.adrenal",
        SE,
        r"adrenal insufficiency|adrenal crisis|addison",
        "adrenal insufficiency: risk of adrenal crisis",
    ),
    _rule("serious.hypothermia", SE, r"hypothermia|decreased body temperature", "hypothermia"),
    _rule(
        "serious.respiratory",
        SE,
        r"neumonia|pneumonitis|alveolitis|interstitial lung|fibrosis|lung infiltration"
        r"|pleural effusion|pleurisy|pneumothorax|pulmonary hypertension|bronchospasm"
        r"|bronchial spasm|asthma|hypoxi|hypercapni|stridor|choking|empyema|lung abscess",
        "serious respiratory event (pneumonia/pneumonitis, bronchospasm, hypoxia...)",
    ),
    _rule(
        "serious.gi",
        SE,
        r"(gastric|duodenal|gastroduodenal|peptic|esophageal|intestinal) ulcer"
        r"|(intestinal|small intestinal|colonic|bowel) obstruction|ileus|megacolon"
        r"|pancreatic pseudocyst"
        r"|colitis pseudomembranous|pseudomembranous colitis|clostridi",
        "peptic ulcer, obstruction/ileus, pancreatic pseudocyst or C. difficile colitis",
    ),
    _rule(
        "serious.neuro",
        SE,
        r"encephalopathy|delirium|acute brain syndrome|confusion|aphasia|dysphasia|dysarthria"
        r"|apraxia|ataxia|hemiparesis|hemiplegia|paraplegia|quadriplegia|tetraplegia|paraparesis"
        r"|paresis|palsy|palsies|paralysis|myasthenia|arachnoiditis|hydrocephalus"
        r"|intracranial hypertension|neuropathy|myelopathy|tardive dyskinesia"
        r"|autonomic instability|sleep walking|somnambulism",
        "neurological deficit, encephalopathy/delirium or disabling neuropathy",
    ),
    _rule(
        "serious.psychiatric",
        SE,
        r"psychos[ie]s|psychotic|suicid|drug withdrawal|withdrawal syndrome",
        "psychosis, suicidality or withdrawal syndrome",
    ),
    _rule(
        "serious.eye",
        SE,
        r"blindness|optic neuritis|optic atrophy|optic disc edema|papilledema"
        r"|retinal detachment|detached retina|glaucoma|corneal ulcer|intraocular inflammation"
        r"|uveitis",
        "threat to vision",
    ),
    _rule(
        "serious.hearing",
        SE,
        r"deafness|hearing (loss|decreased)|decreased hearing",
        "hearing loss (ototoxicity, may be permanent)",
    ),
    _rule(
        "serious.muscle-tendon-bone",
        SE,
        r"myositis|muscle inflammation|myoglobinuria|tendon (injury|rupture)"
        r"|(aseptic|avascular) necrosis|osteonecrosis",
        "myositis (rhabdomyolysis precursor), tendon rupture or osteonecrosis",
    ),
    _rule(
        "serious.major-fracture",
        SE,
        r"(hip|femur|femoral neck|pelvis|pelvic|spinal|vertebral|compression) fracture"
        r"|fractured pelvis|fracture spontaneous|pathological fracture",
        "major or fragility fracture (falls, hospital admission)",
    ),
    _rule(
        "serious.wound-dehiscence",
        SE,
        r"wound dehiscence",
        "wound dehiscence: usually needs re-operation",
    ),
    _rule(
        "serious.hypersensitivity",
        SE,
        r"drug hypersensitivity|serum sickness|erythema multiforme|exfoliative"
        r"|transfusion reaction|drug toxicity",
        "systemic hypersensitivity or drug toxicity",
    ),
)

DEFAULT_REASON = "no seriousness rule matched: not expected to warrant a warning on its own"

_SPELLING: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ae"), "e"),  # haemorrhage, anaemia, ischaemia, caesarean
    (re.compile(r"\boe(?=dem|soph)"), "e"),  # oedema, oesophagus
    (re.compile(r"(?<=[a-z])oea\b"), "ea"),  # apnoea, dyspnoea, diarrhoea
    (re.compile(r"coeliac"), "celiac"),
    (re.compile(r"foet"), "fet"),
    (re.compile(r"leuc"), "leuk"),  # leucopenia, leucocytosis
)


def normalise(name: str) -> str:
    """Lower-case, punctuation to spaces, British spellings folded to American ones."""
    text = re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()
    for pattern, replacement in _SPELLING:
        text = pattern.sub(replacement, text)
    return text


def classify(name: str, cui: str | None = None) -> tuple[Tier, str]:
    """The tier of one side effect and the override or rule that decided it."""
    if cui is not None and cui.strip().upper() in OVERRIDES:
        key = cui.strip().upper()
        tier, reason = OVERRIDES[key]
        return tier, f"{reason} [override {key}]"
    text = normalise(name)
    for rule in RULES:
        if rule.pattern.search(text):
            return rule.tier, f"{rule.reason} [rule {rule.id}]"
    return Tier.OTHER, f"{DEFAULT_REASON} [default]"


def tier_table(side_effects: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Rows {cui, name, tier, reason} for (cui, name) pairs, in the order given."""
    rows: list[dict[str, str]] = []
    for cui, name in side_effects:
        tier, reason = classify(name, cui)
        rows.append({"cui": cui, "name": name, "tier": tier.label, "reason": reason})
    return rows


def read_side_effects(csv_path: Path) -> list[tuple[str, str]]:
    """(cui, name) pairs from DeSIDE-DDI's twosides_side_effect_info.csv, in SE_map order."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    records.sort(key=lambda record: int(record["SE_map"]))
    return [(record["SE_id"].strip(), record["Side Effect Name"].strip()) for record in records]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(rows: Sequence[dict[str, str]]) -> str:
    """The review table: counts per tier, life-threatening and serious rows, a count of other."""
    counts = Counter(row["tier"] for row in rows)
    lines = [
        "# Seriousness tiers of the TWOSIDES/Decagon side effects",
        "",
        "Generated by `python -m model.seriousness <shared data>` from "
        f"`{SIDE_EFFECT_CSV.as_posix()}`; do not edit by hand, change the rules and overrides in "
        "`model/seriousness.py` and regenerate. Cards warn only on life-threatening and serious "
        "predicted effects.",
        "",
        "| Tier | Side effects |",
        "| --- | ---: |",
    ]
    lines += [f"| {tier.label} | {counts.get(tier.label, 0)} |" for tier in Tier]
    lines += [f"| total | {len(rows)} |", ""]
    for tier in (Tier.LIFE_THREATENING, Tier.SERIOUS):
        selected = sorted(
            (row for row in rows if row["tier"] == tier.label),
            key=lambda row: (row["name"].lower(), row["cui"]),
        )
        lines += [
            f"## {tier.label.capitalize()} ({len(selected)})",
            "",
            "| CUI | Side effect | Reason |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {row['cui']} | {_cell(row['name'])} | {_cell(row['reason'])} |" for row in selected
        ]
        lines.append("")
    other = [row for row in rows if row["tier"] == Tier.OTHER.label]
    by_reason = Counter(row["reason"] for row in other)
    lines += [
        f"## Other ({len(other)})",
        "",
        f"{len(other)} side effects are tiered other and not listed; by deciding rule:",
        "",
        "| Reason | Side effects |",
        "| --- | ---: |",
    ]
    lines += [
        f"| {_cell(reason)} | {count} |"
        for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    ]
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the Markdown review table for the benchmark's 963 side effects."""
    parser = argparse.ArgumentParser(
        prog="python -m model.seriousness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", type=Path, help="the shared data folder (holds ddi-benchmark/)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="Markdown file to write (default: model/SIDE_EFFECT_TIERS.md)",
    )
    args = parser.parse_args(argv)
    csv_path = args.data / SIDE_EFFECT_CSV
    if not csv_path.is_file():
        parser.error(f"no side-effect table at {csv_path}")
    rows = tier_table(read_side_effects(csv_path))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(rows), encoding="utf-8")
    counts = Counter(row["tier"] for row in rows)
    summary = ", ".join(f"{tier.label} {counts.get(tier.label, 0)}" for tier in Tier)
    print(f"wrote {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
