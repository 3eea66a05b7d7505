"""Trust anchors held outside the store: trusted head files and the checkpoint this machine last verified.

A store can only prove that it agrees with itself. Truncation (newest records deleted with their heads)
and forks (rewound and appended to, re-signed with the real key) are internally consistent; they show
only against a checkpoint kept elsewhere:

- ``--trusted-head FILE``: a checkpoint (signed note) saved earlier, e.g. ``evidence checkpoint > f``,
  one a witness cosigned, or one published to WORM storage;
- trust on first use, like ``ssh``'s known_hosts: after a successful check the CLI remembers the
  store's origin, key and latest checkpoint under the user's state directory
  (``$EVIDENCE_STATE_DIR``, else ``$XDG_STATE_HOME/evidence``, else ``~/.local/state/evidence``), one
  file per store URL; the next check fails when the store is smaller (truncated), disagrees with it
  (forked), or is signed by a key the remembered one never rotated to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.canonical import utc_iso, utcnow
from evidence.errors import ConfigError
from evidence.files import write_atomic
from evidence.keychain import KeyChain
from evidence.note import Checkpoint, NoteError, SignedNote, VerifierKey, verify_note
from evidence.signing import Verifier
from evidence.store.results import Problem, VerifyReport
from evidence.store.verify import Anchor

if TYPE_CHECKING:
    from evidence.store.store import EvidenceStore

STATE_DIR_ENV = "EVIDENCE_STATE_DIR"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env: Mapping[str, str] = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "evidence"


def read_trusted_head(
    path: Path, store: EvidenceStore, pinned: Sequence[Verifier] | None
) -> tuple[Anchor | None, list[Problem]]:
    """Parse a checkpoint file and check it is this log's, signed by a trusted key."""
    source = f"the trusted head {path}"
    try:
        note = SignedNote.parse(path.read_bytes())
        checkpoint = Checkpoint.parse(note.text)
    except OSError as exc:
        raise ConfigError(f"cannot read trusted head {path}: {exc.strerror or exc}") from exc
    except NoteError as exc:
        raise ConfigError(f"trusted head {path} is not a checkpoint: {exc}") from exc
    if checkpoint.origin != store.origin:
        return None, [
            Problem(
                "trusted_head_foreign",
                f"{source} is for the log {checkpoint.origin!r}, but this store is {store.origin!r}",
            )
        ]
    keys = _log_keys(store, pinned)
    try:
        verify_note(note, keys)
    except NoteError as exc:
        return None, [Problem("trusted_head_invalid", f"{source} is not signed by a trusted key: {exc}")]
    return Anchor(checkpoint, source), []


def _log_keys(store: EvidenceStore, pinned: Sequence[Verifier] | None) -> list[VerifierKey]:
    if pinned is not None:
        return [v.note_key(store.origin) for v in pinned]
    chain = store.key_chain()
    return list(chain.keys) if chain is not None else []


@dataclass(frozen=True)
class Remembered:
    url: str
    origin: str
    log_key: str
    checkpoint: str
    verified_at: str

    def anchor(self) -> Anchor:
        note = SignedNote.parse(self.checkpoint)
        return Anchor(
            Checkpoint.parse(note.text),
            f"the checkpoint this machine verified on {self.verified_at} (trust on first use)",
        )


