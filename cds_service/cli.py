"""`ddi-cds`: the command line (serve the CDS Hooks service, check drugs, build the index)."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds_service.core.codes import NDC_SYSTEMS, RXNORM_SYSTEMS
from cds_service.core.drug_index import DATA_DIR, DrugIndex
from cds_service.core.mapping import MedicationMapper
from cds_service.core.medication import MedicationMapping
from cds_service.core.suggestions import describe, suggester_for

if TYPE_CHECKING:
    from cds_service.config import Settings
    from cds_service.core.evidence import KnownInteraction
    from cds_service.core.knowledge import KnowledgeBase
    from cds_service.operations.audit import AuditTrail
from cds_service.core.overrides import OverridesError

RXNORM = min(RXNORM_SYSTEMS)
NDC = min(NDC_SYSTEMS)
_NDC_LIKE = re.compile(r"[0-9]{10,11}|[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}")


def concept_for_argument(argument: str) -> dict[str, Any]:
    """A CodeableConcept for what a person typed: an RXCUI, an NDC, or a name."""
    text = argument.strip()
    for prefix, system in (("rxnorm:", RXNORM), ("ndc:", NDC)):
        if text.lower().startswith(prefix):
            return {"coding": [{"system": system, "code": text[len(prefix) :]}]}
    if _NDC_LIKE.fullmatch(text):
        return {"coding": [{"system": NDC, "code": text}]}
    if text.isdigit():
        return {"coding": [{"system": RXNORM, "code": text}]}
    return {"text": text}


# `ddi-cds check` exit statuses: a script must never read an incomplete check as an all-clear.
EXIT_CHECKED = 0  # every medication was mapped and every pair checked (interaction or not)
EXIT_INCOMPLETE = 1  # a medication could not be mapped, or fewer than two were given
EXIT_USAGE = 2  # bad arguments or a missing data file (argparse uses 2 as well)
CHECK_EPILOG = f"""exit status:
  {EXIT_CHECKED}  every medication was mapped and every pair checked, whether or not an
     interaction was found
  {EXIT_INCOMPLETE}  the check is incomplete: a medication could not be mapped (it is named, with
     why and the nearest known names), or fewer than two medications were given
  {EXIT_USAGE}  bad arguments, or a data file is missing"""


def _print_mapping(argument: str, mapping: MedicationMapping, suggestions: str = "") -> None:
    print(f"{argument}:")
    if not mapping.is_mapped:
        print("  NOT MAPPED — it cannot be checked:")
        for reason in mapping.unmapped_reasons:
            print(f"    - {reason}")
        if suggestions:
            print(f"    did you mean: {suggestions}?")
        return
    for item in mapping.ingredients:
        ing = item.ingredient
        extra = ", ".join(
            part
            for part in (
                f"DrugBank {ing.drugbank_id}" if ing.drugbank_id else "no DrugBank id",
                "structure known" if ing.smiles or ing.inchikey else "no structure",
            )
        )
        print(f"  - {ing.name} (RxNorm IN {ing.rxcui}; {extra}) confidence={item.confidence}")
        for step in item.trail:
            print(f"      {step.describe()}")
    for note in mapping.notes:
        print(f"  note: {note}")


def _print_interactions(
    knowledge: KnowledgeBase,
    mappings: list[tuple[str, MedicationMapping]],
    verbose: bool = False,
) -> bool:
    """Print each interacting pair of the mapped medications as a prescriber reads it: its
    grade on the one scale and the card it makes (cds_service.core.grading), the harm, what to do,
    why the grade, then each source with its own grade. True if any pair would make a card."""
    from cds_service.core.evidence import lead_record, records_to_show
    from cds_service.core.grading import grade_pair
    from cds_service.core.severity import DEFAULT_MIN_CARD_SEVERITY

    found_any = False
    for (_, a), (_, b) in combinations(mappings, 2):
        for rxcui_a in a.ingredient_rxcuis:
            for rxcui_b in b.ingredient_rxcuis:
                records = knowledge.interactions_for([rxcui_a], [rxcui_b])
                grade = grade_pair(records)
                if grade.severity is None:
                    continue
                shown = not DEFAULT_MIN_CARD_SEVERITY.is_more_severe_than(grade.severity)
                found_any = found_any or shown
                card = f"{grade.indicator.value} card" if grade.indicator and shown else "no card"
                lead = lead_record(records, grade.severity)
                print(f"[{grade.severity.value.upper()}] {lead.name_a} + {lead.name_b} ({card})")
                advice = next(
                    (r.management for r in records_to_show(records) if not r.management_derived),
                    lead.management,
                )
                for label, text in (
                    ("harm", lead.consequence or lead.mechanism),
                    ("what to do", advice),
                    *(("why this grade", reason) for reason in grade.reasons),
                ):
                    if text:
                        print(f"  {label}: {text}")
                print("  sources:")
                for record in records_to_show(records):
                    _print_record(record, verbose)
    return found_any


def _print_record(record: KnownInteraction, verbose: bool) -> None:
    own = record.severity.value if record.severity else "not graded"
    if record.rule:  # a rule's wording is its grade and basis already
        print(f"  - {record.source_label}, rule {record.rule}: {record.source_severity}")
    else:
        print(f"  - {record.source_label}: {record.source_severity} (grade: {own})")
    details = [
        ("mechanism", record.mechanism),
        ("class membership", "; ".join(j for j in (record.joined_a, record.joined_b) if j)),
    ]
    if verbose:
        details = [
            ("consequence", record.consequence),
            *details,
            ("advice", "" if record.management_derived else record.management),
            ("via class", record.via),
            ("references", "; ".join(record.references)),
            ("citation", record.citation),
        ]
    for label, text in details:
        if text:
            print(f"      {label}: {text}")


def cmd_check(args: argparse.Namespace) -> int:
    index = DrugIndex(args.index) if args.index else DrugIndex()
    from cds_service.core.knowledge import KnowledgeBase

    knowledge = KnowledgeBase(args.knowledge) if args.knowledge else KnowledgeBase()
    mapper = MedicationMapper(index)
    mappings = [(arg, mapper.map_concept(concept_for_argument(arg))) for arg in args.drugs]
    unmapped = [(arg, mapping) for arg, mapping in mappings if not mapping.is_mapped]
    suggested = {arg: describe(suggester_for(mapper).suggest(arg)) for arg, _m in unmapped}
    for argument, mapping in mappings:
        _print_mapping(argument, mapping, suggested.get(argument, ""))
    if len(mappings) < 2:
        print(f"ddi-cds: drug index {index.version}, interaction knowledge {knowledge.version}.")
        print(
            f"Nothing was checked: give two or more medications to check them against each "
            f"other (got {len(mappings)}), e.g. `ddi-cds check warfarin ibuprofen`."
        )
        return EXIT_INCOMPLETE
    print()
    mapped = [(a, m) for a, m in mappings if m.is_mapped]
    found_any = _print_interactions(knowledge, mapped, args.verbose)
    if unmapped:
        print(
            f"CHECK INCOMPLETE: {len(unmapped)} of {len(mappings)} medications could not be "
            "mapped, so nothing is known about their interactions:"
        )
        for argument, mapping in unmapped:
            why = "; ".join(mapping.unmapped_reasons) or "no reason recorded"
            hint = f" Did you mean: {suggested[argument]}?" if suggested.get(argument) else ""
            print(f"  - {argument}: {why}.{hint}")
        print("Absence of a warning above is NOT an all-clear for these medications.")
        return EXIT_INCOMPLETE
    if not found_any:
        print(
            "No interaction between these medications that would make a card "
            "(curated sources and the reviewed rules)."
        )
    return EXIT_CHECKED


def cmd_build_index(args: argparse.Namespace) -> int:
    from cds_service.index_build.vocabulary import build_drug_index

    data, out = Path(args.data), Path(args.out)
    if not (data / "drug-vocabulary").is_dir():
        print(
            f"ddi-cds build-index: {data} has no drug-vocabulary/ (expected ../shared/data)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    print(f"[1/2] drug index from {data} ...", flush=True)
    report = {"drug_index": build_drug_index(data, out / "drug_index.sqlite")}
    print(f"      done in {time.monotonic() - started:.1f}s", flush=True)
    print("[2/2] curated interaction knowledge ...", flush=True)
    from cds_service.index_build.interactions_writer import build_interactions

    report["interactions"] = build_interactions(
        data, DrugIndex(out / "drug_index.sqlite"), out / "interactions.sqlite"
    )
    print(f"      done in {time.monotonic() - started:.1f}s", flush=True)
    (out / "build_report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _missing_secrets(settings: Settings) -> list[str]:
    """The keys `serve --production` must be given. Checked here, before anything is loaded;
    `cds_service.web.open_audit_trail` refuses the same (and malformed keys) as the app is made."""
    if not settings.production:
        return []
    given = {
        "DDI_CDS_PSEUDONYM_KEY": settings.pseudonym_key,
        "DDI_CDS_AUDIT_KEY": settings.audit_key,
    }
    return [name for name, value in given.items() if not value.strip()]


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from werkzeug.serving import make_server

    from cds_service.config import Settings
    from cds_service.operations.logs import configure_logging
    from cds_service.protocol.fhir_servers import is_loopback

    settings = replace(Settings.from_env(), auth_disabled=args.no_auth, production=args.production)
    configure_logging(structured=settings.log_format != "text")
    if args.no_auth and not is_loopback(args.host):
        print(
            f"ddi-cds: --no-auth serves without EHR tokens and is for local development only; "
            f"it refuses to bind {args.host!r} (use 127.0.0.1 or ::1)",
            file=sys.stderr,
        )
        return 2
    missing = _missing_secrets(settings)
    if missing:
        print(
            f"ddi-cds: --production needs {' and '.join(missing)} from a secret (hex, at least "
            "16 bytes: `openssl rand -hex 32`); in production no key is made or kept beside "
            "the data it protects",
            file=sys.stderr,
        )
        return 2
    if settings.overrides_file:  # a malformed file stops here, before any worker starts
        from cds_service.adapters.site_overrides import load_site_overrides
        from cds_service.core.knowledge import KnowledgeBase

        load_site_overrides(settings.overrides_file, DrugIndex(), KnowledgeBase())
    try:
        if not settings.auth_disabled:  # issuers without a public URL: refused before any worker
            from cds_service.protocol.auth import trusted_issuers

            trusted_issuers(settings)
        if args.production:  # before the web layer is imported: it sets up multi-process metrics
            from cds_service.production import serve

            return serve(settings, args.host, args.port)
        from cds_service.app import create_app

        app = create_app(settings)
    except ValueError as error:  # a key malformed, an audit trail of another key (AuditSetupError)
        print(f"ddi-cds: {error}", file=sys.stderr)
        return 2
    server = make_server(args.host, args.port, app, threaded=True)
    servers = [server]
    if settings.metrics_port_in_use is not None:  # /metrics on its own listener (the app checks)
        servers.append(make_server(args.host, settings.metrics_port_in_use, app, threaded=True))
        threading.Thread(target=servers[1].serve_forever, daemon=True).start()

    def stop(*_: object) -> None:
        # shutdown() waits for serve_forever() to return: not on the serving thread
        for each in servers:
            threading.Thread(target=each.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    if settings.auth_disabled:
        print(
            "ddi-cds: WARNING: --no-auth: EHR tokens are not checked; any local process can "
            "call the service (local development only)",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"ddi-cds: serving CDS Hooks on http://{args.host}:{server.port}/cds-services", flush=True
    )
    for extra in servers[1:]:
        print(f"ddi-cds: serving /metrics on http://{args.host}:{extra.port}/metrics", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Read the audit trail: check its chain, trace a card, list a patient's calls. Keys come
    from the environment as the service has them (in development, from the data folder); none
    is ever made here, and each is needed only by what uses it."""
    from dataclasses import replace

    from cds_service.app import data_dir_of, open_audit_trail
    from cds_service.config import Settings

    settings = Settings.from_env()
    if args.data_dir:
        settings = replace(settings, data_dir=Path(args.data_dir))
    if not (data_dir_of(settings) / "audit.sqlite").exists():
        print(f"ddi-cds: no audit trail in {data_dir_of(settings)}", file=sys.stderr)
        return 2
    try:
        trail = open_audit_trail(settings, read_only=True)
        if args.action == "verify":
            return _audit_verify(trail, args.head or [])
        if args.action == "card":
            return _audit_card(trail, args.value, args.matches)
        print(json.dumps(trail.calls_for_patient(args.value), indent=2, ensure_ascii=False))
        return 0
    except ValueError as error:  # a key missing (AuditSetupError), a bad --head, bad JSON
        print(f"ddi-cds: {error}", file=sys.stderr)
        return 2


