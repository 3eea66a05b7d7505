"""IAM policy evaluation, as IAM documents it: the one module every check that reads a policy uses.

Pure functions over parsed policy documents (``json.loads`` of a bucket, key or secret policy). Each
rule below cites the part of AWS's documentation it follows (IAM User Guide, "IAM JSON policy elements
reference" and "Policy evaluation logic"; S3 User Guide, "Blocking public access ... The meaning of
'public'"):

- Statement may be one object or a list; Action/NotAction, Resource/NotResource, Principal/NotPrincipal
  and every condition value may be a string or a list ("IAM JSON policy elements: Statement, Action,
  Resource"; "Condition: ... you can specify multiple values for a key ... evaluated using a logical OR").
- Action names are case-insensitive, ARNs (Resource, Arn* conditions) case-sensitive; ``*`` and ``?`` are
  wildcards in both ("IAM JSON policy elements: Action", "Resource").
- Conditions: every operator of a block, and every key of an operator, must match (AND); the values of
  one key match if any does (OR); a negated operator (``StringNot*``, ``NotIpAddress``, ``ArnNot*``,
  ``Numeric/DateNotEquals``) matches when none does (NOR) ("Creating a condition with multiple keys or
  values").
- A key absent from the request: the condition is false, except for negated operators, where it matches
  ("Condition operators": "If the key that you specify in a policy condition is not present in the
  request context, the values do not match and the condition is false. If the policy condition requires
  that the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
  condition can match"); ``...IfExists`` matches an absent key; ``Null`` tests presence.
- ``ForAnyValue``: at least one request value matches (false on an absent or empty key);
  ``ForAllValues``: every request value matches (true on an absent or empty key) ("Set operators for
  multivalued context keys").
- Decision: an explicit Deny overrides any Allow; with no Allow the request is implicitly denied
  ("Policy evaluation logic: ... an explicit deny in any policy overrides any allows").
- Principal ``"*"`` and ``{"AWS": "*"}`` are everyone, anonymous included ("AWS JSON policy elements:
  Principal"); an account id or ``arn:aws:iam::<id>:root`` is every principal of that account.

What this module does not model: policy variables (``${aws:username}``) are compared literally, and
policies other than the one given (SCPs, permission boundaries, ACLs) are the caller's to combine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]


class PolicyError(ValueError):
    """The policy uses something this module cannot evaluate (an unknown condition operator, a
    malformed statement): a check says "could not judge", never guesses."""


class Decision(StrEnum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class Principal:
    """Who makes a request: ``kind`` "AWS" (with an ARN and account), "Service", or "anonymous"."""

    kind: str = "anonymous"
    arn: str | None = None
    account: str | None = None

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def aws(cls, arn: str) -> Principal:
        parts = arn.split(":")
        return cls(kind="AWS", arn=arn, account=parts[4] if len(parts) > 5 else None)

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(kind="Service", arn=name)


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Shapes


def as_list(value: Any) -> list[Any]:
    """A policy element written as one value or a list of them."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of a policy, whether ``Statement`` is one object or a list."""
    found = as_list(policy.get("Statement"))
    if not all(isinstance(s, Mapping) for s in found):
        raise PolicyError("a statement is not a JSON object")
    return found


