"""Code systems and the normalisations shared by the index build and the lookups.

Build and run time must normalise identically, or exact matching silently stops matching, so
both import these functions from here.
"""

from __future__ import annotations

import re
import unicodedata

RXNORM_SYSTEMS = frozenset(
    {
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "https://www.nlm.nih.gov/research/umls/rxnorm",
        "urn:oid:2.16.840.1.113883.6.88",
    }
)
NDC_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/ndc",
        "https://hl7.org/fhir/sid/ndc",
        "urn:oid:2.16.840.1.113883.6.69",
    }
)

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"  # the one to write
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_RXCUI = re.compile(r"[1-9][0-9]{0,9}")
_NDC_DIGITS_DASHED = re.compile(r"([0-9]{4,5})-([0-9]{3,4})-([0-9]{1,2})")
_NDC_DIGITS_ONLY = re.compile(r"[0-9]{10,11}")


def normalize_name(text: str) -> str:
    """Case, accents, punctuation and spacing folded away; nothing else changed.

    "Acétaminophen", "ACETAMINOPHEN" and "acetaminophen " are the same name; "acetaminophen
    500 mg" is not the same name as "acetaminophen".
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", ascii_only.lower()).strip()


def is_rxcui(code: str) -> bool:
    return bool(_RXCUI.fullmatch(code))


def looks_like_ndc(code: str) -> bool:
    """Written as an NDC is: dashed in three segments, or 10-11 digits (not yet checked)."""
    text = code.strip()
    return bool(_NDC_DIGITS_DASHED.fullmatch(text) or _NDC_DIGITS_ONLY.fullmatch(text))


class NdcFormatError(ValueError):
    """An NDC that cannot be read unambiguously as an 11-digit HIPAA NDC."""


def ndc_11_candidates(code: str) -> tuple[str, ...]:
    """The 11-digit (5-4-2) forms an NDC can stand for.

    Dashed 10-digit NDCs (4-4-2, 5-3-2, 5-4-1) are padded in their short segment: one answer.
    An undashed 10-digit NDC could be any of the three splits, so all three are returned and
    the caller keeps the one that names a real package; it must never guess among several.
    """
    text = code.strip()
    dashed = _NDC_DIGITS_DASHED.fullmatch(text)
    if dashed:
        labeler, product, package = dashed.groups()
        if len(labeler) + len(product) + len(package) not in (10, 11) or (
            len(labeler) == 4 and (len(product), len(package)) != (4, 2)
        ):
            raise NdcFormatError(f"NDC {code!r} has {labeler}-{product}-{package} segments")
        return (labeler.zfill(5) + product.zfill(4) + package.zfill(2),)
    if _NDC_DIGITS_ONLY.fullmatch(text):
        if len(text) == 11:
            return (text,)
        return (
            "0" + text,  # 4-4-2
            text[:5] + "0" + text[5:],  # 5-3-2
            text[:9] + "0" + text[9:],  # 5-4-1
        )
    raise NdcFormatError(
        f"NDC {code!r} is not 10 or 11 digits in 4-4-2, 5-3-2, 5-4-1 or 5-4-2 form"
    )


# One component of an RxNorm clinical drug name: "[24 HR ]<ingredient> <number> <UNIT>[/<UNIT>]"
# (a leading quantity, "24 HR" or "50 ML", precedes some).
# RxNorm writes units upper-case with a space before them, so "warfarin 5mg" is not one.
_PRODUCT_COMPONENT = re.compile(r"^(?:[0-9.]+ [A-Z]+ )?(?P<name>.+?) [0-9.]+ [A-Z%]+(?:/[A-Z]+)?\b")
# Salt words RxNorm appends to an ingredient to name its precise ingredient (PIN)
SALT_WORDS = frozenset(
    [
        "acetate",
        "besylate",
        "bitartrate",
        "bromide",
        "calcium",
        "chloride",
        "citrate",
        "dihydrate",
        "disodium",
        "fumarate",
        "hcl",
        "hydrobromide",
        "hydrochloride",
        "hyclate",
        "magnesium",
        "maleate",
        "mesylate",
        "monohydrate",
        "phosphate",
        "potassium",
        "sodium",
        "succinate",
        "sulfate",
        "tartrate",
        "trihydrate",
        "tromethamine",
    ]
)
DOSE_FORM_ROUTES = (  # dose-form words in RxNorm names -> the route they imply
    ("topical", "topical"),
    ("transdermal", "transdermal"),
    ("ophthalmic", "ophthalmic"),
    ("otic", "otic"),
    ("nasal", "nasal"),
    ("inhalation", "inhaled"),
    ("inhaler", "inhaled"),  # "Metered Dose Inhaler", "Dry Powder Inhaler"
    ("vaginal", "vaginal"),
    ("rectal", "rectal"),
    ("injectable", "parenteral"),
    ("injection", "parenteral"),
    ("oral", "oral"),
)


def product_name_components(name: str) -> list[str]:
    """ "amlodipine 5 MG / olmesartan medoxomil 40 MG Oral Tablet [Azor]" -> its two components."""
    return name.split(" [")[0].split(" / ")


def component_ingredient_name(component: str) -> str | None:
    """ "olmesartan medoxomil 40 MG" -> "olmesartan medoxomil"; None if it carries no strength."""
    match = _PRODUCT_COMPONENT.match(component.strip())
    return match["name"].strip(" ,") if match else None


def clinical_drug_ingredient_names(text: str) -> tuple[str, ...]:
    """The ingredient names of an RxNorm-style clinical drug name, or () if it is not one.

    "Warfarin Sodium 0.5 MG Oral Tablet" -> ("Warfarin Sodium",); "Amoxicillin 120 MG/ML /
    clavulanate potassium 8.58 MG/ML Oral Suspension" -> ("Amoxicillin", "clavulanate potassium").
    EHRs keep sending codes that RxNorm has since retired; their display still names the drug.
    Every component must carry a strength, or the text is not treated as a clinical drug name.
    """
    names = [component_ingredient_name(c) for c in product_name_components(text)]
    return () if None in names else tuple(n for n in names if n)


def route_from_dose_form(name: str) -> str | None:
    """The route implied by an RxNorm product name's dose form ("... Topical Gel" -> topical)."""
    words = set(normalize_name(name).split())
    for word, route in DOSE_FORM_ROUTES:
        if word in words:
            return route
    return None


