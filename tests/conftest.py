"""Settings for every tier.

Hypothesis' per-example deadline (200 ms by default) measures the machine as much as the code: on a
shared 2-core CI runner a slow example, or one fast on re-run, fails the run as "unreliable timings".
Time limits belong in benchmarks/; here the properties are what is tested.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("agentcage", deadline=None)
settings.load_profile("agentcage")
