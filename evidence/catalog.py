"""The control catalog: every seed checklist item as a control, validated when it is loaded.

The catalog is data (``evidence_schemas/catalog.yaml``); this module gives it types and refuses a
catalog that is inconsistent, naming the control and the field at fault: ids that are malformed,
duplicated or not derived from their first source; framework ids that are not Trust Services
Criteria or GDPR articles; durations that are not ISO 8601; methods that are not well formed; a
checklist line cited twice. Which evidence types exist is the registry's business
(``evidence.registry``); a meta-test compares the two.

``parse_seed`` reads a seed checklist the same way the catalog was built from it, so tests (and a
future ``evidence catalog check``) can prove that every checklist line maps to exactly one control.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from evidence.errors import CatalogError, UsageError

CATALOG_PATH = Path(__file__).resolve().parent.parent / "evidence_schemas" / "catalog.yaml"
SEEDS_DIR = CATALOG_PATH.parent / "seeds"

CATALOG_VERSION = 1
FRAMEWORKS = ("soc2", "gdpr", "dr")
METHOD_TYPES = ("automated", "attestation", "hybrid")

CONTROL_ID_RE = re.compile(
    r"^SEED(?P<seed>\d{3})-(?P<section>[A-Z][A-Z0-9]*)(?:-(?P<subsection>[A-Z][A-Z0-9]*))?-(?P<number>\d{2})$"
)
CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*$")
EVIDENCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9_]*)+$")
TSC_RE = re.compile(r"^(?P<category>CC[1-9]|A1|C1|PI1|P[1-8])\.(?P<number>[1-9])$")
GDPR_RE = re.compile(
    r"^Art(?P<article>[1-9][0-9]?)(?:\((?P<paragraph>[1-9][0-9]?)\)(?:\((?P<point>[a-z])\))?)?$"
)
CHECKLIST_ITEM_RE = re.compile(r"^- \[[ xX]\] (?P<text>\S.*?)\s*$")

# The Trust Services Criteria (AICPA, 2017, revised points of focus 2022): series -> highest number.
_TSC_SERIES = {
    "CC1": 5, "CC2": 3, "CC3": 4, "CC4": 2, "CC5": 3, "CC6": 8, "CC7": 5, "CC8": 1, "CC9": 2,
    "A1": 3, "C1": 2, "PI1": 5,
    "P1": 1, "P2": 1, "P3": 2, "P4": 3, "P5": 2, "P6": 7, "P7": 1, "P8": 1,
}  # fmt: skip
TSC_CRITERIA = frozenset(f"{series}.{n}" for series, top in _TSC_SERIES.items() for n in range(1, top + 1))
_TSC_ORDER = {series: i for i, series in enumerate(_TSC_SERIES)}


# --------------------------------------------------------------------------------------------------
# ISO 8601 durations


_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse the ISO 8601 durations a freshness can take: ``P1D``, ``P2W``, ``PT12H``, ``P1DT6H``...

    Years and months are refused: they have no fixed length, so "stale after P1Y" would mean a
    different number of days depending on when it is asked. Write ``P365D`` instead.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 duration such as 'P1D', got {text!r}")
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        calendar = re.match(r"^P[^T]*[YM]", text.strip())
        hint = " (years and months have no fixed length: use days, e.g. P365D)" if calendar else ""
        raise ValueError(f"{text!r} is not an ISO 8601 duration of the form PnW, PnD or PTnH{hint}")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} is zero: a freshness must be positive")
    return duration


def format_duration(duration: timedelta) -> str:
    """The ISO 8601 form of a duration: whole days as ``PnD``, otherwise ``PnDTnHnMnS``."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


def _duration_input(value: Any) -> Any:
    return value if isinstance(value, timedelta) else parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration_input),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


# --------------------------------------------------------------------------------------------------
# Seeds


