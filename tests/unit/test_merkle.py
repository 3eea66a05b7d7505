"""Tests for evidence.merkle against the Certificate Transparency vectors and an RFC reference model."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.errors import VerificationError
from evidence.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Test vectors -----------------------------------------------------------------------------------
# From the Certificate Transparency reference implementation, transparency-dev/merkle (formerly
# google/trillian merkle/): leaf inputs and roots from testonly/constants.go (LeafInputs, RootHashes,
# NodeHashes, CompactTrees), inclusion and consistency proofs from proof/verify_test.go. Their
# inclusion vectors use 1-based leaf numbers; the indexes below are 0-based.

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAF_HASHES = [leaf_hash(data) for data in LEAF_INPUTS]

ROOTS = {  # tree size -> root
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

# NodeHashes()[0]: the leaf hashes themselves.
LEAF_HASH_VECTORS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]

INCLUSION_VECTORS = [  # (index, size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CONSISTENCY_VECTORS = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# CompactTrees(): the frontier after each size, as NodeHashes coordinates (level, index).
COMPACT_TREES = {
    0: [],
    1: [(0, 0)],
    2: [(1, 0)],
    3: [(1, 0), (0, 2)],
    4: [(2, 0)],
    5: [(2, 0), (0, 4)],
    6: [(2, 0), (1, 2)],
    7: [(2, 0), (1, 2), (0, 6)],
    8: [(3, 0)],
}


def _hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# --- Reference model: the RFC's recursive definitions, verbatim and slow ------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def random_leaves(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


def flip(value: bytes, byte: int, bit: int = 0) -> bytes:
    changed = bytearray(value)
    changed[byte % len(changed)] ^= 1 << bit
    return bytes(changed)


# --- Vectors ---------------------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert root_from_leaf_hashes([]) == (0, EMPTY_ROOT)
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_hashes_match_vectors() -> None:
    assert _hexes(LEAF_HASHES) == LEAF_HASH_VECTORS


@pytest.mark.parametrize("size", range(0, 9))
def test_roots_match_vectors(size: int) -> None:
    assert root_from_leaf_hashes(iter(LEAF_HASHES[:size])) == (size, bytes.fromhex(ROOTS[size]))
    compact = CompactRange()
    for h in LEAF_HASHES[:size]:
        compact.append(h)
    assert compact.size == size
    assert compact.root().hex() == ROOTS[size]


@pytest.mark.parametrize("size", range(0, 9))
def test_compact_range_matches_vectors(size: int) -> None:
    levels: list[list[bytes]] = [LEAF_HASHES]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below), 2)])
    compact = CompactRange()
    compact.extend(LEAF_HASHES[:size])
    assert compact.to_list() == [levels[level][index] for level, index in COMPACT_TREES[size]]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    assert _hexes(inclusion_proof(index, LEAF_HASHES[:size])) == proof
    verify_inclusion(
        index, size, LEAF_HASHES[index], [bytes.fromhex(p) for p in proof], bytes.fromhex(ROOTS[size])
    )


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    assert _hexes(consistency_proof(old, new, LEAF_HASHES)) == proof
    verify_consistency(
        old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), [bytes.fromhex(p) for p in proof]
    )


# --- Corruptions, after transparency-dev/merkle proof/verify_test.go's probes ------------------------


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION_VECTORS if v[2]])
def test_inclusion_vector_corruptions_fail(index: int, size: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(p) for p in proof]
    root = bytes.fromhex(ROOTS[size])
    leaf = LEAF_HASHES[index]
    some_hash = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, leaf, hashes, root),
        (index + 1, size, leaf, hashes, root),
        (index ^ 2, size, leaf, hashes, root),
        (index, size * 2, leaf, hashes, root),
        (index, size // 2, leaf, hashes, root),
        (index, size, b"WrongLeaf", hashes, root),
        (index, size, leaf, hashes, EMPTY_ROOT),
        (index, size, leaf, hashes, some_hash),
        (index, size, leaf, [*hashes, b""], root),
        (index, size, leaf, [*hashes, root], root),
        (index, size, leaf, [b"", *hashes], root),
        (index, size, leaf, [root, *hashes], root),
        (index, size, leaf, hashes[:-1], root),
        (index, size, leaf, [hashes[0], some_hash, *hashes[1:]], root),
    ]
    probes += [
        (index, size, leaf, [*hashes[:i], flip(hashes[i], 0, 3), *hashes[i + 1 :]], root)
        for i in range(len(hashes))
    ]
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_consistency_vector_corruptions_fail(old: int, new: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(p) for p in proof]
    r1, r2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    probes = [
        (old - 1, new, r1, r2, hashes),
        (old + 1, new, r1, r2, hashes),
        (old ^ 2, new, r1, r2, hashes),
        (old, new * 2, r1, r2, hashes),
        (old, new // 2, r1, r2, hashes),
        (old, new, b"WrongRoot", r2, hashes),
        (old, new, r1, b"WrongRoot", hashes),
        (old, new, r2, r1, hashes),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*hashes, b""]),
        (old, new, r1, r2, [*hashes, r1]),
        (old, new, r1, r2, [*hashes, r2]),
        (old, new, r1, r2, [b"", *hashes]),
        (old, new, r1, r2, [r1, *hashes]),
        (old, new, r1, r2, [r2, *hashes]),
        (old, new, r1, r2, [hashes[0], *hashes]),
        (old, new, r1, r2, hashes[:-1]),
    ]
    probes += [
        (old, new, r1, r2, [*hashes[:i], flip(hashes[i], 0, 4), *hashes[i + 1 :]]) for i in range(len(hashes))
    ]
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_consistency(*probe)


def test_trivial_consistency_cases() -> None:
    root = bytes.fromhex(ROOTS[3])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 3, EMPTY_ROOT, root, [])
    verify_consistency(3, 3, root, root, [])
    with pytest.raises(VerificationError, match="same size, different roots"):
        verify_consistency(3, 3, root, EMPTY_ROOT, [])
    with pytest.raises(VerificationError, match="expected an empty proof"):
        verify_consistency(3, 3, root, root, [EMPTY_ROOT])
    with pytest.raises(VerificationError, match="expected an empty proof"):
        verify_consistency(0, 3, EMPTY_ROOT, root, [EMPTY_ROOT])
    with pytest.raises(VerificationError, match="not the empty tree's root"):
        verify_consistency(0, 3, root, root, [])
    with pytest.raises(VerificationError, match="smaller"):
        verify_consistency(4, 3, root, root, [])


def test_inclusion_rejects_bad_index_and_hash_sizes() -> None:
    some = LEAF_HASHES[0]
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1)]:
        with pytest.raises(VerificationError, match="outside the tree"):
            verify_inclusion(index, size, some, [], some)
    with pytest.raises(VerificationError, match="leaf hash is 0 bytes"):
        verify_inclusion(0, 1, b"", [], some)
    with pytest.raises(VerificationError, match="root is 0 bytes"):
        verify_inclusion(0, 1, some, [], b"")
    verify_inclusion(0, 1, some, [], some)  # a one-leaf tree's root is its leaf hash


def test_error_messages_name_the_leaf_and_tree() -> None:
    proof = inclusion_proof(5, LEAF_HASHES)
    with pytest.raises(VerificationError, match=r"leaf 5 in tree of size 8 does not match the root"):
        verify_inclusion(5, 8, LEAF_HASHES[4], proof, bytes.fromhex(ROOTS[8]))
    with pytest.raises(VerificationError, match=r"leaf 5 in tree of size 8 is too short"):
        verify_inclusion(5, 8, LEAF_HASHES[5], proof[:-1], bytes.fromhex(ROOTS[8]))


def test_generators_reject_out_of_range_arguments() -> None:
    with pytest.raises(ValueError, match="outside a tree of 8"):
        inclusion_proof(8, LEAF_HASHES)
    with pytest.raises(ValueError, match="cannot prove"):
        consistency_proof(5, 9, LEAF_HASHES)
    with pytest.raises(ValueError, match="cannot prove"):
        consistency_proof(6, 5, LEAF_HASHES)
    with pytest.raises(ValueError, match="outside a tree"):
        subtree_hash(LEAF_HASHES, 3, 9)


# --- CompactRange persistence and input checks --------------------------------------------------------


def test_compact_range_round_trips_and_extends() -> None:
    leaves = random_leaves(1000)
    compact = CompactRange()
    compact.extend(leaves[:613])
    restored = CompactRange.from_list(compact.size, compact.to_list())
    restored.extend(iter(leaves[613:]))
    assert restored.size == 1000
    assert restored.root() == ref_mth(leaves)


def test_compact_range_refuses_inconsistent_frontier() -> None:
    with pytest.raises(ValueError, match="3 frontier hashes, got 2"):
        CompactRange.from_list(7, [EMPTY_ROOT, EMPTY_ROOT])
    with pytest.raises(ValueError, match="expected 32"):
        CompactRange.from_list(1, [b"short"])
    with pytest.raises(ValueError, match="negative"):
        CompactRange.from_list(-1, [])


def test_leaf_hashes_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="index 0"):
        CompactRange().append(b"abc")
    with pytest.raises(ValueError, match="index 2"):
        root_from_leaf_hashes([EMPTY_ROOT, EMPTY_ROOT, b"abc"])
    # The chunked fast path checks too.
    big = [EMPTY_ROOT] * 3000
    big[2500] = b"x" * 31
    with pytest.raises(ValueError, match="index 2500"):
        root_from_leaf_hashes(big)


def test_streaming_root_across_chunk_boundaries() -> None:
    # Sizes around the internal chunk size (1024) and its multiples exercise the aligned fast path,
    # the per-leaf tail, and extending an unaligned frontier.
    leaves = random_leaves(4100)
    for size in (1023, 1024, 1025, 2048, 3071, 4100):
        assert root_from_leaf_hashes(iter(leaves[:size])) == (size, ref_mth(leaves[:size]))
    compact = CompactRange()
    compact.extend(leaves[:5])
    compact.extend(leaves[5:4100])
    assert compact.root() == ref_mth(leaves)


# --- Exhaustive small trees and properties ------------------------------------------------------------


def test_all_proofs_for_small_trees_match_reference_and_verify() -> None:
    leaves = random_leaves(33)
    roots = [ref_mth(leaves[:n]) for n in range(len(leaves) + 1)]
    for n in range(1, len(leaves) + 1):
        for m in range(n):
            proof = inclusion_proof(m, leaves[:n])
            assert proof == ref_path(m, leaves[:n])
            verify_inclusion(m, n, leaves[m], proof, roots[n])
        for m in range(0, n + 1):
            proof = consistency_proof(m, n, leaves)
            assert proof == ([] if m in (0, n) else ref_subproof(m, leaves[:n], True))
            verify_consistency(m, n, roots[m], roots[n], proof)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=0, max_value=300), split=st.integers(min_value=0, max_value=300))
def test_streaming_compact_and_reference_roots_agree(size: int, split: int) -> None:
    leaves = random_leaves(size)
    expected = ref_mth(leaves)
    assert root_from_leaf_hashes(iter(leaves)) == (size, expected)
    compact = CompactRange()
    for h in leaves[: min(split, size)]:
        compact.append(h)
    restored = CompactRange.from_list(compact.size, compact.to_list())
    restored.extend(leaves[min(split, size) :])
    assert (restored.size, restored.root()) == (size, expected)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=300))
def test_inclusion_proofs_verify_and_any_flip_fails(data: st.DataObject, size: int) -> None:
    leaves = random_leaves(size)
    root = root_from_leaf_hashes(leaves)[1]
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, leaves)
    verify_inclusion(index, size, leaves[index], proof, root)

    byte = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, leaves[index], proof, flip(root, byte, bit))
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, flip(leaves[index], byte, bit), proof, root)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="proof element")
        tampered = [*proof[:which], flip(proof[which], byte, bit), *proof[which + 1 :]]
        with pytest.raises(VerificationError):
            verify_inclusion(index, size, leaves[index], tampered, root)
    if size > 1:
        other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
        with pytest.raises(VerificationError):
            verify_inclusion(other, size, leaves[index], proof, root)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), new_size=st.integers(min_value=1, max_value=300))
def test_consistency_proofs_verify_and_any_flip_fails(data: st.DataObject, new_size: int) -> None:
    leaves = random_leaves(new_size)
    old_size = data.draw(st.integers(min_value=0, max_value=new_size), label="old_size")
    old_root = root_from_leaf_hashes(leaves[:old_size])[1]
    new_root = root_from_leaf_hashes(leaves)[1]
    proof = consistency_proof(old_size, new_size, leaves)
    verify_consistency(old_size, new_size, old_root, new_root, proof)

    byte = data.draw(st.integers(min_value=0, max_value=31), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    if old_size > 0:
        # Every tree extends the empty tree, so only a non-empty old tree constrains the new root.
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, flip(new_root, byte, bit), proof)
    if old_size > 0 and proof:
        # With an empty proof (old == new, or old == 0) the old root is checked directly, below.
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, flip(old_root, byte, bit), new_root, proof)
    if old_size in (0, new_size):
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, flip(old_root, byte, bit), new_root, proof)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="proof element")
        tampered = [*proof[:which], flip(proof[which], byte, bit), *proof[which + 1 :]]
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, new_root, tampered)
    # A history rewrite: change one of the old leaves, and the old root no longer matches the proof.
    if 0 < old_size < new_size:
        changed = data.draw(st.integers(min_value=0, max_value=old_size - 1), label="rewritten leaf")
        forged = [*leaves[:changed], flip(leaves[changed], byte, bit), *leaves[changed + 1 :]]
        with pytest.raises(VerificationError):
            verify_consistency(
                old_size, new_size, root_from_leaf_hashes(forged[:old_size])[1], new_root, proof
            )


def test_proof_generation_is_not_quadratic() -> None:
    # Every proof for 4096 leaves costs O(n) hashing: counting the leaves the proof touches keeps this a
    # behavioural check, not a timing one.
    class CountingLeaves(list[bytes]):
        touched = 0

        def __getitem__(self, item):  # type: ignore[no-untyped-def]
            result = super().__getitem__(item)
            if isinstance(item, slice):
                CountingLeaves.touched += len(result)
            return result

    leaves = CountingLeaves(random_leaves(4096 + 17))
    inclusion_proof(1234, leaves)
    assert CountingLeaves.touched < len(leaves)
    CountingLeaves.touched = 0
    consistency_proof(1000, len(leaves), leaves)
    assert CountingLeaves.touched < 2 * len(leaves)


def test_proof_from_a_stored_frontier_and_the_new_leaves_only() -> None:
    """What the store does for witnesses: old-side nodes from the old compact range, new-side nodes
    from the leaves appended since; equal to the proof over all leaves."""
    from evidence.merkle import compact_range_nodes, consistency_proof_ranges, subtree_hash

    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(70)]
    for old in range(1, 70):
        compact = CompactRange()
        compact.extend(leaves[:old])
        frontier = dict(zip(compact_range_nodes(old), compact.to_list(), strict=True))
        assert [subtree_hash(leaves, a, b) for a, b in frontier] == compact.to_list()
        for new in range(old, 70):
            proof = []
            for start, end in consistency_proof_ranges(old, new):
                assert end <= old or start >= old, (old, new, start, end)
                proof.append(frontier[(start, end)] if end <= old else subtree_hash(leaves, start, end))
            assert proof == consistency_proof(old, new, leaves)