# ---------------------------------------------------------------------------------------------------
# Wildcards


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """``s3:Get*`` matches ``s3:GetObject``; service prefix and name are case-insensitive."""
    return glob_match(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike / Resource matching: ``*`` alone is anything; otherwise each of the six colon-separated
    parts is matched on its own, case-sensitively, the last one taking the rest (it may hold colons)."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != len(arn_parts):
        return glob_match(pattern, arn)  # not an ARN (a bare name): plain wildcard match
    return all(glob_match(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


# ---------------------------------------------------------------------------------------------------
# Conditions


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return float(_text(value))
    except ValueError:
        return None


def _date(value: Any) -> datetime | None:
    text = _text(value)
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), tz=UTC)  # epoch seconds are allowed
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ip_in(network: Any, address: Any) -> bool:
    try:
        return ipaddress.ip_address(_text(address).split("/")[0]) in ipaddress.ip_network(
            _text(network), strict=False
        )
    except ValueError:
        return False


def _compare(op: str, policy_value: Any, request_value: Any) -> bool:
    """One policy value against one request value, for the positive form of ``op``."""
    pv, rv = _text(policy_value), _text(request_value)
    if op == "StringEquals":
        return pv == rv
    if op == "StringEqualsIgnoreCase":
        return pv.casefold() == rv.casefold()
    if op == "StringLike":
        return glob_match(pv, rv)
    if op == "Bool":
        return pv.lower() == rv.lower()
    if op == "BinaryEquals":
        return pv == rv
    if op in ("ArnEquals", "ArnLike"):
        return arn_matches(pv, rv)
    if op == "IpAddress":
        return _ip_in(pv, rv)
    if op.startswith("Numeric"):
        a, b = _number(rv), _number(pv)
        if a is None or b is None:
            return False
        return bool(_ORDER[op.removeprefix("Numeric")](a, b))
    if op.startswith("Date"):
        x, y = _date(rv), _date(pv)
        if x is None or y is None:
            return False
        return bool(_ORDER[op.removeprefix("Date")](x, y))
    raise PolicyError(f"unknown condition operator {op!r}")


_ORDER: dict[str, Any] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
# Negated operator -> the positive operator whose result it negates (NOR over the policy values).
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_POSITIVE = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "Bool",
    "BinaryEquals",
    "ArnEquals",
    "ArnLike",
    "IpAddress",
    *(f"Numeric{o}" for o in _ORDER),
    *(f"Date{o}" for o in _ORDER),
}


@lru_cache(maxsize=1024)
def parse_operator(name: str) -> tuple[str | None, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> ("ForAnyValue", "StringLike", True)."""
    qualifier = None
    if ":" in name:
        qualifier, name = name.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown set operator {qualifier!r}")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    base = name.removesuffix("IfExists") if if_exists else name
    if base != "Null" and base not in _POSITIVE and base not in _NEGATED:
        raise PolicyError(f"unknown condition operator {name!r}")
    return qualifier, base, if_exists


def _lookup(context: Mapping[str, ContextValue], key: str) -> list[Any] | None:
    """The request's values for a condition key (keys are case-insensitive), None when absent."""
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            return as_list(value)
    return None


def _value_matches(base: str, policy_values: list[Any], request_value: Any) -> bool:
    """One request value against the policy's values: OR for positive operators, NOR for negated."""
    if base in _NEGATED:
        positive = _NEGATED[base]
        return not any(_compare(positive, pv, request_value) for pv in policy_values)
    return any(_compare(base, pv, request_value) for pv in policy_values)


def condition_matches(
    operator: str, key: str, policy_values: Any, context: Mapping[str, ContextValue]
) -> bool:
    qualifier, base, if_exists = parse_operator(operator)
    values = as_list(policy_values)
    present = _lookup(context, key)
    if base == "Null":
        # "true": the key must be absent; "false": present (a list of both matches either).
        return any((_text(v).lower() == "true") == (present is None) for v in values)
    if present is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return base in _NEGATED
    if qualifier == "ForAllValues":
        return all(_value_matches(base, values, rv) for rv in present)
    # ForAnyValue, and a single-valued operator (a multivalued key without a set operator is taken as
    # "any of its values", which is what IAM does for the keys that can hold several values).
    if base in _NEGATED and qualifier is None:
        # Without a set operator, a negated operator holds when no request value matches a policy value.
        return all(_value_matches(base, values, rv) for rv in present)
    return any(_value_matches(base, values, rv) for rv in present)


def conditions_match(conditions: Any, context: Mapping[str, ContextValue]) -> bool:
    if conditions is None:
        return True
    if not isinstance(conditions, Mapping):
        raise PolicyError("Condition is not a JSON object")
    for operator, keys in conditions.items():
        if not isinstance(keys, Mapping):
            raise PolicyError(f"condition {operator!r} is not a JSON object")
        for key, values in keys.items():
            if not condition_matches(operator, key, values, context):
                return False
    return True


# ---------------------------------------------------------------------------------------------------
# Statements


def _principal_entry_matches(kind: str, value: str, principal: Principal) -> bool:
    if value == "*":
        # {"AWS": "*"} is everyone, anonymous included (equivalent to "Principal": "*").
        return kind == "AWS" or kind == principal.kind
    if kind != principal.kind:
        return False
    if kind == "AWS":
        if re.fullmatch(r"\d{12}", value):
            return principal.account == value
        root = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):root", value)
        if root:
            return principal.account == root.group(1)
        return principal.arn == value
    return (principal.arn or "").lower() == value.lower()