@dataclass(frozen=True)
class SeedItem:
    """One ``- [ ]`` line of a seed checklist."""

    seed: str  # "000"
    file: str  # "000_5c6ecab77e94381a.txt"
    section: str  # the "## " heading, verbatim: "8. Security Audit"
    subsection: str | None  # the "### " heading, or None
    line: int  # 1-based line number in the file
    text: str  # the item, without "- [ ] "
    position: int  # 1-based position within its (sub)section: the NN of the control id


def parse_seed(path: Path) -> list[SeedItem]:
    """Every checklist item of a seed file, in file order.

    The seed number is the file name's prefix (``003_5ec06c10b875924c.txt`` -> ``"003"``). A ``## ``
    heading starts a section (and ends the subsection), ``### `` a subsection; ``- [ ] text`` is an item.
    """
    path = Path(path)
    seed = path.name.split("_", 1)[0]
    if not re.fullmatch(r"\d{3}", seed):
        raise CatalogError(
            f"{path}: a seed file name starts with its three-digit number, e.g. 003_<hash>.txt"
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read seed checklist: {exc}") from exc
    items: list[SeedItem] = []
    section: str | None = None
    subsection: str | None = None
    positions: dict[tuple[str, str | None], int] = {}
    for number, raw in enumerate(lines, start=1):
        if raw.startswith("### "):
            subsection = raw[4:].strip()
        elif raw.startswith("## "):
            section, subsection = raw[3:].strip(), None
        elif match := CHECKLIST_ITEM_RE.match(raw):
            if section is None:
                raise CatalogError(f"{path}:{number}: checklist item before any '## ' section heading")
            key = (section, subsection)
            positions[key] = positions.get(key, 0) + 1
            items.append(
                SeedItem(seed, path.name, section, subsection, number, match["text"], positions[key])
            )
    return items


# --------------------------------------------------------------------------------------------------
# Models


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """One checklist line a control covers."""

    seed: str = Field(pattern=r"^\d{3}$")
    file: str = Field(min_length=1)
    section: str = Field(min_length=1)
    subsection: str | None
    line: int = Field(ge=1)
    text: str = Field(min_length=1)

    @property
    def ref(self) -> str:
        return f"{self.file}:{self.line}"


class Frameworks(_Frozen):
    soc2: tuple[str, ...] = ()
    gdpr: tuple[str, ...] = ()
    dr: bool = False

    @field_validator("soc2")
    @classmethod
    def _known_criteria(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for criterion in value:
            if not TSC_RE.fullmatch(criterion):
                raise ValueError(
                    f"{criterion!r} is not a Trust Services Criterion id (e.g. CC6.1, A1.2, PI1.3)"
                )
            if criterion not in TSC_CRITERIA:
                raise ValueError(
                    f"{criterion!r} is not a Trust Services Criterion "
                    "(CC1.1-CC9.2, A1.1-A1.3, C1.1-C1.2, PI1.1-PI1.5, P1.1-P8.1)"
                )
        _no_repeats(value)
        return value

    @field_validator("gdpr")
    @classmethod
    def _article_format(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for article in value:
            if not GDPR_RE.fullmatch(article):
                raise ValueError(
                    f"{article!r} is not a GDPR article reference (Art<article>[(<paragraph>)[(<point>)]], "
                    "e.g. Art17, Art25(1), Art32(1)(b))"
                )
        _no_repeats(value)
        return value

    @property
    def is_empty(self) -> bool:
        return not (self.soc2 or self.gdpr or self.dr)

    def tags(self) -> tuple[str, ...]:
        """``("soc2:CC6.1", "gdpr:Art32(1)(a)", "dr")``: the form evidence records and bundles use."""
        return (
            tuple(f"soc2:{c}" for c in self.soc2)
            + tuple(f"gdpr:{a}" for a in self.gdpr)
            + (("dr",) if self.dr else ())
        )

    def matches(self, framework: str, criterion: str | None = None) -> bool:
        """Does this mapping cover ``framework`` (and ``criterion``, hierarchically)?

        ``criterion`` matches itself and what it contains: ``CC6`` matches ``CC6.1``; ``Art32`` matches
        ``Art32``, ``Art32(1)`` and ``Art32(1)(b)``; ``Art32(1)`` matches ``Art32(1)(b)``.
        """
        if framework == "dr":
            return self.dr
        values = self.soc2 if framework == "soc2" else self.gdpr
        if criterion is None:
            return bool(values)
        wanted = criterion.casefold()
        separator = "." if framework == "soc2" else "("
        return any(v.casefold() == wanted or v.casefold().startswith(wanted + separator) for v in values)


class Method(_Frozen):
    """How evidence for a control is obtained.

    ``automated``: collected evidence types. ``attestation``: a document or sign-off a person uploads.
    ``hybrid``: both; the evidence types cover what machines can observe, the attestation the rest,
    and ``attestation_freshness`` says how old the attestation may be (the control's ``freshness``
    applies to the collected evidence).
    """

    type: Literal["automated", "attestation", "hybrid"]
    evidence_types: tuple[str, ...] = ()
    attestation: str | None = None
    attestation_freshness: Duration | None = None
    note: str | None = None

    @field_validator("evidence_types")
    @classmethod
    def _type_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for type_id in value:
            if not EVIDENCE_TYPE_RE.fullmatch(type_id):
                raise ValueError(
                    f"{type_id!r} is not an evidence type id (dotted, lower case: family.source.check)"
                )
        _no_repeats(value)
        return value

    @model_validator(mode="after")
    def _well_formed(self) -> Method:
        has_types = bool(self.evidence_types)
        has_attestation = bool(self.attestation and self.attestation.strip())
        if self.type in ("automated", "hybrid") and not has_types:
            raise ValueError(f"a {self.type} method names at least one evidence type in evidence_types")
        if self.type in ("attestation", "hybrid") and not has_attestation:
            raise ValueError(
                f"an {self.type} method says in 'attestation' what document or sign-off is expected"
            )
        if self.type == "automated" and self.attestation is not None:
            raise ValueError("an automated method has no 'attestation'; use type: hybrid for both")
        if self.type == "attestation" and has_types:
            raise ValueError("an attestation method has no evidence_types; use type: hybrid for both")
        if self.type == "hybrid" and self.attestation_freshness is None:
            raise ValueError("a hybrid method says how old its attestation may be in 'attestation_freshness'")
        if self.type != "hybrid" and self.attestation_freshness is not None:
            raise ValueError(
                "'attestation_freshness' belongs to hybrid methods; the control's freshness covers the rest"
            )
        return self


class Control(_Frozen):
    id: str
    title: str = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    merge_note: str | None = None
    frameworks: Frameworks
    frameworks_note: str | None = None
    method: Method
    freshness: Duration
    owner_role: str = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not CONTROL_ID_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a control id of the form SEED<nnn>-<SECTION>[-<SUBSECTION>]-<NN>, "
                "e.g. SEED003-SEC-08"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Control:
        first = self.sources[0]
        if self.title != first.text:
            raise ValueError(f"title: {self.title!r} must be the first source's text {first.text!r}")
        id_seed = self.id[4:7]
        if id_seed != first.seed:
            raise ValueError(
                f"id: {self.id} names seed {id_seed} but its first source is from seed {first.seed}"
            )
        order = [(s.seed, s.line) for s in self.sources]
        if len(set(order)) != len(order):
            raise ValueError("sources: the same checklist line is cited twice")
        if order != sorted(order):
            raise ValueError("sources: list them in seed, then line order (the first one gives the id)")
        if self.frameworks.is_empty:
            raise ValueError("frameworks: map the control to at least one of soc2, gdpr or dr")
        return self

    @property
    def section(self) -> str:
        return self.sources[0].section

    @property
    def subsection(self) -> str | None:
        return self.sources[0].subsection

    @property
    def seeds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.seed for s in self.sources))

    @property
    def evidence_types(self) -> tuple[str, ...]:
        return self.method.evidence_types

    @property
    def freshness_iso(self) -> str:
        return format_duration(self.freshness)


class SectionInfo(_Frozen):
    code: str = Field(pattern=CODE_RE.pattern)
    subsections: dict[str, str] = Field(default_factory=dict)

    @field_validator("subsections")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        for title, code in value.items():
            if not CODE_RE.fullmatch(code):
                raise ValueError(f"subsection {title!r}: code {code!r} is not short upper case (e.g. AUTH)")
        _no_repeats(tuple(value.values()), what="subsection code")
        return value


class SeedInfo(_Frozen):
    file: str = Field(min_length=1)
    title: str | None = None
    sections: dict[str, SectionInfo]

    @field_validator("sections")
    @classmethod
    def _codes(cls, value: dict[str, SectionInfo]) -> dict[str, SectionInfo]:
        _no_repeats(tuple(s.code for s in value.values()), what="section code")
        return value


class Catalog(_Frozen):
    version: int
    seeds: dict[str, SeedInfo]
    owner_roles: tuple[str, ...] = Field(min_length=1)
    controls: tuple[Control, ...]

    _by_id: dict[str, Control] = PrivateAttr(default_factory=dict)
    _by_evidence_type: dict[str, list[Control]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        # CatalogError (not ValueError) passes through pydantic unchanged, so the message stays as written.
        problems = consistency_problems(self.version, self.seeds, self.owner_roles, self.controls)
        if problems:
            raise CatalogError(_summarise("the control catalog is inconsistent", problems))
        return self

    def model_post_init(self, __context: Any) -> None:
        self._by_id = {c.id: c for c in self.controls}
        for control in self.controls:
            for type_id in control.method.evidence_types:
                self._by_evidence_type.setdefault(type_id, []).append(control)

    # -- lookups -----------------------------------------------------------------------------------

    def get(self, control_id: str) -> Control | None:
        """The control with this id (case-insensitive), or None."""
        return self._by_id.get(control_id.strip().upper())

    def require(self, control_id: str) -> Control:
        """The control with this id; CatalogError naming the closest ids when there is none."""
        control = self.get(control_id)
        if control is None:
            close = difflib.get_close_matches(control_id.strip().upper(), self._by_id, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise CatalogError(f"unknown control id {control_id!r}{hint}")
        return control

    def ids(self) -> list[str]:
        return [c.id for c in self.controls]

    def evidence_types(self) -> set[str]:
        """Every evidence type an automated or hybrid control relies on."""
        return set(self._by_evidence_type)

    def controls_for_evidence_type(self, type_id: str) -> list[Control]:
        return list(self._by_evidence_type.get(type_id, ()))

    def frameworks(self) -> dict[str, list[str]]:
        """The criteria the catalog maps to, per framework, in their natural order.

        DR has no numbered criteria: its list holds the ids of the controls marked ``dr: true``.
        """
        soc2 = {c for control in self.controls for c in control.frameworks.soc2}
        gdpr = {a for control in self.controls for a in control.frameworks.gdpr}
        return {
            "soc2": sorted(soc2, key=_tsc_key),
            "gdpr": sorted(gdpr, key=_gdpr_key),
            "dr": [c.id for c in self.controls if c.frameworks.dr],
        }

    def filter(
        self,
        framework: str | None = None,
        method: str | None = None,
        evidence_type: str | None = None,
        text: str | None = None,
        seed: str | None = None,
    ) -> list[Control]:
        """Controls matching every given criterion, in catalog order.

        framework: ``soc2``, ``gdpr``, ``dr``, or one criterion: ``soc2:CC6.1``, ``soc2:CC6`` (the whole
        series), ``gdpr:Art32`` (the article and its paragraphs), ``gdpr:Art32(1)(b)``.
        method: ``automated``, ``attestation`` or ``hybrid`` (exactly that type).
        evidence_type: controls whose method names this evidence type.
        text: case-insensitive substring of the id, the title or any source line.
        seed: ``000``/``003`` (``3`` and ``SEED003`` work too): controls citing a line of that seed.
        """
        wanted_framework = _parse_framework_filter(framework) if framework else None
        if method is not None and method not in METHOD_TYPES:
            raise UsageError(f"unknown method {method!r}: use one of {', '.join(METHOD_TYPES)}")
        wanted_seed = _normalise_seed(seed) if seed is not None else None
        needle = text.casefold() if text else None

        def keep(control: Control) -> bool:
            if wanted_framework and not control.frameworks.matches(*wanted_framework):
                return False
            if method is not None and control.method.type != method:
                return False
            if evidence_type is not None and evidence_type not in control.method.evidence_types:
                return False
            if wanted_seed is not None and wanted_seed not in control.seeds:
                return False
            if needle is not None:
                haystack = [control.id, control.title, *(s.text for s in control.sources)]
                if not any(needle in h.casefold() for h in haystack):
                    return False
            return True

        return [c for c in self.controls if keep(c)]

    # -- seeds -------------------------------------------------------------------------------------

    def id_prefix(self, seed: str, section: str, subsection: str | None) -> str:
        """``SEED000-SEC-AUTH-``: the id prefix of an item in that (sub)section, from the code table."""
        info = self.seeds[seed].sections[section]
        prefix = f"SEED{seed}-{info.code}-"
        if subsection is not None:
            prefix += f"{info.subsections[subsection]}-"
        return prefix

    def id_for(self, item: SeedItem) -> str:
        """The id a control whose first source is ``item`` must have."""
        try:
            return f"{self.id_prefix(item.seed, item.section, item.subsection)}{item.position:02d}"
        except KeyError as exc:
            raise CatalogError(
                f"{item.file}:{item.line}: section {item.section!r} / subsection {item.subsection!r} "
                "has no code under 'seeds' in the catalog"
            ) from exc

    def verify_against_seeds(self, items: Iterable[SeedItem]) -> list[str]:
        """Problems between the catalog and the given seed items (empty when they agree).

        Checks, for the seeds the items come from: every item is cited by exactly one control, every
        source cites an item (same line, text, section and subsection), and every control's id is the
        one derived from its first source.
        """
        by_line = {(i.seed, i.line): i for i in items}
        seeds = {seed for seed, _ in by_line}
        problems: list[str] = []
        cited: dict[tuple[str, int], str] = {}
        for control in self.controls:
            for source in control.sources:
                if source.seed not in seeds:
                    continue
                key = (source.seed, source.line)
                item = by_line.get(key)
                if item is None:
                    problems.append(f"{control.id}: {source.ref} is not a checklist item")
                    continue
                if (source.text, source.section, source.subsection, source.file) != (
                    item.text,
                    item.section,
                    item.subsection,
                    item.file,
                ):
                    problems.append(
                        f"{control.id}: {source.ref} cites {source.text!r} in {source.section!r}/"
                        f"{source.subsection!r}; the seed says {item.text!r} in "
                        f"{item.section!r}/{item.subsection!r}"
                    )
                if key in cited:
                    problems.append(f"{control.id}: {source.ref} is also cited by {cited[key]}")
                cited[key] = control.id
            first = control.sources[0]
            if first.seed in seeds and (item := by_line.get((first.seed, first.line))) is not None:
                try:
                    expected = self.id_for(item)
                except CatalogError as exc:
                    problems.append(f"{control.id}: {exc}")
                else:
                    if control.id != expected:
                        problems.append(f"{control.id}: derived from {first.ref} the id is {expected}")
        for key, item in by_line.items():
            if key not in cited:
                problems.append(f"{item.file}:{item.line}: {item.text!r} is not covered by any control")
        return problems


# --------------------------------------------------------------------------------------------------
# Loading


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate the catalog; the default (shipped) catalog is loaded once and cached."""
    if path is None:
        return _load_default()
    return _load(Path(path))


@functools.lru_cache(maxsize=1)
def _load_default() -> Catalog:
    return _load(CATALOG_PATH)


def _load(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the control catalog: {exc}") from exc
    try:
        # libyaml's safe loader when built in (the same documents, about 8x faster: the catalog is
        # loaded by every CLI command and bundle export), else PyYAML's pure-Python one.
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: the control catalog is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise CatalogError(
            f"{path}: the control catalog must be a mapping with version, seeds, owner_roles, controls"
        )

    problems: list[str] = []
    expected_keys = {"version", "seeds", "owner_roles", "controls"}
    for key in sorted(set(document) - expected_keys, key=str):
        problems.append(f"{key}: unknown top-level key (expected {', '.join(sorted(expected_keys))})")
    for key in sorted(expected_keys - set(document)):
        problems.append(f"{key}: missing")
    if problems:
        raise CatalogError(_summarise(f"{path}: the control catalog is malformed", problems))

    seeds: dict[str, SeedInfo] = {}
    raw_seeds = document["seeds"]
    if not isinstance(raw_seeds, dict) or not raw_seeds:
        problems.append("seeds: must map seed numbers ('000') to their file and section codes")
        raw_seeds = {}
    for seed, raw in raw_seeds.items():
        try:
            seeds[str(seed)] = SeedInfo.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"seeds.{seed}: {msg}" for msg in _validation_messages(exc))

    owner_roles = document["owner_roles"]
    if not isinstance(owner_roles, list) or not all(isinstance(r, str) and r for r in owner_roles):
        problems.append("owner_roles: must be a list of role names")
        owner_roles = []

    controls: list[Control] = []
    positions: list[int] = []  # each valid control's index in the file, for messages
    raw_controls = document["controls"]
    if not isinstance(raw_controls, list):
        problems.append("controls: must be a list of controls")
        raw_controls = []
    for index, raw in enumerate(raw_controls):
        label = _control_label(raw, index)
        if not isinstance(raw, dict):
            problems.append(f"{label}: must be a mapping of fields")
            continue
        try:
            controls.append(Control.model_validate(raw))
            positions.append(index)
        except ValidationError as exc:
            problems.extend(f"{label}: {msg}" for msg in _validation_messages(exc))

    problems.extend(consistency_problems(document["version"], seeds, tuple(owner_roles), controls, positions))
    if problems:
        raise CatalogError(_summarise(f"{path}: the control catalog is invalid", problems))
    return Catalog(
        version=document["version"], seeds=seeds, owner_roles=tuple(owner_roles), controls=tuple(controls)
    )


def consistency_problems(
    version: Any,
    seeds: dict[str, SeedInfo],
    owner_roles: Sequence[str],
    controls: Sequence[Control],
    positions: Sequence[int] | None = None,
) -> list[str]:
    """Checks across controls: unique ids, ids derived from the first source's (sub)section codes,
    sources that name a declared seed, file and section, no checklist line cited twice, known roles.

    ``positions`` are the controls' indices in the file (when some failed validation and were left out).
    """
    problems: list[str] = []
    if positions is None:
        positions = range(len(controls))
    if version != CATALOG_VERSION:
        problems.append(f"version: {version!r} is not a catalog version this code reads ({CATALOG_VERSION})")
    first_index: dict[str, int] = {}
    cited: dict[tuple[str, int], str] = {}
    for index, control in zip(positions, controls, strict=True):
        label = f"control {control.id}"
        if control.id in first_index:
            problems.append(
                f"{label}: id: duplicate id (controls #{first_index[control.id] + 1} and #{index + 1})"
            )
        else:
            first_index[control.id] = index
        if control.owner_role not in owner_roles:
            problems.append(f"{label}: owner_role: {control.owner_role!r} is not one of owner_roles")
        for n, source in enumerate(control.sources):
            where = f"{label}: sources[{n}]"
            seed = seeds.get(source.seed)
            if seed is None:
                problems.append(f"{where}.seed: seed {source.seed!r} is not declared under 'seeds'")
                continue
            if source.file != seed.file:
                problems.append(f"{where}.file: seed {source.seed} is {seed.file!r}, not {source.file!r}")
            section = seed.sections.get(source.section)
            if section is None:
                problems.append(f"{where}.section: {source.section!r} is not a section of seed {source.seed}")
                continue
            if source.subsection is not None and source.subsection not in section.subsections:
                problems.append(
                    f"{where}.subsection: {source.subsection!r} is not a subsection of {source.section!r}"
                )
                continue
            if source.subsection is None and section.subsections:
                problems.append(f"{where}.subsection: {source.section!r} has subsections; name one")
                continue
            key = (source.seed, source.line)
            if key in cited and cited[key] != control.id:
                problems.append(f"{where}: {source.ref} is already cited by control {cited[key]}")
            cited.setdefault(key, control.id)
            if n == 0:
                prefix = f"SEED{source.seed}-{section.code}-"
                if source.subsection is not None:
                    prefix += f"{section.subsections[source.subsection]}-"
                if not re.fullmatch(re.escape(prefix) + r"\d{2}", control.id):
                    problems.append(
                        f"{label}: id: must be {prefix}NN, derived from its first source "
                        f"({source.ref}, {source.section!r} / {source.subsection!r})"
                    )
    return problems


# --------------------------------------------------------------------------------------------------
# helpers


def _no_repeats(values: tuple[str, ...], what: str = "entry") -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value)


def _control_label(raw: Any, index: int) -> str:
    cid = raw.get("id") if isinstance(raw, dict) else None
    return f"control {cid}" if isinstance(cid, str) and cid else f"control #{index + 1} (no id)"


def _validation_messages(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``field: message`` lines (``method.type: Input should be ...``)."""
    messages = []
    for error in exc.errors(include_url=False):
        field = ""
        for part in error["loc"]:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] in ("literal_error", "string_pattern_mismatch", "int_parsing", "bool_parsing"):
            message += f" (got {value!r})"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        messages.append(f"{field}: {message}" if field else message)
    return messages


def _summarise(headline: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{headline}: {problems[0]}"
    return f"{headline} ({len(problems)} problems):\n" + "\n".join(f"  - {p}" for p in problems)


def _parse_framework_filter(value: str) -> tuple[str, str | None]:
    name, _, criterion = value.partition(":")
    name = name.strip().lower()
    if name not in FRAMEWORKS:
        raise UsageError(f"unknown framework {value!r}: use soc2, gdpr, dr, soc2:CC6.1 or gdpr:Art32(1)(b)")
    criterion = criterion.strip()
    if name == "dr" and criterion:
        raise UsageError(f"{value!r}: DR has no criteria; use 'dr'")
    return name, criterion or None


def _normalise_seed(seed: str) -> str:
    text = str(seed).strip().upper().removeprefix("SEED")
    if not text.isdigit() or len(text) > 3:
        raise UsageError(f"unknown seed {seed!r}: use a seed number such as 000 or 003")
    return text.zfill(3)


def _tsc_key(criterion: str) -> tuple[int, int]:
    series, _, number = criterion.partition(".")
    return (_TSC_ORDER.get(series, len(_TSC_ORDER)), int(number or 0))


def _gdpr_key(article: str) -> tuple[int, int, str]:
    match = GDPR_RE.fullmatch(article)
    assert match is not None  # validated at load
    return (int(match["article"]), int(match["paragraph"] or 0), match["point"] or "")
