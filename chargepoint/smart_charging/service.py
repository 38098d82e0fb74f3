"""Smart charging as the station uses it: decide on a new profile (Accepted or Rejected, with the
reason), install it, clear profiles, end a transaction's profiles, and build the evaluation for
a given state of the transactions. Holds no station state itself, so it is tested on its own."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from chargepoint.settings import Settings
from chargepoint.smart_charging.composite import CompositeSchedule, composite_schedule
from chargepoint.smart_charging.evaluation import Evaluator, EvseView
from chargepoint.smart_charging.model import ChargingProfile, EvseElectrics, Purpose, RateUnit
from chargepoint.smart_charging.registry import ProfileRegistry
from chargepoint.smart_charging.validation import Capabilities, reject_reason
from chargepoint.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransactionRef:
    """A running transaction as smart charging needs it."""

    local_id: int
    csms_id: int | None  # None until the CSMS answered the StartTransaction
    started_at: datetime


class SmartCharging:
    def __init__(self, store: Store, settings: Settings, electrics: dict[int, EvseElectrics]) -> None:
        self.registry = ProfileRegistry(store)
        self.settings = settings
        self.electrics = electrics

    def capabilities(self) -> Capabilities:
        units = {RateUnit.AMPERE: "Current", RateUnit.WATT: "Power"}
        allowed = set(self.settings.get_list("ChargingScheduleAllowedChargingRateUnit"))
        return Capabilities(
            max_stack_level=self.settings.get_int("ChargeProfileMaxStackLevel"),
            max_periods=self.settings.get_int("ChargingScheduleMaxPeriods"),
            allowed_units=frozenset(u for u, name in units.items() if name in allowed),
            max_installed=self.settings.get_int("MaxChargingProfilesInstalled"),
        )

    def set_profile(self, profile: ChargingProfile, transaction: TransactionRef | None,
                    now: datetime) -> str | None:
        """Install `profile` (SetChargingProfile); `transaction` is the one running on its
        connector. Returns why it is Rejected, or None when it was installed."""
        reason = self._reject_reason(profile, transaction)
        if reason is None and profile.purpose is Purpose.TX:
            assert transaction is not None
            profile = replace(profile, local_tx=transaction.local_id)
        if reason is None:
            reason = self._install(profile, now)
        if reason is not None:
            log.info("charging profile %s rejected: %s", profile.id, reason)
        return reason

    def remote_start_reason(self, profile: ChargingProfile) -> str | None:
        """Why a RemoteStartTransaction's profile cannot be used, or None (OCPP 1.6 §5.16.2: a
        TxProfile without transactionId, for the transaction about to start)."""
        if profile.purpose is not Purpose.TX:
            return "the profile of a remote start must be a TxProfile"
        if profile.transaction_id is not None:
            return "the profile of a remote start must not name a transaction (errata 3.41)"
        return self._reject_reason(profile, None, for_new_transaction=True)

    def transaction_started(self, connector_id: int, transaction: TransactionRef,
                            profile: ChargingProfile | None, now: datetime) -> None:
        """Install the TxProfile a remote start brought, for the transaction that just began."""
        if profile is None:
            return
        bound = replace(profile, connector_id=connector_id, local_tx=transaction.local_id)
        reason = self._reject_reason(bound, transaction) or self._install(bound, now)
        if reason is not None:
            log.warning("charging profile %s of the remote start not applied: %s", profile.id, reason)

    def transaction_ended(self, local_id: int) -> bool:
        return bool(self.registry.end_transaction(local_id))

    def clear(self, profile_id: int | None, connector_id: int | None, purpose: Purpose | None,
              stack_level: int | None) -> bool:
        """ClearChargingProfile: True (Accepted) when something was cleared, else False (Unknown)."""
        cleared = self.registry.clear(profile_id, connector_id, purpose, stack_level)
        if cleared:
            log.info("charging profiles cleared: %s", ", ".join(str(p.id) for p in cleared))
        return bool(cleared)

    def evaluator(self, transactions: dict[int, TransactionRef | None]) -> Evaluator:
        views = {}
        for evse_id, electrics in self.electrics.items():
            tx = transactions.get(evse_id)
            views[evse_id] = EvseView(electrics, tx.local_id if tx else None, tx.started_at if tx else None)
        return Evaluator(self.registry.profiles, views)

    def composite(self, transactions: dict[int, TransactionRef | None], connector_id: int, start: datetime,
                  duration_s: int, unit: RateUnit) -> CompositeSchedule:
        return composite_schedule(self.evaluator(transactions), connector_id, start, duration_s, unit)

    # ---- decisions -------------------------------------------------------------------------------

    def _reject_reason(self, profile: ChargingProfile, transaction: TransactionRef | None,
                       for_new_transaction: bool = False) -> str | None:
        caps = self.capabilities()
        reason = reject_reason(profile, caps)
        if reason is not None:
            return reason
        if profile.connector_id != 0 and profile.connector_id not in self.electrics:
            return f"connector {profile.connector_id} does not exist"
        if profile.purpose is Purpose.TX and not for_new_transaction:
            if transaction is None:
                return f"no transaction runs on connector {profile.connector_id}"
            if profile.transaction_id is not None and profile.transaction_id != transaction.csms_id:
                return f"transaction {profile.transaction_id} does not run on connector {profile.connector_id}"
        if self.registry.count_after(profile) > caps.max_installed:
            return f"MaxChargingProfilesInstalled ({caps.max_installed}) reached"
        return None

    def _install(self, profile: ChargingProfile, now: datetime) -> str | None:
        if self.registry.count_after(profile) > self.capabilities().max_installed:
            return "MaxChargingProfilesInstalled reached"
        self.registry.install(replace(profile, installed_at=now))
        log.info("charging profile %s installed (%s, connector %s, stack level %s)", profile.id,
                 profile.purpose.value, profile.connector_id, profile.stack_level)
        return None
