"""The control catalog against the seed checklists, line by line, and the loader's refusals."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from evidence.catalog import (
    CATALOG_PATH,
    CONTROL_ID_RE,
    SEEDS_DIR,
    Catalog,
    Control,
    SeedItem,
    format_duration,
    load_catalog,
    parse_duration,
    parse_seed,
)
from evidence.errors import CatalogError, UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_SEEDS = REPO_ROOT.parent / "shared" / "seeds"
SEED_FILES = ("000_5c6ecab77e94381a.txt", "003_5ec06c10b875924c.txt")

# The evidence types of the AWS collectors. Only these may be named by automated/hybrid controls for
# now; a meta-test compares this list with the collector registry.
AWS_EVIDENCE_TYPES = frozenset(
    {
        "aws.s3.bucket_encryption",
        "aws.s3.bucket_versioning",
        "aws.s3.bucket_replication",
        "aws.s3.bucket_object_lock",
        "aws.s3.public_access_block",
        "aws.s3.account_public_access_block",
        "aws.s3.bucket_secure_transport",
        "aws.s3.bucket_lifecycle",
        "aws.s3.bucket_access_logging",
        "aws.s3.bucket_policy_public",
        "aws.rds.storage_encryption",
        "aws.rds.backup_retention",
        "aws.rds.high_availability",
        "aws.rds.deletion_protection",
        "aws.rds.snapshots",
        "aws.rds.force_ssl",
        "aws.backup.plans",
        "aws.backup.vault_encryption",
        "aws.backup.recent_jobs",
        "aws.cloudtrail.trails",
        "aws.kms.key_rotation",
        "aws.iam.password_policy",
        "aws.iam.user_mfa",
        "aws.iam.root_access_keys",
        "aws.iam.access_key_age",
        "aws.secretsmanager.rotation",
        "aws.acm.certificate_expiry",
        "aws.route53.record_ttl",
        "aws.route53.health_checks",
        "aws.elbv2.target_group_health_checks",
        "aws.cloudwatch.alarms",
        "aws.logs.retention",
        "aws.ec2.security_group_open_ingress",
        "aws.wafv2.rate_based_rules",
        "aws.cloudfront.https_only",
        "aws.budgets.alerts",
        # AWS restore points; the Redis and HTTPS endpoint families (issue 16)
        "aws.recovery.recovery_points",
        "aws.recovery.rds_snapshot_exposure",
        "redis.server.persistence",
        "redis.server.memory_limit",
        "redis.server.eviction_policy",
        "redis.server.access_control",
        "redis.server.tls",
        "https.endpoint.certificate",
        "https.endpoint.tls_versions",
        "https.endpoint.security_headers",
        "https.endpoint.cors",
        "https.redirect.http_to_https",
    }
)
VAULT_EVIDENCE_TYPES = frozenset(
    {
        "vault.sys.health",
        "vault.sys.ha",
        "vault.sys.audit_devices",
        "vault.sys.auth_methods",
        "vault.sys.secret_engines",
        "vault.sys.acl_policies",
        "vault.sys.key_status",
        "vault.kv.secret_metadata",
    }
)
SENTRY_EVIDENCE_TYPES = frozenset(
    {
        "sentry.org.security",
        "sentry.org.teams",
        "sentry.projects.client_keys",
        "sentry.projects.alert_rules",
        "sentry.projects.grouping",
        "sentry.canary.delivery",
    }
)
# Every collected type a control may name (one set per family, appended as families arrive).
COLLECTED_EVIDENCE_TYPES = AWS_EVIDENCE_TYPES | VAULT_EVIDENCE_TYPES | SENTRY_EVIDENCE_TYPES


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def shared_seed_items() -> list[SeedItem]:
    """The seed checklists from ../shared/seeds/, the originals the catalog was built from."""
    if not SHARED_SEEDS.is_dir():
        pytest.skip(
            f"shared seed checklists not found at {SHARED_SEEDS}: this checkout has no ../shared/seeds "
            "folder (the bundled copies in evidence_schemas/seeds/ are still checked)"
        )
    return [item for name in SEED_FILES for item in parse_seed(SHARED_SEEDS / name)]


@pytest.fixture(scope="module")
def bundled_seed_items() -> list[SeedItem]:
    return [item for name in SEED_FILES for item in parse_seed(SEEDS_DIR / name)]


def _citations(catalog: Catalog) -> dict[tuple[str, int], list[Control]]:
    cited: dict[tuple[str, int], list[Control]] = defaultdict(list)
    for control in catalog.controls:
        for source in control.sources:
            cited[(source.seed, source.line)].append(control)
    return cited


# -- (a) every checklist line maps to exactly one control --------------------------------------------


def test_seeds_have_the_expected_number_of_items(shared_seed_items: list[SeedItem]) -> None:
    per_seed = Counter(item.seed for item in shared_seed_items)
    assert per_seed == {"000": 128, "003": 94}
    assert len(shared_seed_items) == 222


def test_every_checklist_line_maps_to_exactly_one_control(
    catalog: Catalog, shared_seed_items: list[SeedItem]
) -> None:
    cited = _citations(catalog)
    for item in shared_seed_items:
        controls = cited.get((item.seed, item.line), [])
        assert len(controls) == 1, (
            f"{item.file}:{item.line} {item.text!r} is cited by {[c.id for c in controls]}"
        )
        (source,) = [s for s in controls[0].sources if (s.seed, s.line) == (item.seed, item.line)]
        assert source.text == item.text
        assert source.file == item.file
        assert (source.section, source.subsection) == (item.section, item.subsection)


def test_no_source_cites_a_line_that_is_not_a_checklist_item(
    catalog: Catalog, shared_seed_items: list[SeedItem]
) -> None:
    items = {(item.seed, item.line): item for item in shared_seed_items}
    for control in catalog.controls:
        for source in control.sources:
            item = items.get((source.seed, source.line))
            assert item is not None, f"{control.id} cites {source.ref}, which is not a checklist item"
            assert item.text == source.text, f"{control.id} cites {source.ref} with different text"


def test_sources_total_222(catalog: Catalog) -> None:
    assert sum(len(c.sources) for c in catalog.controls) == 222


def test_ids_are_derived_from_the_first_source(catalog: Catalog, shared_seed_items: list[SeedItem]) -> None:
    items = {(item.seed, item.line): item for item in shared_seed_items}
    for control in catalog.controls:
        first = control.sources[0]
        assert control.id == catalog.id_for(items[(first.seed, first.line)])
        assert control.title == first.text
    # The examples the design document and the catalog header use.
    assert catalog.require("SEED003-SEC-08").title == "Audit logging enabled for all sensitive operations"
    assert catalog.require("SEED000-SEC-AUTH-04").title == "Password policies enforced"


def test_verify_against_seeds_agrees_with_shared_and_bundled_seeds(
    catalog: Catalog, shared_seed_items: list[SeedItem], bundled_seed_items: list[SeedItem]
) -> None:
    assert catalog.verify_against_seeds(shared_seed_items) == []
    assert catalog.verify_against_seeds(bundled_seed_items) == []


def test_bundled_seeds_cover_the_catalog_without_the_shared_folder(
    catalog: Catalog, bundled_seed_items: list[SeedItem]
) -> None:
    # Runs even where ../shared/seeds is absent: the catalog is self-contained.
    assert len(bundled_seed_items) == 222
    assert catalog.verify_against_seeds(bundled_seed_items) == []


def test_verify_against_seeds_reports_gaps_and_mismatches(
    catalog: Catalog, bundled_seed_items: list[SeedItem]
) -> None:
    extra = SeedItem("003", SEED_FILES[1], "Security", None, 999, "Brand new item", 12)
    changed = [
        SeedItem(i.seed, i.file, i.section, i.subsection, i.line, i.text + " (edited)", i.position)
        if (i.seed, i.line) == ("003", 14)
        else i
        for i in bundled_seed_items
    ]
    problems = catalog.verify_against_seeds([*changed, extra])
    assert any("999" in p and "not covered by any control" in p for p in problems)
    assert any(p.startswith("SEED003-SEC-08:") and "(edited)" in p for p in problems)


# -- (b) repeats are merged ------------------------------------------------------------------------


def test_exact_repeats_are_one_control(catalog: Catalog, bundled_seed_items: list[SeedItem]) -> None:
    by_text: dict[str, list[SeedItem]] = defaultdict(list)
    for item in bundled_seed_items:
        by_text[item.text].append(item)
    repeated = {text: items for text, items in by_text.items() if len(items) > 1}
    assert sum(len(items) - 1 for items in repeated.values()) == 8  # 8 lines repeat an earlier line
    cited = _citations(catalog)
    for text, items in repeated.items():
        owners = {cited[(i.seed, i.line)][0].id for i in items}
        assert len(owners) == 1, f"{text!r} is split over {sorted(owners)}"


@pytest.mark.parametrize(
    "texts",
    [
        ("CSRF protection active", "CSRF protection enabled"),
        ("GDPR compliance checked", "GDPR compliance verified (if applicable)"),
        ("Log aggregation configured", "Log aggregation configured (ELK/Loki)"),
        ("Alerts configured", "Alerting rules configured"),
        ("Sentry or equivalent configured", "Error tracking configured (Sentry)"),
        ("Disaster recovery plan created", "DR plan documented"),
        ("Backup procedures tested", "Backup restore procedures tested", "Backup restore tests passing"),
        ("Security vulnerabilities checked", "Dependencies scanned for vulnerabilities"),
    ],
)
def test_near_duplicates_are_one_control(catalog: Catalog, texts: tuple[str, ...]) -> None:
    owners = {c.id for c in catalog.controls for s in c.sources if s.text in texts}
    assert len(owners) == 1, f"{texts} are split over {sorted(owners)}"
    control = catalog.require(owners.pop())
    assert {s.text for s in control.sources} == set(texts)
    assert control.merge_note


def test_merged_controls_explain_the_merge(catalog: Catalog) -> None:
    for control in catalog.controls:
        assert (len(control.sources) > 1) == bool(control.merge_note), control.id


# -- (c) ids ---------------------------------------------------------------------------------------


def test_ids_are_unique_and_well_formed(catalog: Catalog) -> None:
    ids = catalog.ids()
    assert len(ids) == len(set(ids)) == len(catalog.controls)
    for control_id in ids:
        assert CONTROL_ID_RE.fullmatch(control_id), control_id
        assert re.fullmatch(r"SEED(000|003)-[A-Z0-9]+(-[A-Z0-9]+)?-\d\d", control_id)


# -- (d) frameworks --------------------------------------------------------------------------------


def test_every_control_maps_to_a_framework(catalog: Catalog) -> None:
    for control in catalog.controls:
        assert not control.frameworks.is_empty, control.id
        if not control.frameworks.soc2:
            assert control.frameworks_note or control.frameworks.gdpr, control.id


@pytest.mark.parametrize(
    ("control_id", "soc2", "gdpr", "dr"),
    [
        ("SEED003-DATA-01", {"CC6.1", "CC6.7"}, {"Art32(1)(a)"}, False),  # database encryption at rest
        ("SEED003-INFRA-02", {"A1.2", "A1.3", "CC7.5"}, {"Art32(1)(c)"}, True),  # backups configured+tested
        ("SEED003-SEC-08", {"CC7.2", "CC4.1"}, {"Art32(1)(b)"}, False),  # audit logging
        ("SEED000-DOC-OPS-03", {"CC7.3", "CC7.4", "CC7.5"}, {"Art33", "Art34"}, False),  # incident response
        ("SEED000-SEC-DATA-03", {"C1.2"}, {"Art5(1)(e)"}, False),  # data retention
        ("SEED003-DEPLOY-01", {"CC8.1"}, set(), False),  # CI/CD
        ("SEED000-CFG-DEP-02", {"CC7.1", "CC9.2"}, set(), False),  # dependency scanning
        ("SEED003-DR-07", {"A1.3"}, {"Art32(1)(c)", "Art32(1)(d)"}, True),  # DR drill
    ],
)
def test_key_mappings(catalog: Catalog, control_id: str, soc2: set[str], gdpr: set[str], dr: bool) -> None:
    frameworks = catalog.require(control_id).frameworks
    assert soc2 <= set(frameworks.soc2)
    assert gdpr <= set(frameworks.gdpr)
    assert frameworks.dr is dr


# -- (e) evidence types ----------------------------------------------------------------------------


def test_every_aws_evidence_type_is_used_and_no_other(catalog: Catalog) -> None:
    used = catalog.evidence_types()
    from evidence import registry

    declared = {t.id for t in registry.all_types() if registry.is_collected(t)}
    assert declared >= COLLECTED_EVIDENCE_TYPES  # (AWS_EVIDENCE_TYPES is part of it)
    assert declared - used == set(), "evidence types no control uses"
    assert used - declared == set(), "evidence types nobody collects yet"


def test_methods_are_consistent(catalog: Catalog) -> None:
    kinds = Counter(c.method.type for c in catalog.controls)
    assert set(kinds) == {"automated", "attestation", "hybrid"}
    for control in catalog.controls:
        method = control.method
        if method.type == "automated":
            assert method.evidence_types and method.attestation is None
            assert control.freshness <= timedelta(days=7), control.id
        elif method.type == "attestation":
            assert method.attestation and not method.evidence_types
        else:
            assert method.evidence_types and method.attestation and method.attestation_freshness
    for role in ("Engineering Lead", "Security Lead", "Operations Lead", "Product Owner", "QA Lead"):
        (signoff,) = catalog.filter(seed="000", text=role, method="attestation", framework="soc2:CC1.3")
        assert signoff.title == role and signoff.owner_role == role
        assert role in (signoff.method.attestation or "")


# -- (f) load errors -------------------------------------------------------------------------------


def _control(**overrides: Any) -> dict[str, Any]:
    control: dict[str, Any] = {
        "id": "SEED003-SEC-01",
        "title": "Threat model documented and reviewed",
        "sources": [
            {
                "seed": "003",
                "file": "003_test.txt",
                "section": "Security",
                "subsection": None,
                "line": 7,
                "text": "Threat model documented and reviewed",
            }
        ],
        "frameworks": {"soc2": ["CC3.2"], "gdpr": ["Art25(1)"], "dr": False},
        "method": {"type": "attestation", "attestation": "Threat model document, signed"},
        "freshness": "P365D",
        "owner_role": "Security Lead",
    }
    control.update(overrides)
    return control


def _second_control(**overrides: Any) -> dict[str, Any]:
    control = _control(
        id="SEED003-SEC-02",
        title="Rate limiting configured",
        sources=[
            {
                "seed": "003",
                "file": "003_test.txt",
                "section": "Security",
                "subsection": None,
                "line": 8,
                "text": "Rate limiting configured",
            }
        ],
        method={"type": "automated", "evidence_types": ["aws.wafv2.rate_based_rules"]},
        freshness="P1D",
    )
    control.update(overrides)
    return control


def _write_catalog(tmp_path: Path, controls: list[dict[str, Any]], **top: Any) -> Path:
    document: dict[str, Any] = {
        "version": 1,
        "seeds": {"003": {"file": "003_test.txt", "sections": {"Security": {"code": "SEC"}}}},
        "owner_roles": ["Security Lead"],
        "controls": controls,
    }
    document.update(top)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _load_error(tmp_path: Path, controls: list[dict[str, Any]], **top: Any) -> str:
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(_write_catalog(tmp_path, controls, **top))
    return str(excinfo.value)


def test_small_catalog_loads(tmp_path: Path) -> None:
    small = load_catalog(_write_catalog(tmp_path, [_control(), _second_control()]))
    assert small.ids() == ["SEED003-SEC-01", "SEED003-SEC-02"]
    assert small.require("SEED003-SEC-01").freshness == timedelta(days=365)
    assert small.evidence_types() == {"aws.wafv2.rate_based_rules"}


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    message = _load_error(tmp_path, [_control(), _second_control(id="SEED003-SEC-01")])
    assert "control SEED003-SEC-01: id: duplicate id" in message


def test_bad_duration_is_refused(tmp_path: Path) -> None:
    message = _load_error(tmp_path, [_control(freshness="P1X")])
    assert "control SEED003-SEC-01: freshness:" in message and "'P1X'" in message
    message = _load_error(tmp_path, [_control(freshness="P1Y")])
    assert "use days, e.g. P365D" in message
    message = _load_error(tmp_path, [_control(freshness="P0D")])
    assert "must be positive" in message


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    message = _load_error(tmp_path, [_control(method={"type": "manual", "attestation": "x"})])
    assert "control SEED003-SEC-01: method.type:" in message and "'manual'" in message


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ({"type": "automated"}, "at least one evidence type"),
        ({"type": "automated", "evidence_types": ["aws.kms.key_rotation"], "attestation": "x"}, "hybrid"),
        ({"type": "attestation", "attestation": " "}, "what document or sign-off"),
        ({"type": "attestation", "attestation": "x", "evidence_types": ["aws.kms.key_rotation"]}, "hybrid"),
        (
            {"type": "hybrid", "evidence_types": ["aws.kms.key_rotation"], "attestation": "x"},
            "attestation_freshness",
        ),
        ({"type": "automated", "evidence_types": ["AWS S3 Encryption"]}, "not an evidence type id"),
        ({"type": "automated", "evidence_types": ["aws.kms.key_rotation", "aws.kms.key_rotation"]}, "twice"),
        (
            {"type": "automated", "evidence_types": ["aws.kms.key_rotation"], "schedule": "daily"},
            "unknown field",
        ),
    ],
)
def test_malformed_method_is_refused(tmp_path: Path, method: dict[str, Any], expected: str) -> None:
    message = _load_error(tmp_path, [_control(method=method)])
    assert "control SEED003-SEC-01: method" in message and expected in message


@pytest.mark.parametrize(
    ("frameworks", "expected"),
    [
        ({"soc2": ["CC10.1"]}, "frameworks.soc2: 'CC10.1' is not a Trust Services Criterion"),
        ({"soc2": ["CC6.9"]}, "frameworks.soc2: 'CC6.9' is not a Trust Services Criterion"),
        ({"soc2": ["cc6.1"]}, "frameworks.soc2"),
        ({"gdpr": ["Article 32"]}, "frameworks.gdpr: 'Article 32' is not a GDPR article reference"),
        ({"gdpr": ["Art32(b)"]}, "frameworks.gdpr"),
        ({"soc2": [], "gdpr": [], "dr": False}, "frameworks: map the control to at least one"),
    ],
)
def test_bad_framework_ids_are_refused(tmp_path: Path, frameworks: dict[str, Any], expected: str) -> None:
    message = _load_error(tmp_path, [_control(frameworks=frameworks)])
    assert "control SEED003-SEC-01" in message and expected in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"id": "SEED3-SEC-1"}, "id: 'SEED3-SEC-1' is not a control id"),
        ({"id": "SEED003-INFRA-01"}, "id: must be SEED003-SEC-NN, derived from its first source"),
        ({"title": "Threat model done"}, "title: 'Threat model done' must be the first source's text"),
        (
            {"owner_role": "Chief Vibes Officer"},
            "owner_role: 'Chief Vibes Officer' is not one of owner_roles",
        ),
        ({"sources": []}, "sources:"),
    ],
)
def test_inconsistent_control_is_refused(tmp_path: Path, overrides: dict[str, Any], expected: str) -> None:
    message = _load_error(tmp_path, [_control(**overrides)])
    assert expected in message
    assert f"control {overrides.get('id', 'SEED003-SEC-01')}" in message


def test_source_problems_are_refused(tmp_path: Path) -> None:
    wrong_seed = _control()
    wrong_seed["sources"][0] = {**wrong_seed["sources"][0], "file": "003_other.txt"}
    assert "sources[0].file: seed 003 is '003_test.txt'" in _load_error(tmp_path, [wrong_seed])

    wrong_section = _control()
    wrong_section["sources"][0] = {**wrong_section["sources"][0], "section": "Securty"}
    assert "sources[0].section: 'Securty' is not a section of seed 003" in _load_error(
        tmp_path, [wrong_section]
    )

    # The same checklist line cited by two controls.
    twice = _second_control()
    twice["sources"] = [*twice["sources"], _control()["sources"][0]]
    message = _load_error(tmp_path, [_control(), twice])
    assert "control SEED003-SEC-02" in message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path, [_control(freshness="soon"), _second_control(method={"type": "sometimes"})]
    )
    assert "2 problems" in message
    assert "control SEED003-SEC-01: freshness" in message
    assert "control SEED003-SEC-02: method.type" in message


def test_unreadable_or_malformed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the control catalog"):
        load_catalog(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("controls: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    assert "schedule: unknown top-level key" in _load_error(tmp_path, [_control()], schedule="daily")
    assert "version: 2 is not a catalog version" in _load_error(tmp_path, [_control()], version=2)


def test_catalog_built_in_code_is_checked_too(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="duplicate id"):
        Catalog(
            version=1,
            seeds=catalog.seeds,
            owner_roles=catalog.owner_roles,
            controls=(*catalog.controls, catalog.controls[0]),
        )


# -- (g) lookups and filters -----------------------------------------------------------------------


def test_default_catalog_is_cached(catalog: Catalog) -> None:
    assert load_catalog() is catalog
    assert load_catalog(CATALOG_PATH) is not catalog  # an explicit path is read again
    assert load_catalog(CATALOG_PATH).ids() == catalog.ids()


def test_get_and_require(catalog: Catalog) -> None:
    assert catalog.get("SEED003-SEC-08") is catalog.get("seed003-sec-08")
    assert catalog.get("SEED003-SEC-99") is None
    with pytest.raises(CatalogError, match=r"unknown control id 'SEED003-SEC-88'; did you mean"):
        catalog.require("SEED003-SEC-88")


def test_filter_by_framework(catalog: Catalog) -> None:
    soc2 = catalog.filter(framework="soc2")
    assert soc2 and all(c.frameworks.soc2 for c in soc2)
    dr = catalog.filter(framework="dr")
    assert dr and all(c.frameworks.dr for c in dr)
    assert [c.id for c in dr] == catalog.frameworks()["dr"]

    cc61 = catalog.filter(framework="soc2:CC6.1")
    assert cc61 and all("CC6.1" in c.frameworks.soc2 for c in cc61)
    cc6 = catalog.filter(framework="SOC2:CC6")  # a whole series, framework name in any case
    assert {c.id for c in cc61} < {c.id for c in cc6}
    assert all(any(x.startswith("CC6.") for x in c.frameworks.soc2) for c in cc6)

    art32 = catalog.filter(framework="gdpr:Art32")
    art32_1_c = catalog.filter(framework="gdpr:Art32(1)(c)")
    assert {c.id for c in art32_1_c} < {c.id for c in art32}
    assert all(any(a.startswith("Art32") for a in c.frameworks.gdpr) for c in art32)
    assert catalog.filter(framework="gdpr:Art3") == []  # Art3 is not a prefix of Art32
    assert "SEED003-DATA-07" in {c.id for c in catalog.filter(framework="gdpr:Art17")}


def test_filter_by_method_evidence_type_text_and_seed(catalog: Catalog) -> None:
    automated = catalog.filter(method="automated")
    hybrid = catalog.filter(method="hybrid")
    attestation = catalog.filter(method="attestation")
    assert len(automated) + len(hybrid) + len(attestation) == len(catalog.controls)

    ttl = catalog.filter(evidence_type="aws.route53.record_ttl")
    assert [c.title for c in ttl] == ["DNS configured with low TTL (300s or less)"]
    assert catalog.controls_for_evidence_type("aws.route53.record_ttl") == ttl
    assert catalog.controls_for_evidence_type("aws.nothing.here") == []

    csrf = catalog.filter(text="csrf protection ENABLED")  # matches a second source's text too
    assert [c.id for c in csrf] == ["SEED000-CODE-SEC-06"]

    seed3 = catalog.filter(seed="3")
    assert seed3 == catalog.filter(seed="003") == catalog.filter(seed="SEED003")
    assert "SEED000-CODE-SEC-06" in {c.id for c in seed3}  # merged control citing a seed-003 line

    both = catalog.filter(framework="gdpr:Art32(1)(a)", method="automated", seed="003")
    assert both and all(c.method.type == "automated" and "003" in c.seeds for c in both)


def test_filter_rejects_unknown_values(catalog: Catalog) -> None:
    with pytest.raises(UsageError, match="unknown framework"):
        catalog.filter(framework="iso27001")
    with pytest.raises(UsageError, match="DR has no criteria"):
        catalog.filter(framework="dr:1")
    with pytest.raises(UsageError, match="unknown method"):
        catalog.filter(method="manual")
    with pytest.raises(UsageError, match="unknown seed"):
        catalog.filter(seed="zero")


def test_frameworks_lists_criteria_in_natural_order(catalog: Catalog) -> None:
    frameworks = catalog.frameworks()
    assert set(frameworks) == {"soc2", "gdpr", "dr"}
    soc2 = frameworks["soc2"]
    assert soc2.index("CC1.3") < soc2.index("CC6.1") < soc2.index("A1.1") < soc2.index("C1.1")
    assert soc2.index("C1.1") < soc2.index("PI1.2") < soc2.index("P1.1")
    gdpr = frameworks["gdpr"]
    assert gdpr.index("Art5(1)(e)") < gdpr.index("Art17") < gdpr.index("Art32(1)(a)") < gdpr.index("Art33")
    used = {c for control in catalog.controls for c in control.frameworks.soc2}
    assert set(soc2) == used


# -- durations and seed parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", timedelta(days=1)),
        ("P90D", timedelta(days=90)),
        ("P2W", timedelta(weeks=2)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H", timedelta(days=1, hours=6)),
        ("PT30M", timedelta(minutes=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1D", "P1DT", "P-1D", "P1.5D", "P1Y", "P3M", "p1d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def test_format_duration_round_trips(catalog: Catalog) -> None:
    for text in ("P1D", "P365D", "PT12H", "P1DT6H"):
        assert format_duration(parse_duration(text)) == text
    control = catalog.require("SEED003-SEC-01")
    assert control.freshness_iso == "P365D"
    assert control.model_dump(mode="json")["freshness"] == "P365D"


def test_parse_seed(tmp_path: Path) -> None:
    seed = tmp_path / "007_abc.txt"
    seed.write_text(
        "# Title\n\n## 1. One\n\n### Sub\n\n- [ ] First\n- [ ] Second\n\n## Two\n\n- [ ] Third\n"
        "**Status**: [ ] Complete\n"
    )
    items = parse_seed(seed)
    assert [(i.seed, i.section, i.subsection, i.line, i.text, i.position) for i in items] == [
        ("007", "1. One", "Sub", 7, "First", 1),
        ("007", "1. One", "Sub", 8, "Second", 2),
        ("007", "Two", None, 12, "Third", 1),
    ]
    orphan = tmp_path / "008_abc.txt"
    orphan.write_text("- [ ] Before any section\n")
    with pytest.raises(CatalogError, match=r"008_abc.txt:1: checklist item before any"):
        parse_seed(orphan)
    with pytest.raises(CatalogError, match="three-digit number"):
        parse_seed(tmp_path / "checklist.txt")


# -- (h) the bundled seed copies -------------------------------------------------------------------


@pytest.mark.parametrize("name", SEED_FILES)
def test_bundled_seed_copies_equal_the_shared_originals(name: str) -> None:
    original = SHARED_SEEDS / name
    if not original.is_file():
        pytest.skip(f"shared seed checklist not found at {original}: nothing to compare the copy with")
    assert (SEEDS_DIR / name).read_bytes() == original.read_bytes()


def test_catalog_names_the_bundled_seed_files(catalog: Catalog) -> None:
    for seed, info in catalog.seeds.items():
        assert (SEEDS_DIR / info.file).is_file()
        assert info.file.startswith(f"{seed}_")
