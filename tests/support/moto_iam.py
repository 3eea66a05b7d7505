"""A moto server that authorises S3 requests under AWS's own IAM action names.

moto enforces IAM policies once authentication is switched on (``INITIAL_NO_AUTH_ACTION_COUNT``, or
``POST /moto-api/reset-auth``), but its table of S3 action names is incomplete: it authorises
GetBucketEncryption, GetBucketReplication, GetObjectLockConfiguration and the bucket's
GetPublicAccessBlock as ``s3:ListBucket`` (its default for a bucket GET), and S3 Control's
GetPublicAccessBlock as ``s3:GetPublicAccessBlock``. AWS authorises them as
``s3:GetEncryptionConfiguration``, ``s3:GetReplicationConfiguration``,
``s3:GetBucketObjectLockConfiguration``, ``s3:GetBucketPublicAccessBlock`` and
``s3:GetAccountPublicAccessBlock`` (Service Authorization Reference, Amazon S3). This server adds those
names before moto starts, so a policy written for AWS (ours is generated from the collectors'
declarations) means the same thing here. Nothing else about moto changes.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from collectors.aws.demo.emulator import MotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]

# GET /bucket?<sub-resource> -> the IAM action AWS checks.
S3_BUCKET_GET_ACTIONS = {
    "encryption": "GetEncryptionConfiguration",
    "replication": "GetReplicationConfiguration",
    "object-lock": "GetBucketObjectLockConfiguration",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
}
# S3 Control (signed as "s3"): moto's operation name -> the IAM action AWS checks.
S3_CONTROL_ACTIONS = {
    "s3:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    "s3:DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
}


def use_aws_action_names() -> None:
    """Patch this process's moto (the server process) to authorise S3 calls under AWS's names."""
    from moto.iam.access_control import IAMRequest
    from moto.s3.responses import ACTION_MAP

    ACTION_MAP["BUCKET"]["GET"].update(S3_BUCKET_GET_ACTIONS)
    original_init = IAMRequest.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self._path.startswith("/v20180820/") and self._action in S3_CONTROL_ACTIONS:
            self._action = S3_CONTROL_ACTIONS[self._action]

    IAMRequest.__init__ = init  # type: ignore[method-assign]


def main() -> None:
    from moto.server import main as moto_main

    use_aws_action_names()
    moto_main(sys.argv[1:])


class AwsIamMotoServer(MotoServer):
    """``MotoServer`` running the patched moto above; enable enforcement with :meth:`enforce_iam`."""

    _launcher: Path | None = None

    def executable(self) -> str:  # type: ignore[override]
        # MotoServer runs ``[executable, -H, host, -p, port]``: a launcher script for this interpreter.
        launcher = Path(tempfile.gettempdir()) / f"moto_iam_server_{os.getpid()}_{self.port}"
        self._launcher = launcher
        launcher.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "from tests.support.moto_iam import main\n"
            "main()\n"
        )
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
        return str(launcher)

    def stop(self) -> None:
        super().stop()
        if self._launcher is not None:
            self._launcher.unlink(missing_ok=True)
            self._launcher = None

    def enforce_iam(self) -> None:
        """From the next request on, every call is authenticated and authorised against IAM."""
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).close()


if __name__ == "__main__":
    main()
