"""OCPP 1.6 Smart Charging: charging profiles, their validation and storage, and the current
limit they impose on each EVSE over time. See docs/smart-charging.md."""
from chargepoint.smart_charging.composite import CompositeSchedule
from chargepoint.smart_charging.model import ChargingProfile, EvseElectrics, Purpose, RateUnit
from chargepoint.smart_charging.payload import ProfileFormatError, profile_from_ocpp, schedule_to_ocpp
from chargepoint.smart_charging.service import SmartCharging, TransactionRef

__all__ = [
    "ChargingProfile",
    "CompositeSchedule",
    "EvseElectrics",
    "ProfileFormatError",
    "Purpose",
    "RateUnit",
    "SmartCharging",
    "TransactionRef",
    "profile_from_ocpp",
    "schedule_to_ocpp",
]
