"""Pure parts of evidence.bundle: the on-disk Merkle levels, the OSCAL check, the CLI's period bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer

from evidence import merkle
from evidence.bundle import TreeLevels, _InclusionChecker, validate_oscal
from evidence.cli_bundle import parse_bound
from evidence.errors import VerificationError


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 31, 64, 65, 100, 257])
def test_tree_levels_match_rfc9162_proofs(size: int) -> None:
    leaves = _leaves(size)
    tree = TreeLevels(iter(leaves), size)
    try:
        assert tree.root() == merkle.root_from_leaf_hashes(leaves)[1]
        for index in range(size):
            path = tree.inclusion_proof(index)
            assert path == merkle.inclusion_proof(index, leaves)
            merkle.verify_inclusion(index, size, leaves[index], path, tree.root())
    finally:
        tree.close()


def test_tree_levels_large_tree_spans_read_blocks() -> None:
    size = 5000  # several 128-node cache blocks and parent-read chunks per level
    leaves = _leaves(size)
    tree = TreeLevels(iter(leaves), size)
    try:
        root = merkle.root_from_leaf_hashes(leaves)[1]
        assert tree.root() == root
        for index in (0, 127, 128, 2047, 2048, 4095, 4096, 4999):
            merkle.verify_inclusion(index, size, leaves[index], tree.inclusion_proof(index), root)
    finally:
        tree.close()


@pytest.mark.parametrize("size", [1, 2, 5, 64, 65, 100])
def test_incremental_inclusion_check_agrees_with_the_full_check(size: int) -> None:
    """verify-bundle's one-pass check accepts what merkle.verify_inclusion accepts and refuses, with
    the same message, what it refuses, including a proof that differs from a just-accepted neighbour
    only in its upper (shared) hashes."""
    leaves = _leaves(size)
    root = merkle.root_from_leaf_hashes(leaves)[1]
    checker = _InclusionChecker()
    for index in range(size):
        proof = merkle.inclusion_proof(index, leaves)
        checker.verify(index, size, leaves[index], proof, root)
        bad_proofs = [proof[:-1], [*proof, proof[-1] if proof else root], [b"\x00" * 31, *proof[1:]]]
        for at in range(len(proof)):
            bad_proofs.append([*proof[:at], bytes(32), *proof[at + 1 :]])
        for bad in bad_proofs:
            if not bad and size == 1:
                continue  # the empty proof is the right one for a single leaf
            with pytest.raises(VerificationError) as full:
                merkle.verify_inclusion(index, size, leaves[index], bad, root)
            with pytest.raises(VerificationError) as fast:
                checker.verify(index, size, leaves[index], bad, root)
            assert str(fast.value) == str(full.value)
        other = leaves[(index + 1) % size]
        if other != leaves[index]:
            with pytest.raises(VerificationError, match="does not match the root"):
                checker.verify(index, size, other, proof, root)
        with pytest.raises(VerificationError, match="does not match the root"):
            checker.verify(index, size, leaves[index], proof, bytes(32))
        with pytest.raises(VerificationError, match="outside the tree"):
            checker.verify(size, size, leaves[index], proof, root)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 9, 65, 100, 300])
def test_inclusion_proof_json_matches_the_proof_in_any_order(size: int) -> None:
    """The rendered proof (kept per level between neighbouring leaves) is the JSON of the RFC 9162
    proof whatever order the leaves are asked in: ascending (an export), with gaps (a period or a
    framework's subset), backwards and at random."""
    import random

    leaves = _leaves(size)
    tree = TreeLevels(iter(leaves), size)
    rng = random.Random(size)
    orders = [
        list(range(size)),
        list(range(0, size, 3)) + list(range(1, size, 7)),
        list(range(size - 1, -1, -1)),
        [rng.randrange(size) for _ in range(2 * size)],
    ]
    try:
        for order in orders:
            for index in order:
                expected = [h.hex() for h in merkle.inclusion_proof(index, leaves)]
                assert json.loads(b"[" + tree.inclusion_proof_json(index) + b"]") == expected
        with pytest.raises(ValueError, match="outside a tree"):
            tree.inclusion_proof_json(size)
    finally:
        tree.close()


def test_canonical_check_of_blobs() -> None:
    """A blob is spliced into records.jsonl as JSON only when re-encoding it gives its bytes back
    (what verify-bundle hashes); anything else goes as base64."""
    from evidence.bundle import _is_canonical_json
    from evidence.canonical import canonical_bytes

    def reference(data: bytes) -> bool:  # the definition: re-encoding gives the same bytes
        try:
            return canonical_bytes(json.loads(data)) == data
        except ValueError:
            return False

    value = {"b": [1, 2.5, None, True], "a": '\u00e9t\u00e9 \u2603 "q" \\ \n', "c": {"z": 1e16, "y": -0.0}}
    assert _is_canonical_json(canonical_bytes(value))
    assert _is_canonical_json(b"[]")
    for not_canonical in (
        json.dumps(value).encode(),  # spaces
        b'{"b":1,"a":2}',  # key order
        b'{"a":"\\u00e9"}',  # an escape canonical JSON does not use
        b'{"a":1.0e16}',
        b'{"a":1}\n',
        b'"text"',
        b"{",
        "[1]".encode("utf-16"),
        b'["\xed\xa0\x80"]',  # an encoded surrogate: not UTF-8
        b'["\\ud800"]',  # a lone surrogate escape: cannot be encoded back
    ):
        assert not _is_canonical_json(not_canonical), not_canonical
        assert not reference(not_canonical) or not_canonical[:1] not in b"{[", not_canonical


def test_tree_levels_refuse_a_short_log() -> None:
    from evidence.errors import StoreError

    with pytest.raises(StoreError, match="holds 3 leaves below its signed tree head of size 4"):
        TreeLevels(iter(_leaves(3)), 4)


def _minimal_oscal(**changes: object) -> bytes:
    document = {
        "assessment-results": {
            "uuid": "5b1f8f4e-1f3a-5c2d-9e4b-0a1b2c3d4e5f",
            "metadata": {
                "title": "t",
                "last-modified": "2026-01-01T00:00:00Z",
                "version": "1",
                "oscal-version": "1.2.1",
            },
            "import-ap": {"href": "#x"},
            "results": [
                {
                    "uuid": "5b1f8f4e-1f3a-5c2d-9e4b-0a1b2c3d4e60",
                    "title": "r",
                    "description": "d",
                    "start": "2026-01-01T00:00:00Z",
                    "reviewed-controls": {
                        "control-selections": [{"include-controls": [{"control-id": "C-1"}]}]
                    },
                }
            ],
        }
    }
    document["assessment-results"].update(changes)
    return json.dumps(document).encode()


def test_oscal_check_accepts_a_valid_document() -> None:
    validate_oscal(_minimal_oscal())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"results": []}, "results"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_oscal_check_names_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        validate_oscal(_minimal_oscal(**changes))


def test_oscal_check_refuses_another_version() -> None:
    data = json.loads(_minimal_oscal())
    data["assessment-results"]["metadata"]["oscal-version"] = "1.0.0"
    with pytest.raises(VerificationError, match=r"oscal-version|OSCAL version"):
        validate_oscal(json.dumps(data).encode())


def test_period_bounds() -> None:
    assert parse_bound("2026-03-31", "--to", end=True) == datetime(2026, 4, 1, tzinfo=UTC)
    assert parse_bound("2026-03-31", "--from", end=False) == datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_bound("2026-03-31T10:00:00Z", "--to", end=True) == datetime(2026, 3, 31, 10, tzinfo=UTC)
    assert parse_bound(None, "--to", end=True) is None
    with pytest.raises(typer.BadParameter, match="not an ISO 8601"):
        parse_bound("yesterday", "--from", end=False)