def principal_matches(element: Any, principal: Principal) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise PolicyError('Principal is neither "*" nor a JSON object')
    return any(
        _principal_entry_matches(kind, str(value), principal)
        for kind, values in element.items()
        for value in as_list(values)
    )


def _element_matches(statement: Mapping[str, Any], name: str, matches: Any, target: str) -> bool:
    """Action/NotAction, Resource/NotResource: one of the pair must be present."""
    if name in statement:
        return any(matches(str(p), target) for p in as_list(statement[name]))
    negated = "Not" + name
    if negated in statement:
        return not any(matches(str(p), target) for p in as_list(statement[negated]))
    return False


def statement_applies(
    statement: Mapping[str, Any], request: Request, *, check_principal: bool = True
) -> bool:
    """Whether the statement covers the request (its effect aside)."""
    if not _element_matches(statement, "Action", action_matches, request.action):
        return False
    if not _element_matches(statement, "Resource", arn_matches, request.resource):
        return False
    if check_principal and not _principal_applies(statement, request.principal):
        return False
    return conditions_match(statement.get("Condition"), request.context)


def _principal_applies(statement: Mapping[str, Any], principal: Principal) -> bool:
    if "Principal" in statement:
        return principal_matches(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        return not principal_matches(statement["NotPrincipal"], principal)
    return True  # neither: an identity policy's statement, which applies to the identity it is attached to


def evaluate(policy: Mapping[str, Any], request: Request) -> Decision:
    """IAM's decision for one request under one policy: explicit Deny > Allow > implicit deny."""
    allowed = False
    for statement in statements(policy):
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"statement effect {effect!r} is neither Allow nor Deny")
        if statement_applies(statement, request):
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


# ---------------------------------------------------------------------------------------------------
# Questions the checks ask, answered by evaluating probe requests


def _instances(patterns: Iterable[str]) -> set[str]:
    """A concrete name for each wildcard pattern (``s3:Get*`` -> ``s3:GetX``), so that probes also
    try what a policy names and not only a fixed list."""
    return {p.replace("*", "X").replace("?", "X") for p in patterns if p != "*"}


def named_actions(policy: Mapping[str, Any], service: str) -> set[str]:
    found: set[str] = set()
    for statement in statements(policy):
        for key in ("Action", "NotAction"):
            found |= {
                a
                for a in _instances(str(x) for x in as_list(statement.get(key)))
                if a.lower().startswith(service + ":")
            }
    return found


def named_resources(policy: Mapping[str, Any], prefixes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for statement in statements(policy):
        for key in ("Resource", "NotResource"):
            found |= {
                r
                for r in _instances(str(x) for x in as_list(statement.get(key)))
                if r.startswith(tuple(prefixes))
            }
    return found


@dataclass(frozen=True)
class Probe:
    principal: Principal
    action: str
    resource: str


def undenied(
    policy: Mapping[str, Any],
    principals: Sequence[Principal],
    actions: Sequence[str],
    resources: Sequence[str],
    context: Mapping[str, ContextValue],
) -> list[Probe]:
    """Of every request (principal, action, resource) under ``context`` (each principal's own keys,
    aws:PrincipalArn and aws:PrincipalAccount, added as IAM would), those the policy does not
    explicitly deny.

    Same answer as ``evaluate(...) is not EXPLICIT_DENY`` for each request, computed per statement and
    part: a Deny covers a request when its principal (with the conditions, which depend only on the
    principal's context here), its action and its resource each match, so each part is judged once per
    distinct value rather than once per request (a bucket has hundreds)."""
    every = statements(policy)
    for statement in every:
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"statement effect {statement.get('Effect')!r} is neither Allow nor Deny")
    covered = []
    for statement in every:
        if statement.get("Effect") != "Deny":
            continue
        who = [
            n
            for n, p in enumerate(principals)
            if _principal_applies(statement, p)
            and conditions_match(statement.get("Condition"), {**context, **principal_keys(p)})
        ]
        what = {a for a in actions if _element_matches(statement, "Action", action_matches, a)}
        where = {r for r in resources if _element_matches(statement, "Resource", arn_matches, r)}
        covered.append((set(who), what, where))
    return [
        Probe(principal, action, resource)
        for n, principal in enumerate(principals)
        for action in actions
        for resource in resources
        if not any(n in who and action in what and resource in where for who, what, where in covered)
    ]