def _head(text: str) -> tuple[int, str]:
    """`ROW:HASH` as the service logs a head (the hash, or its first hex digits: at least 12)."""
    row, _, prefix = text.partition(":")
    if not (row.isdigit() and len(prefix) >= 12 and re.fullmatch(r"[0-9a-fA-F]+", prefix)):
        raise ValueError(f"--head {text!r}: expected ROW:HASH (at least 12 hex digits)")
    return int(row), prefix.lower()


def _audit_verify(trail: AuditTrail, heads: list[str]) -> int:
    check = trail.verify([_head(text) for text in heads])
    if check.unkeyed:
        print(f"ddi-cds: {check.reason}", file=sys.stderr)
        return 1
    if not check.intact:
        where = f"row {check.broken_at}" if check.broken_at else "the trail as a whole"
        print(f"the chain breaks at {where}: {check.reason}", file=sys.stderr)
        return 1
    head = f"; head: row {check.head[0]}, hash {check.head[1]}" if check.head else ""
    checked = f"; {len(heads)} exported head(s) found in it" if heads else ""
    print(f"{check.rows} hook calls; the chain is intact{head}{checked}")
    return 0


def _audit_card(trail: AuditTrail, card_uuid: str, matches: str | None) -> int:
    found = trail.card(card_uuid)
    if found is None:
        print(f"ddi-cds: no card {card_uuid!r} in the audit trail", file=sys.stderr)
        return 1
    if matches is None:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    held = _held_card(json.loads(Path(matches).read_text(encoding="utf-8")), card_uuid)
    if held is None:
        print(f"ddi-cds: {matches} holds no card {card_uuid!r}", file=sys.stderr)
        return 1
    if trail.card_matches(card_uuid, held):
        print(f"the card in {matches} is the card served (SHA-256 {found['card']['sha256']})")
        return 0
    print(f"the card in {matches} is NOT the card served as {card_uuid}", file=sys.stderr)
    return 1