def without_salt(name: str) -> str:
    """'clavulanate potassium' -> 'clavulanate': normalised, trailing salt words cut."""
    words = normalize_name(name).split()
    while len(words) > 1 and words[-1] in SALT_WORDS:
        words.pop()
    return " ".join(words)


def bracketed_brand(name: str) -> str | None:
    """ "... Oral Tablet [Eliquis]" -> "Eliquis": the brand RxNorm writes after a branded
    drug or pack; None for a generic name."""
    text = name.rstrip()
    if not text.endswith("]") or " [" not in text:
        return None
    return text[text.rindex(" [") + 2 : -1].strip() or None


# Words RxNorm appends to a pack's brand that say how it is packed, not what it is.
_PACK_WORDS = frozenset({"pack", "pak", "kit", "dose", "therapy", "taper", "day"})


def pack_brand_stem(brand: str) -> str | None:
    """ "Paxlovid 150 MG /100 MG Dose Pack" -> "Paxlovid": a branded pack's name without its
    strengths, day counts and packing words; None when nothing of a name is left.

    RxNorm names a branded pack by its brand plus what distinguishes the pack ("Paxlovid 5-Day",
    "Junel Fe 1/20 28 Day"); prescribers say the brand alone.
    """
    words: list[str] = []
    for word in brand.split():
        if word[:1].isdigit() or word.startswith("("):
            break
        words.append(word)
    while words and words[-1].lower().strip("-") in _PACK_WORDS:
        words.pop()
    stem = " ".join(words)
    return stem if normalize_name(stem) else None


_PACK_COMPONENT = re.compile(r"[0-9]+ (?:\([^()]*\) )?\((?P<name>.+)\)")


def split_top_level(text: str, separator: str) -> list[str]:
    """Split where `separator` stands outside brackets and double quotes; parts stripped of
    spaces and quotes, empty ones dropped."""
    parts, depth, quoted, start = [], 0, False, 0
    for at, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and not quoted and text.startswith(separator, at):
            parts.append(text[start:at])
            start = at + len(separator)
    parts.append(text[start:])
    return [part.strip().strip('"').strip() for part in parts if part.strip().strip('"')]


def pack_component_names(name: str) -> tuple[str, ...]:
    """The clinical drugs in an RxNorm pack's name, or () if the name is not a pack's.

    "{20 (nirmatrelvir 150 MG Oral Tablet) / 10 (ritonavir 100 MG Oral Tablet) } Pack
    [Paxlovid 5-Day]" -> the two tablets. A component may carry its volume first:
    "2 (480 ML) (magnesium sulfate ... Oral Solution)".
    """
    if not name.startswith("{") or "}" not in name:
        return ()
    parts = split_top_level(name[1 : name.rindex("}")], " / ")
    names = [_PACK_COMPONENT.fullmatch(part) for part in parts]
    return () if not names or None in names else tuple(m["name"].strip() for m in names if m)
