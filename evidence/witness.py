"""A witness: a separate process with its own key that cosigns a log's checkpoint only after checking it
is consistent with the last checkpoint it cosigned for that log (C2SP tlog-witness ``add-checkpoint``).

It refuses forks (same size, other root: 409; a consistency proof that fails: 422), a log going back
(old size not its latest: 409 with its size, ``text/x.tlog.size``), unknown logs (404) and checkpoints
not signed by the log's configured key (403). Its state, one JSON file per origin (the latest cosigned
checkpoint), is written atomically and durably before it answers, under one lock, so two requests
cannot roll it back (the race the spec describes).

    evidence witness serve --key witness.pem --name witness.example/w1 --state DIR \\
        --log <log vkey> [--log ...] --listen 127.0.0.1:8765
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from evidence.errors import VerificationError
from evidence.files import write_atomic
from evidence.merkle import verify_consistency
from evidence.note import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    SignedNote,
    VerifierKey,
    cosignature,
    cosignature_message,
    verify_note,
)
from evidence.signing import BaseSigner

MAX_BODY = 1 << 16


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    def __init__(self, signer: BaseSigner, name: str, state: Path, logs: Sequence[VerifierKey]) -> None:
        self.signer = signer
        self.key = VerifierKey(name, ALG_COSIGNATURE_V1, signer.verifier().raw())
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs: dict[str, list[VerifierKey]] = {}
        for key in logs:
            self.logs.setdefault(key.name, []).append(key)
        self._lock = threading.Lock()

    def _path(self, origin: str) -> Path:
        return self.state / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        try:
            data = json.loads(self._path(origin).read_text())
        except FileNotFoundError:
            return None
        return int(data["size"]), base64.b64decode(data["root"])

    def _persist(self, checkpoint: Checkpoint, note_text: str) -> None:
        path = self._path(checkpoint.origin)
        state = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
            "checkpoint": note_text,
        }
        write_atomic(path, json.dumps(state), fsync=True)

    def add_checkpoint(self, body: str) -> Outcome:
        head, sep, rest = body.partition("\n\n")
        if not sep:
            return Outcome(400, "request body has no blank line before the checkpoint\n")
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            return Outcome(400, "the first line must be 'old <size>'\n")
        try:
            old_size = int(lines[0][4:])
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
            note = SignedNote.parse(rest)
            checkpoint = Checkpoint.parse(note.text)
        except (ValueError, binascii.Error, NoteError) as exc:
            return Outcome(400, f"malformed request: {exc}\n")
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return Outcome(404, f"unknown log {checkpoint.origin}\n")
        try:
            verify_note(note, keys)
        except NoteError as exc:
            return Outcome(403, f"checkpoint not signed by the log's key: {exc}\n")
        if old_size > checkpoint.size:
            return Outcome(400, "old size is larger than the checkpoint size\n")
        with self._lock:
            latest = self.latest(checkpoint.origin)
            size, root = latest if latest is not None else (0, b"")
            if old_size != size:
                return Outcome(409, f"{size}\n", "text/x.tlog.size")
            if latest is not None:
                if checkpoint.size == size and checkpoint.root != root:
                    return Outcome(409, f"fork: size {size} was cosigned with another root hash\n")
                try:
                    verify_consistency(size, checkpoint.size, root, checkpoint.root, proof)
                except VerificationError as exc:
                    return Outcome(422, f"not consistent with the cosigned size {size}: {exc}\n")
            elif proof:
                return Outcome(400, "the proof must be empty when old size is 0\n")
            self._persist(checkpoint, note.encode())
        now = int(time.time())
        signature = self.signer.sign_raw(cosignature_message(note.text, now))
        return Outcome(200, cosignature(self.key, now, signature).line())


def serve(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
                self._answer(Outcome(404, "not found\n"))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(Outcome(413, "request too large\n"))
                return
            body = self.rfile.read(length).decode("utf-8", "replace")
            self._answer(witness.add_checkpoint(body))

        def _answer(self, outcome: Outcome) -> None:
            data = outcome.body.encode("utf-8")
            self.send_response(outcome.status)
            self.send_header("Content-Type", outcome.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the caller logs outcomes

    return ThreadingHTTPServer((host, port), Handler)