def _held_card(held: object, card_uuid: str) -> dict[str, Any] | None:
    """The card of that uuid in what someone holds: the card itself, or a response's cards."""
    cards = held.get("cards") if isinstance(held, dict) and "cards" in held else [held]
    for card in cards if isinstance(cards, list) else []:
        if isinstance(card, dict) and card.get("uuid") == card_uuid:
            return card
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ddi-cds")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddi-cds", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="local development only: accept calls without an EHR token (loopback addresses only)",
    )
    serve.add_argument(
        "--production",
        action="store_true",
        help="serve with gunicorn: a worker per core (DDI_CDS_WORKERS), app preloaded",
    )
    serve.set_defaults(func=cmd_serve)
    check = commands.add_parser(
        "check",
        help="map medications and list known interactions",
        description="Map each medication to its ingredients and list the known interactions "
        "between every pair. An incomplete check is said, never shown as an all-clear.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("drugs", nargs="*", help="names, RXCUIs, NDCs (or rxnorm:/ndc: prefixed)")
    check.add_argument("--index", help="drug index file (default: the bundled one)")
    check.add_argument("--knowledge", help="interaction knowledge file (default: bundled)")
    check.add_argument(
        "-v", "--verbose", action="store_true", help="every source's own texts and references"
    )
    check.set_defaults(func=cmd_check)
    build = commands.add_parser("build-index", help="build the drug index and knowledge files")
    build.add_argument("--data", default="../shared/data", help="the shared reference data")
    build.add_argument("--out", default=str(DATA_DIR), help="output folder")
    build.set_defaults(func=cmd_build_index)
    audit = commands.add_parser("audit", help="check the audit trail, trace a card or a patient")
    audit.add_argument("action", choices=["verify", "card", "patient"])
    audit.add_argument("value", nargs="?", default="", help="a card's uuid or a patient id")
    audit.add_argument(
        "--head",
        action="append",
        metavar="ROW:HASH",
        help="verify: a chain head as the service exported it (log line, /metrics); repeatable",
    )
    audit.add_argument(
        "--matches",
        metavar="CARD_JSON",
        help="card: whether this card (or a response holding it) is the one served",
    )
    audit.add_argument("--data-dir", help="the service's data folder (default: as it serves)")
    audit.set_defaults(func=cmd_audit)
    for name, text in MODEL_COMMANDS.items():
        commands.add_parser(name, help=f"{text} (see `ddi-cds {name} --help`)", add_help=False)
    return parser


# The models' own command lines (model.train, model.evaluate, model.export and the clinical
# head's model.clinical.evaluate / export), forwarded whole.
MODEL_COMMANDS = {
    "train": "train the DDI model on one split",
    "evaluate": "score a trained run's held-out pairs and write its metrics JSON",
    "export-model": "copy a trained run and its metrics into the committed artifact",
    "evaluate-clinical": "the clinical head against its baselines on every split, one table",
    "export-clinical": "train the served clinical head and write model/artifact/clinical",
    "build-drug-alone": "each training drug's side-effect rates with any partner (de-confounding)",
}


def _run_model_command(name: str, argv: Sequence[str]) -> int:
    if name == "train":
        from model.train import main as command
    elif name == "evaluate":
        from model.evaluate import main as command
    elif name == "evaluate-clinical":
        from model.clinical.evaluate import main as command
    elif name == "export-clinical":
        from model.clinical.export import main as command
    elif name == "build-drug-alone":
        from model.build_drug_alone import main as command
    else:
        from model.export import main as command
    return command(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in MODEL_COMMANDS:
        return _run_model_command(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except (FileNotFoundError, OverridesError) as error:
        print(f"ddi-cds: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ddi-cds check ... | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
