"""collectors.aws.iam_eval against AWS's documented evaluation rules, one table row per rule.

Sources (IAM User Guide unless said otherwise):
[EVAL]  "Policy evaluation logic" / "Determining whether a request is allowed or denied within an
        account": an explicit Deny overrides any Allow; no Allow is an implicit deny.
[ACT]   "IAM JSON policy elements: Action" / "NotAction": case-insensitive, wildcards * and ?; NotAction
        matches everything except the listed actions.
[RES]   "IAM JSON policy elements: Resource" / "NotResource": ARNs, wildcards * and ? within each
        colon-separated segment, case-sensitive.
[PRIN]  "AWS JSON policy elements: Principal": "*" and {"AWS": "*"} are everyone (anonymous included);
        an account id and arn:aws:iam::<id>:root stand for the whole account; NotPrincipal.
[MULTI] "Creating a condition with multiple context keys or values": AND across operators and keys,
        OR across a key's values; negated operators NOR across values.
[OPS]   "IAM JSON policy elements: Condition operators": String* (StringEquals case-sensitive,
        ...IgnoreCase, StringLike wildcards), Numeric*, Date* (ISO 8601 or epoch), Bool, IpAddress /
        NotIpAddress (CIDR), Arn*; "...IfExists"; "Condition operator to check existence of condition
        keys" (Null); a missing key makes the condition false except for negated operators.
[SET]   "Set operators for multivalued context keys": ForAnyValue (false on an empty/missing key),
        ForAllValues (true on an empty/missing key).
[S3PUB] S3 User Guide, "Blocking public access to your Amazon S3 storage: The meaning of 'public'".
"""

from __future__ import annotations

from typing import Any

import pytest

from collectors.aws import iam_eval
from collectors.aws.iam_eval import Decision, Principal, Request

ANYONE = Principal.anonymous()
ALICE = Principal.aws("arn:aws:iam::111122223333:user/alice")
OUTSIDER = Principal.aws("arn:aws:iam::999999999999:role/x")
BUCKET = "arn:aws:s3:::b"
OBJECT = "arn:aws:s3:::b/k"


def allow(**extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        **extra,
    }


def deny(**extra: Any) -> dict[str, Any]:
    return {**allow(**extra), "Effect": "Deny"}


def req(
    action: str = "s3:GetObject",
    resource: str = OBJECT,
    principal: Any = ALICE,
    **context: Any,
) -> Request:
    return Request(principal, action, resource, {k.replace("__", ":"): v for k, v in context.items()})


A, D, N = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY

