"""One status light for the whole box: the most urgent connector status decides its pattern."""
from __future__ import annotations

import pytest

from chargepoint.indicator import indicator_pattern
from chargepoint.status import ConnectorStatus as S
from hal.types import IndicatorPattern as P


@pytest.mark.parametrize(("statuses", "pattern"), [
    ([S.AVAILABLE], P.AVAILABLE),
    ([S.AVAILABLE, S.PREPARING], P.PREPARING),
    ([S.PREPARING, S.CHARGING], P.CHARGING),
    ([S.CHARGING, S.FAULTED], P.FAULTED),
    ([S.SUSPENDED_EV, S.AVAILABLE], P.SUSPENDED),
    ([S.SUSPENDED_EVSE, S.FINISHING], P.SUSPENDED),
    ([S.FINISHING, S.AVAILABLE], P.FINISHING),
    ([S.RESERVED, S.AVAILABLE], P.PREPARING),
    ([S.UNAVAILABLE, S.AVAILABLE], P.AVAILABLE),
    ([S.UNAVAILABLE, S.UNAVAILABLE], P.UNAVAILABLE),
    ([], P.UNAVAILABLE),
])
def test_the_most_urgent_status_decides(statuses: list[S], pattern: P) -> None:
    assert indicator_pattern(statuses) is pattern
