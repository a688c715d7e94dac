"""Settings shared by the property-based fuzz tests (tests/unit/**/test_*_fuzz.py).

CI runs a bounded number of examples per test; the long-run target (``make fuzz``) sets
CNAB_FUZZ_EXAMPLES to 10000 or more. Examples actually run are counted, so the long run can
show that it generated what it claims.
"""

import collections
import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("CNAB_FUZZ_EXAMPLES", "150"))
LONG_RUN = EXAMPLES >= 10000
RUN = collections.Counter()


def fuzz_settings(examples=None, **overrides):
    """No deadline (documents can be huge), no example database in the repository."""
    options = dict(max_examples=examples or EXAMPLES, deadline=None, database=None, derandomize=not LONG_RUN,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.large_base_example])
    options.update(overrides)
    return settings(**options)
