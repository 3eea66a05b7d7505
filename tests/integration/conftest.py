"""Integration fixtures: evidence store backends and the test-only ``test.sample`` schema.

Defined in ``tests/support/store_backends.py``; imported here so test modules take them as arguments.
"""

from tests.support.pgscratch import pg_estate  # noqa: F401
from tests.support.store_backends import backend, test_schema  # noqa: F401
