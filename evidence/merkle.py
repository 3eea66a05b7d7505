"""RFC 9162 (Certificate Transparency v2, the successor of RFC 6962) Merkle tree algorithms.

Pure functions over 32-byte SHA-256 hashes; no I/O. The store hands us leaf hashes (streamed or as a
sequence) and keeps a :class:`CompactRange` so it can extend the tree without re-reading old leaves.

Terms, as in RFC 9162 §2.1.1: ``MTH(D[n])`` is the Merkle tree hash of ``n`` leaves; for ``n > 1`` with
``k`` the largest power of two below ``n``, ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.
Hashes of leaves and inner nodes carry different prefixes (0x00, 0x01) so an inner node can never be
passed off as a leaf (the second-preimage attack the RFC guards against).

Written from the RFC's text; sigstore-python's ``_internal/merkle.py`` was the style model. Proofs are
lists of raw hashes in the RFC's order (bottom-up), so they interoperate with other CT-style logs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from evidence.errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
# Leaves are folded in chunks of this many (a power of two): a perfect subtree is hashed level by level
# with list comprehensions, which is markedly faster in CPython than one Python-level loop per leaf.
_CHUNK_LEVELS = 10
_CHUNK = 1 << _CHUNK_LEVELS


def leaf_hash(data: bytes) -> bytes:
    """``HASH(0x00 || data)``: the hash of one log entry (RFC 9162 §2.1.1)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``HASH(0x01 || left || right)``: the hash of an inner node."""
    return _sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """``k`` with ``k < n <= 2k`` (``n >= 2``): where the RFC splits a tree of ``n`` leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Root of a tree from its compact range (perfect subtrees, largest first)."""
    if not hashes:
        return EMPTY_ROOT
    # MTH(D[n]) = HASH(0x01 || MTH(left perfect subtree) || MTH(rest)): the rest nests to the right.
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = _sha256(b"\x01" + left + root).digest()
    return root


def _perfect_root(level: list[bytes]) -> bytes:
    """Root of a perfect subtree (``len(level)`` is a power of two), one level at a time."""
    sha256 = _sha256
    while len(level) > 1:
        level = [sha256(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=True)]
    return level[0]


def _absorb(stack: list[bytes], size: int, leaf_hashes: Iterable[bytes]) -> int:
    """Append leaves to the compact range ``stack`` of a tree of ``size`` leaves; return the new size.

    ``stack`` holds one perfect-subtree hash per set bit of ``size``, largest first. Appending a subtree
    of ``2**h`` leaves at a position aligned to ``2**h`` merges it with as many stack entries as the
    new size has trailing zero bits above ``h``: the binary-counter picture of a Merkle frontier.
    """
    sha256 = _sha256
    pop = stack.pop
    push = stack.append
    iterator: Iterator[bytes] = iter(leaf_hashes)
    while True:
        chunk = list(islice(iterator, _CHUNK))
        if not chunk:
            return size
        if len(chunk) == _CHUNK and size % _CHUNK == 0:
            # Fast path: a whole aligned perfect subtree, hashed level-wise, then merged as one node.
            if set(map(len, chunk)) != {HASH_SIZE}:
                bad = next(i for i, h in enumerate(chunk) if len(h) != HASH_SIZE)
                raise ValueError(f"leaf hash at index {size + bad} is not {HASH_SIZE} bytes")
            node = _perfect_root(chunk)
            size += _CHUNK
            carry = size >> _CHUNK_LEVELS
            while not carry & 1:
                node = sha256(b"\x01" + pop() + node).digest()
                carry >>= 1
            push(node)
            continue
        for node in chunk:
            if len(node) != HASH_SIZE:
                raise ValueError(f"leaf hash at index {size} is not {HASH_SIZE} bytes")
            size += 1
            carry = size
            while not carry & 1:
                node = sha256(b"\x01" + pop() + node).digest()
                carry >>= 1
            push(node)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> tuple[int, bytes]:
    """``(size, MTH)`` of the leaves, consuming the iterable once in O(log n) memory.

    This is how a verifier recomputes a root while streaming leaves out of the store.
    """
    stack: list[bytes] = []
    size = _absorb(stack, 0, leaf_hashes)
    return size, _fold_right(stack)


def subtree_hash(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """``MTH(D[start:end])``; ``EMPTY_ROOT`` for an empty range."""
    if not 0 <= start <= end <= len(leaf_hashes):
        raise ValueError(f"range [{start}, {end}) is outside a tree of {len(leaf_hashes)} leaves")
    return root_from_leaf_hashes(leaf_hashes[start:end])[1]


class CompactRange:
    """The right frontier of a Merkle tree: enough to append leaves and compute the root.

    It holds ``popcount(size)`` hashes, one per perfect subtree that the tree's leaves decompose into
    (largest first, i.e. ``D[0:2**a]``, then the next ``2**b`` leaves, ...). A store persists
    ``(size, to_list())`` and restores with :meth:`from_list`, so appending never re-reads old leaves.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_list(cls, size: int, hashes: list[bytes]) -> CompactRange:
        """Restore a frontier saved with :meth:`to_list`; refuses one that cannot belong to ``size``."""
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}")
        expected = size.bit_count()
        if len(hashes) != expected:
            raise ValueError(f"a tree of {size} leaves has {expected} frontier hashes, got {len(hashes)}")
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"frontier hash {i} is {len(h)} bytes, expected {HASH_SIZE}")
        compact = cls()
        compact._size = size
        compact._hashes = list(hashes)
        return compact

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        # The single-leaf case of _absorb, inlined: stores append one record at a time.
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash at index {self._size} is not {HASH_SIZE} bytes")
        hashes = self._hashes
        self._size += 1
        node, carry = leaf_hash, self._size
        while not carry & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            carry >>= 1
        hashes.append(node)

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        self._size = _absorb(self._hashes, self._size, leaf_hashes)

    def root(self) -> bytes:
        return _fold_right(self._hashes)

    def to_list(self) -> list[bytes]:
        return list(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PATH(index, D[n])`` of RFC 9162 §2.1.3.1, bottom-up.

    Walks down from the root; at each split the sibling range is hashed once. The sibling ranges are
    disjoint, so the whole proof costs O(n) hashing.
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if m < k:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree_hash(leaf_hashes, start + k, end))
            end = start + k
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree_hash(leaf_hashes, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[start, end)`` whose MTH make up ``PROOF(m, D[n])``, in proof order.

    Every range either ends at or before ``old_size`` (then it is a node of the old tree's compact
    range, which a store keeps with each head) or starts at or after it (then only leaves appended
    since are needed): a prover never re-reads the whole log.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove {old_size} -> {new_size} (need 0 <= old_size <= new_size)")
    ranges: list[tuple[int, int]] = []
    if old_size in (0, new_size):
        return ranges
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    # SUBPROOF(m, D[m], b): nothing if D[m] is the old tree itself (the verifier has its root), else
    # MTH(D[m]), the subtree both trees share.
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def compact_range_nodes(size: int) -> list[tuple[int, int]]:
    """The leaf ranges of the compact range of a tree of ``size`` leaves, largest first (the order of
    :meth:`CompactRange.to_list`)."""
    nodes = []
    start = 0
    for bit in range(size.bit_length() - 1, -1, -1):
        if size >> bit & 1:
            nodes.append((start, start + (1 << bit)))
            start += 1 << bit
    return nodes


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PROOF(m, D[n])`` of RFC 9162 §2.1.4.1: ``SUBPROOF(m, D[n], true)``; empty when m is 0 or n.

    ``leaf_hashes`` must hold at least ``new_size`` leaves; only the first ``new_size`` are used.
    """
    if not 0 <= old_size <= new_size <= len(leaf_hashes):
        raise ValueError(
            f"cannot prove {old_size} -> {new_size} over {len(leaf_hashes)} leaves "
            "(need 0 <= old_size <= new_size <= leaves)"
        )
    return [subtree_hash(leaf_hashes, a, b) for a, b in consistency_proof_ranges(old_size, new_size)]


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, expected a {HASH_SIZE}-byte SHA-256 hash")


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    RFC 9162 §2.1.3.2, step by step; raises :class:`VerificationError` saying what failed.
    """
    where = f"leaf {index} in tree of size {size}"
    if not 0 <= index < size:
        raise VerificationError(f"inclusion proof for {where}: index is outside the tree")
    _check_hash(f"inclusion proof for {where}: leaf hash", leaf_hash)
    _check_hash(f"inclusion proof for {where}: root", root)
    fn, sn = index, size - 1
    r = leaf_hash
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof for {where}: proof[{i}]", p)
        if sn == 0:
            raise VerificationError(f"inclusion proof for {where} is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            # Right border: skip levels where this node has no right sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"inclusion proof for {where} is too short ({len(proof)} hashes)")
    if r != root:
        raise VerificationError(
            f"inclusion proof for {where} does not match the root: computed {r.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``).

    RFC 9162 §2.1.4.2, plus the trivial cases it leaves to the caller: equal sizes need equal roots and
    an empty proof; an old empty tree needs ``EMPTY_ROOT`` and an empty proof (stricter than some CT
    verifiers, which accept any old root there: a log that claims a non-empty root for no leaves lies).
    """
    where = f"consistency proof {old_size} -> {new_size}"
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"{where}: the new tree is smaller than the old one (or a size is negative)")
    _check_hash(f"{where}: old root", old_root)
    _check_hash(f"{where}: new root", new_root)
    for i, p in enumerate(proof):
        _check_hash(f"{where}: proof[{i}]", p)
    if old_size == new_size or old_size == 0:
        if proof:
            raise VerificationError(f"{where}: expected an empty proof, got {len(proof)} hashes")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise VerificationError(f"{where}: old root {old_root.hex()} is not the empty tree's root")
        if old_size == new_size and old_root != new_root:
            raise VerificationError(
                f"{where}: same size, different roots ({old_root.hex()} vs {new_root.hex()})"
            )
        return
    if not proof:
        raise VerificationError(f"{where}: the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one: the prover left out its root, we have it.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"{where} is too long ({len(proof)} hashes)")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"{where} is too short ({len(proof)} hashes)")
    if fr != old_root:
        raise VerificationError(
            f"{where} does not reproduce the old root: computed {fr.hex()}, expected {old_root.hex()}"
        )
    if sr != new_root:
        raise VerificationError(
            f"{where} does not reproduce the new root: computed {sr.hex()}, expected {new_root.hex()}"
        )
