"""The trust commands of the CLI: ``rotate-key``, ``checkpoint``, ``witness``. Thin: the logic lives
in ``evidence.store`` (rotation, publication), ``evidence.witness`` and ``evidence.trust``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

witness_app = typer.Typer(help="Run a witness that cosigns consistent checkpoints.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from evidence import cli

    app.add_typer(witness_app, name="witness")

    @app.command("init")
    def init() -> None:
        """Create or upgrade the store's schema (run once as the schema owner role; no key needed)."""
        from evidence.store.config import init_schema

        store = init_schema(cli.state.store_url)
        try:
            cli.out.print(
                f"evidence store {store.url}: schema ready, log origin {store.origin}", markup=False
            )
        finally:
            store.close()

    @app.command("rotate-key")
    def rotate_key(
        to: Annotated[
            str, typer.Option("--to", help="the new key: file:/path.pem, PEM text or vault:<mount>/<key>")
        ],
    ) -> None:
        """Move the store to a new signing key; the current key (EVIDENCE_SIGNING_KEY) signs the move."""
        import os

        from evidence.store.config import signer_from_spec

        new = signer_from_spec(to, os.environ, source="--to")
        with cli._store() as store:
            rotation = store.rotate_key(new)
        cli.out.print(
            f"rotated at tree size {rotation.size}: {rotation.old.encode()} -> {rotation.new.encode()}\n"
            "set EVIDENCE_SIGNING_KEY to the new key on every appender; give the new vkey to the witnesses",
            markup=False,
        )

    @app.command()
    def checkpoint(
        publish: Annotated[
            bool,
            typer.Option("--publish/--no-publish", help="first send it to the configured witnesses and TSA"),
        ] = True,
    ) -> None:
        """Print the latest checkpoint as a signed note (with witness cosignatures): save it, and pass it
        to `verify --trusted-head` later. Catches up missing cosignatures and timestamps first."""
        with cli._store(create=publish) as store:
            report = store.publish() if publish else None
            if report is not None:
                for failure in report.failures:
                    cli.err.print(f"warning: {failure}", markup=False)
            sys.stdout.write(store.checkpoint_note().encode())
        if report is not None and report.failures:
            raise cli.CheckFailed

    @witness_app.command("keygen")
    def witness_keygen(
        key: Annotated[Path, typer.Option("--key", help="where to write the new private key (PEM, 0600)")],
        name: Annotated[str, typer.Option("--name", help="the witness name, e.g. witness.example/w1")],
    ) -> None:
        """Create a witness key and print its vkey (what logs and verifiers configure)."""
        from evidence.note import ALG_COSIGNATURE_V1, VerifierKey
        from evidence.signing import load_or_create_signer

        signer = load_or_create_signer(key)
        cli.out.print(VerifierKey(name, ALG_COSIGNATURE_V1, signer.verifier().raw()).encode(), markup=False)

    @witness_app.command("serve")
    def witness_serve(
        key: Annotated[Path, typer.Option("--key", help="the witness's private key (PEM)")],
        name: Annotated[str, typer.Option("--name", help="the witness name, e.g. witness.example/w1")],
        state: Annotated[Path, typer.Option("--state", help="folder for the latest cosigned checkpoints")],
        log: Annotated[list[str], typer.Option("--log", help="a log's vkey it witnesses (repeat)")],
        listen: Annotated[str, typer.Option("--listen", help="HOST:PORT")] = "127.0.0.1:8765",
    ) -> None:
        """Serve C2SP tlog-witness add-checkpoint until interrupted."""
        from evidence.note import VerifierKey
        from evidence.signing import Signer
        from evidence.witness import Witness, serve

        host, _, port = listen.rpartition(":")
        if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise typer.BadParameter(
                f"{listen!r} is not HOST:PORT (a port from 1 to 65535)", param_hint="--listen"
            )
        witness = Witness(Signer.from_file(key), name, state, [VerifierKey.parse(v) for v in log])
        server = serve(witness, host or "127.0.0.1", int(port))
        cli.err.print(f"witness {witness.key.encode()} listening on {listen}", markup=False)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
