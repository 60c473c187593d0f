"""Test doubles that are not the database: an injectable clock and one fake per vendor over real HTTP.

One module per vendor (plus the clock and the seed pages); the names the tests use are re-exported
here so `from fakes import FakeClock, FakeLeadSquared` keeps working.
"""

from fakes.clock import FakeClock, pause
from fakes.huawei import FakeISales, huawei_seed_response, verify_auth_v2
from fakes.leadsquared import FakeLeadSquared, lsq_error, seed_response, status_body
from fakes.ozonetel import FakeOzonetel, ozonetel_seed_replies

__all__ = [
    "FakeClock",
    "pause",
    "FakeISales",
    "FakeLeadSquared",
    "FakeOzonetel",
    "huawei_seed_response",
    "lsq_error",
    "ozonetel_seed_replies",
    "seed_response",
    "status_body",
    "verify_auth_v2",
]
