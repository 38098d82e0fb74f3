"""Connector status as the CSMS sees it, derived from the EVSE and its session: never stored,
always computed, so it cannot drift from the hardware."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from chargepoint.evse.controller import EvseSnapshot
from hal.types import CpState, FaultKind


class ConnectorStatus(str, enum.Enum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(frozen=True)
class StatusError:
    """A fault as reported with a status: a protocol-neutral code plus vendor detail."""

    code: str  # OCPP 1.6 ChargePointErrorCode vocabulary
    info: str
    vendor_code: str


_FAULT_ERRORS: dict[FaultKind, tuple[str, str]] = {
    FaultKind.RCM: ("GroundFailure", "residual current monitor tripped"),
    FaultKind.RCM_SELF_TEST: ("GroundFailure", "residual current monitor failed its self-test"),
    FaultKind.OVER_TEMPERATURE: ("HighTemperature", "over-temperature input active"),
    FaultKind.WELD: ("PowerSwitchFailure", "contactor welded: feedback closed while commanded open"),
    FaultKind.CONTACTOR: ("PowerSwitchFailure", "contactor failed to close"),
    FaultKind.METER_LOSS: ("PowerMeterFailure", "energy meter not answering"),
    FaultKind.DIODE: ("EVCommunicationError", "EV diode check failed"),
    FaultKind.STATE_E: ("EVCommunicationError", "control pilot shorted to PE (state E)"),
    FaultKind.PP: ("OtherError", "proximity pilot out of range"),
    FaultKind.OVERCURRENT: ("OverCurrentFailure", "EV draws more than offered"),
    FaultKind.CONTROL_LOOP: ("InternalError", "control loop stalled"),
    FaultKind.MCU_LINK: ("InternalError", "safety co-processor not answering or not following"),
    FaultKind.LOCK: ("ConnectorLockFailure", "socket lock did not lock"),
}
# When several faults are active the most serious one is reported.
_FAULT_PRIORITY = [
    FaultKind.WELD, FaultKind.RCM, FaultKind.RCM_SELF_TEST, FaultKind.CONTACTOR, FaultKind.OVER_TEMPERATURE,
    FaultKind.MCU_LINK, FaultKind.CONTROL_LOOP, FaultKind.STATE_E, FaultKind.DIODE, FaultKind.PP,
    FaultKind.LOCK, FaultKind.OVERCURRENT, FaultKind.METER_LOSS,
]


def error_for(faults: frozenset[FaultKind]) -> StatusError | None:
    for kind in _FAULT_PRIORITY:
        if kind in faults:
            code, info = _FAULT_ERRORS[kind]
            return StatusError(code=code, info=info, vendor_code=kind.value)
    return None


@dataclass(frozen=True)
class SessionView:
    """The parts of a charging session that decide the status."""

    authorised_pending: bool  # a tag was accepted, waiting for the cable
    in_transaction: bool
    finishing: bool  # transaction ended, cable still in


def connector_status(evse: EvseSnapshot, session: SessionView) -> ConnectorStatus:
    if evse.faults:
        return ConnectorStatus.FAULTED
    if session.in_transaction:
        if evse.contactor_closed and evse.cp_state in (CpState.C, CpState.D):
            return ConnectorStatus.CHARGING
        if not evse.offering:
            return ConnectorStatus.SUSPENDED_EVSE
        if evse.cp_state in (CpState.B, CpState.A):
            return ConnectorStatus.SUSPENDED_EV
        return ConnectorStatus.SUSPENDED_EVSE
    if not evse.available:
        return ConnectorStatus.UNAVAILABLE
    if session.finishing and evse.plugged:
        return ConnectorStatus.FINISHING
    if evse.plugged or session.authorised_pending:
        return ConnectorStatus.PREPARING
    return ConnectorStatus.AVAILABLE
