"""The installed charging profiles, kept in the store so they survive restarts (errata 3.37).

Replacement (OCPP 1.6 §5.16.3–5.16.4): a new profile replaces the one with the same
chargingProfileId, and the one with the same stackLevel and purpose on the same connector.
Clearing (§5.5, errata 3.25/3.26): by id alone, or by every given filter at once."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from chargepoint.smart_charging.model import ChargingProfile, Purpose
from chargepoint.smart_charging.payload import ProfileFormatError, profile_from_ocpp, profile_to_ocpp
from chargepoint.store import Store, StoredProfile
from chargepoint.timeutil import iso_utc, parse_iso

log = logging.getLogger(__name__)


class ProfileRegistry:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._profiles: dict[int, ChargingProfile] = {}
        stale: list[int] = []
        for row in store.load_charging_profiles():
            try:
                profile = profile_from_ocpp(row.payload, row.connector_id)
            except ProfileFormatError as exc:
                log.error("stored charging profile %s cannot be read (%s): dropped", row.profile_id, exc)
                stale.append(row.profile_id)
                continue
            if profile.purpose is Purpose.TX:
                # Its transaction did not survive the restart (it was closed at start-up).
                stale.append(row.profile_id)
                continue
            self._profiles[profile.id] = replace(profile, installed_at=parse_iso(row.installed_at),
                                                 local_tx=row.local_tx)
        if stale:
            store.delete_charging_profiles(stale)

    @property
    def profiles(self) -> list[ChargingProfile]:
        return list(self._profiles.values())

    def replaced_by(self, profile: ChargingProfile) -> list[int]:
        return [p.id for p in self._profiles.values()
                if p.id == profile.id or (p.stack_level == profile.stack_level and p.purpose is profile.purpose
                                          and p.connector_id == profile.connector_id)]

    def count_after(self, profile: ChargingProfile) -> int:
        """How many profiles would be installed once this one is."""
        return len(self._profiles) - len(self.replaced_by(profile)) + 1

    def install(self, profile: ChargingProfile) -> None:
        assert profile.installed_at is not None
        replaced = self.replaced_by(profile)
        self._store.save_charging_profile(
            StoredProfile(profile.id, profile.connector_id, profile.local_tx, iso_utc(profile.installed_at),
                          profile_to_ocpp(profile)),
            replaced,
        )
        for profile_id in replaced:
            del self._profiles[profile_id]
        self._profiles[profile.id] = profile

    def clear(self, profile_id: int | None = None, connector_id: int | None = None,
              purpose: Purpose | None = None, stack_level: int | None = None) -> list[ChargingProfile]:
        """Remove the matching profiles and return them; with an id the other filters are
        ignored (errata 3.26), without any filter every profile goes."""
        if profile_id is not None:
            matching = [p for p in self._profiles.values() if p.id == profile_id]
        else:
            matching = [p for p in self._profiles.values()
                        if (connector_id is None or p.connector_id == connector_id)
                        and (purpose is None or p.purpose is purpose)
                        and (stack_level is None or p.stack_level == stack_level)]
        self._remove(p.id for p in matching)
        return matching

    def end_transaction(self, local_tx: int) -> list[ChargingProfile]:
        """A TxProfile ceases to be valid when its transaction ends (§7.10)."""
        ended = [p for p in self._profiles.values() if p.purpose is Purpose.TX and p.local_tx == local_tx]
        self._remove(p.id for p in ended)
        return ended

    def _remove(self, profile_ids: Iterable[int]) -> None:
        ids = list(profile_ids)
        if ids:
            self._store.delete_charging_profiles(ids)
            for profile_id in ids:
                del self._profiles[profile_id]