CASES: list[tuple[str, list[dict[str, Any]], Request, Decision]] = [
    # [EVAL]
    ("no statement is an implicit deny", [], req(), N),
    ("an allow allows", [allow()], req(), A),
    ("explicit deny overrides allow", [allow(), deny()], req(), D),
    ("a single statement object, not a list", allow(), req(), A),  # type: ignore[list-item]
    # [ACT]
    ("action wildcard", [allow(Action="s3:Get*")], req("s3:GetObjectAcl"), A),
    ("action wildcard does not reach other verbs", [allow(Action="s3:Get*")], req("s3:PutObject"), N),
    ("action names are case-insensitive", [allow(Action="S3:getobject")], req("s3:GetObject"), A),
    ("? matches one character", [allow(Action="s3:?etObject")], req("s3:GetObject"), A),
    ("action list", [allow(Action=["s3:PutObject", "s3:GetObject"])], req(), A),
    ("* is every action", [allow(Action="*")], req("kms:Decrypt"), A),
    ("NotAction: everything but", [deny(NotAction="s3:GetObject", Action=None)], req("s3:PutObject"), D),
    ("NotAction leaves the listed one", [deny(NotAction=["s3:GetObject"], Action=None)], req(), N),
    # [RES]
    ("resource wildcard on objects", [allow(Resource=f"{BUCKET}/*")], req(), A),
    ("object wildcard does not cover the bucket", [allow(Resource=f"{BUCKET}/*")], req(resource=BUCKET), N),
    ("resource ARNs are case-sensitive", [allow(Resource="arn:aws:s3:::B/*")], req(), N),
    ("NotResource", [deny(NotResource=f"{BUCKET}/public/*", Resource=None)], req(), D),
    ("NotResource spares the listed", [deny(NotResource=f"{BUCKET}/*", Resource=None)], req(), N),
    ("* is every resource", [allow(Resource="*")], req(resource="arn:aws:s3:::other/x"), A),
    # [PRIN]
    ('"*" is anyone, anonymous included', [allow()], req(principal=ANYONE), A),
    ('{"AWS": "*"} is anyone, anonymous included', [allow(Principal={"AWS": "*"})], req(principal=ANYONE), A),
    ("an account id is every principal of it", [allow(Principal={"AWS": "111122223333"})], req(), A),
    (
        "a root ARN is the whole account",
        [allow(Principal={"AWS": "arn:aws:iam::111122223333:root"})],
        req(),
        A,
    ),
    ("another account is not", [allow(Principal={"AWS": "111122223333"})], req(principal=OUTSIDER), N),
    ("a principal list", [allow(Principal={"AWS": ["222233334444", ALICE.arn]})], req(), A),
    ("a named principal excludes anonymous", [allow(Principal={"AWS": ALICE.arn})], req(principal=ANYONE), N),
    ("a service principal", [allow(Principal={"Service": "logs.amazonaws.com"})], req(), N),
    (
        "NotPrincipal: all but the named",
        [deny(NotPrincipal={"AWS": ALICE.arn}, Principal=None)],
        req(principal=OUTSIDER),
        D,
    ),
    ("NotPrincipal spares the named", [deny(NotPrincipal={"AWS": ALICE.arn}, Principal=None)], req(), N),
    # [OPS] Bool: scalar, real boolean, and a list
    (
        "Bool string",
        [deny(Condition={"Bool": {"aws:SecureTransport": "false"}})],
        req(aws__SecureTransport="false"),
        D,
    ),
    (
        "Bool JSON boolean",
        [deny(Condition={"Bool": {"aws:SecureTransport": False}})],
        req(aws__SecureTransport="false"),
        D,
    ),
    (
        "Bool written as a list",
        [deny(Condition={"Bool": {"aws:SecureTransport": ["false"]}})],
        req(aws__SecureTransport="false"),
        D,
    ),
    (
        "Bool is case-insensitive",
        [deny(Condition={"Bool": {"aws:SecureTransport": "FALSE"}})],
        req(aws__SecureTransport="false"),
        D,
    ),
    (
        "Bool does not match the other value",
        [deny(Condition={"Bool": {"aws:SecureTransport": "false"}})],
        req(aws__SecureTransport="true"),
        N,
    ),
    (
        "condition key names are case-insensitive",
        [deny(Condition={"Bool": {"AWS:securetransport": "false"}})],
        req(aws__SecureTransport="false"),
        D,
    ),
    (
        "missing key: positive operator is false",
        [deny(Condition={"Bool": {"aws:SecureTransport": "false"}})],
        req(),
        N,
    ),
    (
        "IfExists: a missing key matches",
        [deny(Condition={"BoolIfExists": {"aws:SecureTransport": "false"}})],
        req(),
        D,
    ),
    (
        "IfExists: a present key is compared",
        [deny(Condition={"BoolIfExists": {"aws:SecureTransport": "false"}})],
        req(aws__SecureTransport="true"),
        N,
    ),
    # [OPS] String*
    (
        "StringEquals is case-sensitive",
        [allow(Condition={"StringEquals": {"s3:prefix": "Home"}})],
        req(s3__prefix="home"),
        N,
    ),
    (
        "StringEqualsIgnoreCase",
        [allow(Condition={"StringEqualsIgnoreCase": {"s3:prefix": "Home"}})],
        req(s3__prefix="home"),
        A,
    ),
    (
        "StringLike wildcard",
        [allow(Condition={"StringLike": {"s3:prefix": "home/*"}})],
        req(s3__prefix="home/a/b"),
        A,
    ),
    (
        "StringLike is case-sensitive",
        [allow(Condition={"StringLike": {"s3:prefix": "home/*"}})],
        req(s3__prefix="HOME/a"),
        N,
    ),
    (
        "[MULTI] values of one key: OR",
        [allow(Condition={"StringEquals": {"aws:PrincipalAccount": ["1", "111122223333"]}})],
        req(aws__PrincipalAccount="111122223333"),
        A,
    ),
    (
        "[MULTI] negated: NOR over values",
        [deny(Condition={"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}})],
        req(aws__SourceVpce="vpce-2"),
        N,
    ),
    (
        "[MULTI] negated: none matches",
        [deny(Condition={"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}})],
        req(aws__SourceVpce="vpce-3"),
        D,
    ),
    (
        "missing key: negated operator matches",
        [deny(Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1"}})],
        req(),
        D,
    ),
    (
        "[MULTI] AND across operators",
        [
            deny(
                Condition={
                    "Bool": {"aws:SecureTransport": "false"},
                    "StringEquals": {"aws:PrincipalAccount": "1"},
                }
            )
        ],
        req(aws__SecureTransport="false", aws__PrincipalAccount="2"),
        N,
    ),
    (
        "[MULTI] AND across keys",
        [allow(Condition={"StringEquals": {"aws:PrincipalAccount": "1", "aws:SourceVpce": "v"}})],
        req(aws__PrincipalAccount="1"),
        N,
    ),
    # [OPS] Numeric / Date
    (
        "NumericLessThan",
        [allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})],
        req(**{"s3__max-keys": "5"}),
        A,
    ),
    (
        "NumericLessThan on the boundary",
        [allow(Condition={"NumericLessThan": {"s3:max-keys": "10"}})],
        req(**{"s3__max-keys": "10"}),
        N,
    ),
    (
        "NumericGreaterThanEquals",
        [allow(Condition={"NumericGreaterThanEquals": {"s3:max-keys": 10}})],
        req(**{"s3__max-keys": "10"}),
        A,
    ),
    (
        "a non-number never matches",
        [allow(Condition={"NumericEquals": {"s3:max-keys": "10"}})],
        req(**{"s3__max-keys": "ten"}),
        N,
    ),
    (
        "DateLessThan ISO 8601",
        [allow(Condition={"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}})],
        req(aws__CurrentTime="2025-06-01T12:00:00Z"),
        A,
    ),
    (
        "DateGreaterThan epoch",
        [allow(Condition={"DateGreaterThan": {"aws:EpochTime": "1700000000"}})],
        req(aws__EpochTime="1800000000"),
        A,
    ),
    # [OPS] IpAddress
    (
        "IpAddress in the CIDR",
        [allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})],
        req(aws__SourceIp="203.0.113.9"),
        A,
    ),
    (
        "IpAddress outside",
        [allow(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})],
        req(aws__SourceIp="198.51.100.1"),
        N,
    ),
    (
        "NotIpAddress",
        [deny(Condition={"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}})],
        req(aws__SourceIp="198.51.100.1"),
        D,
    ),
    (
        "NotIpAddress IPv6 inside",
        [deny(Condition={"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}})],
        req(aws__SourceIp="2001:db8::1"),
        N,
    ),
    # [OPS] Arn*
    (
        "ArnLike per segment",
        [allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}})],
        req(aws__SourceArn="arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"),
        A,
    ),
    (
        "ArnLike: a wildcard does not cross a segment",
        [allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}})],
        req(aws__SourceArn="arn:aws:cloudtrail:eu-west-1:999999999999:trail/main"),
        N,
    ),
    (
        "ArnNotEquals",
        [deny(Condition={"ArnNotEquals": {"aws:PrincipalArn": ALICE.arn}})],
        req(aws__PrincipalArn=ALICE.arn),
        N,
    ),
    # [OPS] Null
    (
        "Null true: key absent",
        [deny(Condition={"Null": {"s3:x-amz-server-side-encryption": "true"}})],
        req("s3:PutObject"),
        D,
    ),
    (
        "Null true: key present",
        [deny(Condition={"Null": {"s3:x-amz-server-side-encryption": True}})],
        req("s3:PutObject", **{"s3__x-amz-server-side-encryption": "AES256"}),
        N,
    ),
    (
        "Null false: key present",
        [allow(Condition={"Null": {"aws:MultiFactorAuthAge": "false"}})],
        req(aws__MultiFactorAuthAge="30"),
        A,
    ),
    # [SET]
    (
        "ForAnyValue: one matches",
        [allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}})],
        req(aws__TagKeys=["z", "b"]),
        A,
    ),
    (
        "ForAnyValue: missing key is false",
        [allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}})],
        req(),
        N,
    ),
    (
        "ForAllValues: all in the set",
        [allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})],
        req(aws__TagKeys=["a", "b"]),
        A,
    ),
    (
        "ForAllValues: one outside",
        [allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}})],
        req(aws__TagKeys=["a", "c"]),
        N,
    ),
    (
        "ForAllValues: missing key is true",
        [allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}})],
        req(),
        A,
    ),
    (
        "ForAnyValue:StringLike",
        [allow(Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "env*"}})],
        req(aws__TagKeys=["envname"]),
        A,
    ),
]


