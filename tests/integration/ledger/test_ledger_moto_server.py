"""Every conformance test, against DynamoDB served by moto_server over a real HTTP connection."""

from __future__ import annotations

import pytest

from tests.functional.ledger.test_ledger_approvals import *  # noqa: F403
from tests.functional.ledger.test_ledger_circuits import *  # noqa: F403
from tests.functional.ledger.test_ledger_reservations import *  # noqa: F403
from tests.functional.ledger.test_ledger_tasks import *  # noqa: F403

pytestmark = pytest.mark.integration