class KnownStores:
    """The remembered checkpoint per store URL (``known-logs/<sha256 of the URL>.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "known-logs"

    def _path(self, url: str) -> Path:
        return self.folder / f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:32]}.json"

    def load(self, url: str) -> Remembered | None:
        path = self._path(url)
        try:
            data = json.loads(path.read_text())
            return Remembered(
                **{k: data[k] for k in ("url", "origin", "log_key", "checkpoint", "verified_at")}
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"remembered checkpoint {path} is unreadable ({exc}); remove it to start over"
            ) from exc

    def remember(self, url: str, report: VerifyReport) -> None:
        if not (report.origin and report.log_key and report.checkpoint):
            return
        record = Remembered(url, report.origin, report.log_key, report.checkpoint, utc_iso(utcnow()))
        path = self._path(url)
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, json.dumps(record.__dict__, indent=2))
        except OSError as exc:
            raise ConfigError(
                f"cannot remember the checkpoint in {self.folder}: {exc.strerror or exc}"
            ) from exc

    def forget(self, url: str) -> bool:
        try:
            self._path(url).unlink()
            return True
        except FileNotFoundError:
            return False


def identity_problems(remembered: Remembered, origin: str, chain: KeyChain | None) -> list[Problem]:
    """The store's origin and key against the remembered ones (ssh's "host key changed")."""
    problems = []
    if remembered.origin != origin:
        problems.append(
            Problem(
                "store_identity_changed",
                f"WARNING: this store's log origin is {origin!r}, but on {remembered.verified_at} it was "
                f"{remembered.origin!r}: another store now answers at this URL (remove the remembered "
                "checkpoint with `evidence verify --forget` only if you know why)",
            )
        )
        return problems
    try:
        before = VerifierKey.parse(remembered.log_key)
    except NoteError:
        return problems
    if chain is None or not chain.knows(before):
        now = chain.current.encode() if chain is not None else "none"
        problems.append(
            Problem(
                "store_key_changed",
                f"WARNING: the store's signing key changed from {remembered.log_key} (seen on "
                f"{remembered.verified_at}) to {now} without a rotation statement signed by the old key",
            )
        )
    return problems


def read_published(
    bucket: Any, store: EvidenceStore, pinned: Sequence[Verifier] | None
) -> tuple[list[Anchor], list[Problem]]:
    """Every checkpoint of this log in the publication bucket (``evidence.publish.CheckpointBucket``)."""
    anchors: list[Anchor] = []
    problems: list[Problem] = []
    keys = _log_keys(store, pinned)
    for where, body in bucket.checkpoints(store.origin):
        try:
            note = SignedNote.parse(body)
            checkpoint = Checkpoint.parse(note.text)
            verify_note(note, keys)
        except NoteError as exc:
            problems.append(Problem("published_checkpoint_invalid", f"published checkpoint {where}: {exc}"))
            continue
        anchors.append(Anchor(checkpoint, f"the published checkpoint {where}"))
    return anchors, problems


@dataclass
class TrustOptions:
    pinned: list[Verifier] | None = None
    trusted_heads: Sequence[Path] = ()
    remember: bool = True
    state: KnownStores | None = None
    published: Any = None  # an evidence.publish.CheckpointBucket


def anchors_for(
    store: EvidenceStore, options: TrustOptions
) -> tuple[list[Anchor], list[Problem], Remembered | None]:
    anchors: list[Anchor] = []
    problems: list[Problem] = []
    for path in options.trusted_heads:
        anchor, found = read_trusted_head(path, store, options.pinned)
        problems += found
        if anchor is not None:
            anchors.append(anchor)
    if options.published is not None:
        published, published_problems = read_published(options.published, store, options.pinned)
        anchors += published
        problems += published_problems
    remembered = options.state.load(store.url) if options.state is not None else None
    if remembered is not None:
        problems += identity_problems(remembered, store.origin, store.key_chain())
        if not problems:
            anchors.append(remembered.anchor())
    return anchors, problems, remembered


def verify_anchored(store: EvidenceStore, options: TrustOptions, **verify_args: Any) -> VerifyReport:
    """``store.verify`` against the trusted heads and the remembered checkpoint; remember on success."""
    anchors, problems, _ = anchors_for(store, options)
    report = store.verify(trusted_keys=options.pinned, anchors=anchors, **verify_args)
    if problems:
        report = replace(report, ok=False, problems=tuple(problems) + report.problems)
    if report.ok and options.remember and options.state is not None:
        options.state.remember(store.url, report)
    return report


def check_latest(store: EvidenceStore, options: TrustOptions) -> list[Problem]:
    """For ``prove``/``consistency``: the store's latest head extends every anchor (no truncation, no
    fork), without a full verify. Roots at anchor sizes come from the stored heads or the leaves."""
    from evidence import merkle
    from evidence.store.store import _StoredLeaves

    anchors, problems, _ = anchors_for(store, options)
    head = store.tree_head()
    size = head.head.size if head is not None else 0
    for anchor in anchors:
        wanted = anchor.checkpoint
        if wanted.size > size:
            problems.append(
                Problem(
                    "truncated",
                    f"TRUNCATED: {anchor.source} covers {wanted.size} records, but the store's latest head "
                    f"covers {size}",
                )
            )
            continue
        _, root = merkle.root_from_leaf_hashes(iter(_StoredLeaves(store, 0, wanted.size)))
        if root != wanted.root:
            problems.append(
                Problem(
                    "forked",
                    f"FORK: {anchor.source} says the first {wanted.size} records have root "
                    f"{wanted.root.hex()}, the store's give {root.hex()}",
                )
            )
    return problems


def proof_verifiers(store: EvidenceStore, pinned: Sequence[Verifier] | None) -> list[Verifier]:
    """The keys a proof's heads must be signed with: the pinned ones, else the store's key chain."""
    return [Verifier(k.ed25519()) for k in _log_keys(store, pinned)]