def _clean(statement: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in statement.items() if v is not None}


@pytest.mark.parametrize(("rule", "statements", "request_", "expected"), CASES, ids=[c[0] for c in CASES])
def test_documented_evaluation_rules(
    rule: str, statements: Any, request_: Request, expected: Decision
) -> None:
    policy: dict[str, Any]
    if isinstance(statements, dict):
        policy = {"Version": "2012-10-17", "Statement": _clean(statements)}
    else:
        policy = {"Version": "2012-10-17", "Statement": [_clean(s) for s in statements]}
    assert iam_eval.evaluate(policy, request_) is expected, rule


@pytest.mark.parametrize(
    "condition",
    [{"StringSortOf": {"k": "v"}}, {"Sometimes:StringEquals": {"k": "v"}}, "not an object"],
)
def test_what_it_cannot_evaluate_is_an_error_not_a_guess(condition: Any) -> None:
    with pytest.raises(iam_eval.PolicyError):
        iam_eval.evaluate({"Statement": [allow(Condition=condition)]}, req())


def test_a_statement_without_resource_matches_nothing() -> None:
    # [RES]: a statement must name Resource or NotResource; without either it grants nothing here.
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*"}]}
    assert iam_eval.evaluate(policy, req()) is N


PUBLIC_CASES: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    ("read to everyone", [allow(Sid="Read", Action="s3:GetObject")], ["Read"]),
    ('{"AWS": "*"} is public', [allow(Sid="Read", Principal={"AWS": ["*"]})], ["Read"]),
    (
        "NotPrincipal Allow is public",
        [allow(Sid="All", Principal=None, NotPrincipal={"AWS": ALICE.arn})],
        ["All"],
    ),
    ("a fixed principal is not public", [allow(Principal={"AWS": ALICE.arn})], []),
    (
        "a fixed aws:SourceVpce is not public",
        [allow(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}})],
        [],
    ),
    (
        "a wildcard aws:SourceVpce is",
        [allow(Sid="W", Condition={"StringLike": {"aws:SourceVpce": "vpce-*"}})],
        ["W"],
    ),
    (
        "a negated fixing key is public",
        [allow(Sid="N", Condition={"StringNotEquals": {"aws:SourceAccount": "1"}})],
        ["N"],
    ),
    (
        "IfExists does not fix",
        [allow(Sid="I", Condition={"StringEqualsIfExists": {"aws:SourceAccount": "1"}})],
        ["I"],
    ),
    ("a CIDR set is not public", [allow(Condition={"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}})], []),
    (
        "0.0.0.0/0 limits nothing",
        [allow(Sid="All", Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})],
        ["All"],
    ),
    (
        "an unrelated condition does not fix",
        [allow(Sid="T", Condition={"Bool": {"aws:SecureTransport": "true"}})],
        ["T"],
    ),
    ("a Deny of everything takes it back", [allow(Sid="R"), deny(Action="*", Resource="*")], []),
    (
        "a Deny of other actions does not",
        [allow(Sid="R", Action="s3:GetObject"), deny(Action="s3:Put*")],
        ["R"],
    ),
    ("another bucket's grant is not this bucket's", [allow(Sid="O", Resource="arn:aws:s3:::other/*")], []),
    ("a grant on a prefix of this bucket is", [allow(Sid="P", Resource=f"{BUCKET}/public/*")], ["P"]),
    ("a Deny statement is never a grant", [deny()], []),
]


@pytest.mark.parametrize(("case", "statements", "public"), PUBLIC_CASES, ids=[c[0] for c in PUBLIC_CASES])
def test_public_statements_follow_s3s_meaning_of_public(
    case: str, statements: list[dict[str, Any]], public: list[str]
) -> None:
    policy = {"Statement": [_clean(s) for s in statements]}
    resources = [BUCKET, f"{BUCKET}/any", *sorted(iam_eval.named_resources(policy, (BUCKET + "/", BUCKET)))]
    assert iam_eval.public_statements(policy, "s3", resources, ["s3:GetObject", "s3:ListBucket"]) == public, (
        case
    )


@pytest.mark.parametrize(
    "policy_statements",
    [
        [deny(Condition={"Bool": {"aws:SecureTransport": "false"}})],
        [deny(Action="s3:Get*", Condition={"Bool": {"aws:SecureTransport": ["false"]}})],
        [deny(Condition={"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}), allow()],
        [_clean(deny(NotPrincipal={"AWS": ALICE.arn}, Principal=None, Resource=f"{BUCKET}/*"))],
        [_clean(deny(NotAction="s3:GetObject", Action=None))],
    ],
)
def test_undenied_agrees_with_evaluate(policy_statements: list[dict[str, Any]]) -> None:
    policy = {"Statement": policy_statements}
    principals = [ANYONE, ALICE, OUTSIDER]
    actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
    resources = [BUCKET, OBJECT]
    context = {"aws:SecureTransport": "false"}
    brute = [
        iam_eval.Probe(p, a, r)
        for p in principals
        for a in actions
        for r in resources
        if iam_eval.evaluate(policy, Request(p, a, r, {**context, **iam_eval.principal_keys(p)}))
        is not Decision.EXPLICIT_DENY
    ]
    assert iam_eval.undenied(policy, principals, actions, resources, context) == brute