def principal_keys(principal: Principal) -> dict[str, ContextValue]:
    if principal.kind != "AWS" or not principal.arn:
        return {}
    keys: dict[str, ContextValue] = {"aws:PrincipalArn": principal.arn}
    if principal.account:
        keys["aws:PrincipalAccount"] = principal.account
    return keys


# S3's definition of a public bucket policy ("The meaning of 'public'", S3 User Guide): an Allow is not
# public when it is limited to fixed (no wildcard, no policy variable) values of these keys, or to a set
# of CIDRs with aws:SourceIp. A CIDR of the whole address space (0.0.0.0/0, ::/0) limits nothing.
FIXING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:SourceArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceOwner",
        "aws:SourceAccount",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:userid",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:DataAccessPointArn",
        "s3:DataAccessPointAccount",
    )
)
_EVERYWHERE = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _fixed(value: Any) -> bool:
    text = _text(value)
    return "*" not in text and "?" not in text and "${" not in text


def _limits_public(operator: str, key: str, values: Any) -> bool:
    """Whether one condition limits an Allow to non-public callers, in S3's sense."""
    qualifier, base, if_exists = parse_operator(operator)
    if if_exists or base in _NEGATED or qualifier == "ForAllValues" or base == "Null":
        return False  # matches when the key is absent, or excludes rather than fixes
    listed = as_list(values)
    if not listed:
        return False
    if key.lower() == "aws:sourceip":
        if base != "IpAddress":
            return False
        try:
            networks = [ipaddress.ip_network(_text(v), strict=False) for v in listed]
        except ValueError:
            return False
        return not any(n in _EVERYWHERE for n in networks)
    return key.lower() in FIXING_KEYS and all(_fixed(v) for v in listed)


def _public_principal(statement: Mapping[str, Any]) -> bool:
    """Whether the statement's principal includes the public: ``*``, ``{"AWS": "*"}``, or any
    NotPrincipal (everyone but the ones named)."""
    if "NotPrincipal" in statement:
        return True
    element = statement.get("Principal")
    if element == "*":
        return True
    if isinstance(element, Mapping):
        return any(_text(v) == "*" for values in element.values() for v in as_list(values))
    return False


def public_statements(
    policy: Mapping[str, Any], service: str, resources: Sequence[str], probe_actions: Sequence[str]
) -> list[str]:
    """The Allow statements (by Sid, else index) that grant ``service`` actions on ``resources`` to the
    public, per S3's definition, and that no Deny of the same policy takes back for an anonymous caller.
    """
    found = []
    actions = sorted(set(probe_actions) | named_actions(policy, service))
    every = statements(policy)
    for index, statement in enumerate(every):
        if statement.get("Effect") != "Allow" or not _public_principal(statement):
            continue
        conditions = statement.get("Condition") or {}
        if not isinstance(conditions, Mapping):
            raise PolicyError("Condition is not a JSON object")
        if any(
            _limits_public(op, key, values)
            for op, keys in conditions.items()
            if isinstance(keys, Mapping)
            for key, values in keys.items()
        ):
            continue
        # The statement reaches the public; does any probe survive the policy's Denies? Conditions are
        # evaluated for an anonymous caller whose request carries none of the keys above.
        denies = {"Statement": [s for s in every if s.get("Effect") == "Deny"]}
        granted = any(
            _applies_ignoring_conditions(statement, request)
            and evaluate(denies, request) is not Decision.EXPLICIT_DENY
            for action in actions
            for resource in resources
            for request in (Request(Principal.anonymous(), action, resource, {}),)
        )
        if granted:
            found.append(str(statement.get("Sid") or f"statement {index}"))
    return found


def _applies_ignoring_conditions(statement: Mapping[str, Any], request: Request) -> bool:
    """Action and resource match (the public check has already judged the conditions itself)."""
    return _element_matches(statement, "Action", action_matches, request.action) and _element_matches(
        statement, "Resource", arn_matches, request.resource
    )
