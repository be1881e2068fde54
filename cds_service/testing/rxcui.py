"""The RxNorm codes that more than one test or benchmark sends, each named for its concept (the
name is the committed drug index's): ingredients (IN) by name alone, clinical drugs (SCD) by
name and strength. A code only one file uses stays in that file."""

# Clinical drugs (SCD), as an EHR's order carries them
WARFARIN_1MG = "855288"  # warfarin sodium 1 MG Oral Tablet (SCD)
IBUPROFEN_200MG = "310965"  # ibuprofen 200 MG Oral Tablet (SCD)

# Ingredients (IN)
ACETAMINOPHEN = "161"  # acetaminophen (IN)
ADALIMUMAB = "327361"  # adalimumab (IN)
AMIODARONE = "703"  # amiodarone (IN)
AMOXICILLIN = "723"  # amoxicillin (IN)
ASPIRIN = "1191"  # aspirin (IN)
ATORVASTATIN = "83367"  # atorvastatin (IN)
CIPROFLOXACIN = "2551"  # ciprofloxacin (IN)
CLARITHROMYCIN = "21212"  # clarithromycin (IN)
CYCLOSPORINE = "3008"  # cyclosporine (IN)
DIGOXIN = "3407"  # digoxin (IN)
FLUCONAZOLE = "4450"  # fluconazole (IN)
FLUOXETINE = "4493"  # fluoxetine (IN)
GABAPENTIN = "25480"  # gabapentin (IN)
IBUPROFEN = "5640"  # ibuprofen (IN)
LEVOTHYROXINE = "10582"  # levothyroxine (IN)
LISINOPRIL = "29046"  # lisinopril (IN)
METFORMIN = "6809"  # metformin (IN)
METHOTREXATE = "6851"  # methotrexate (IN)
OXYCODONE = "7804"  # oxycodone (IN)
SERTRALINE = "36437"  # sertraline (IN)
SILDENAFIL = "136411"  # sildenafil (IN)
SIMVASTATIN = "36567"  # simvastatin (IN)
SUMATRIPTAN = "37418"  # sumatriptan (IN)
TIZANIDINE = "57258"  # tizanidine (IN)
TRAMADOL = "10689"  # tramadol (IN)
WARFARIN = "11289"  # warfarin (IN)

UNKNOWN_RXCUI = "99999999"  # no RxNorm concept has this code

# The benchmarks' ordinary order-sign call, "2 + 15": two new orders among fifteen current
# medications, 31 ingredient pairs (bench/hook_latency.py, bench/worst_call.py)
DRAFTS_2 = {"clarithromycin": CLARITHROMYCIN, "tramadol": TRAMADOL}
CURRENT_15 = {
    "warfarin": WARFARIN, "ibuprofen": IBUPROFEN, "simvastatin": SIMVASTATIN,
    "metformin": METFORMIN, "lisinopril": LISINOPRIL, "amlodipine": "17767",
    "atorvastatin": ATORVASTATIN, "omeprazole": "7646", "levothyroxine": LEVOTHYROXINE,
    "metoprolol": "6918", "furosemide": "4603", "sertraline": SERTRALINE,
    "gabapentin": GABAPENTIN, "hydrochlorothiazide": "5487", "digoxin": DIGOXIN,
}  # fmt: skip
