"""OCPP 1.6 operations initiated by the CSMS. Each handler maps the request to a core command
and the core's answer back to the response; none of them blocks on hardware."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OccurenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.local_list import entries_from_ocpp
from chargepoint.ocpp.v16.handlers_smart_charging import profile_from_library
from chargepoint.settings import ChangeResult

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link


class CsmsOperations:
    """Mixed into the 1.6 session; `link` gives access to the station and settings."""

    link: V16Link

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None, **_: Any) -> call_result.RemoteStartTransaction:
        # A TxProfile for the transaction it starts (OCPP 1.6 §5.16.2); Rejected when unusable.
        profile = profile_from_library(charging_profile, connector_id or 0) if charging_profile is not None else None
        # While the boot is Pending the CSMS may not start transactions (OCPP 1.6 §4.2).
        ok = self.link.accepted and self.link.station.remote_start(id_tag, connector_id, profile)
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        ok = self.link.accepted and self.link.station.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str, **_: Any) -> None:
        # Reply first, then stop transactions and restart.
        await asyncio.sleep(0)
        await self.link.station.reset(hard=type == "Hard")

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> call_result.GetConfiguration:
        settings = self.link.settings
        if key and len(key) > settings.get_int("GetConfigurationMaxKeys"):
            # §5.8: the charge point may limit the keys per request; more is a cardinality the
            # request may not have here (OCPP-J CALLERROR, spelt as OCPP 1.6 spells it).
            raise OccurenceConstraintViolationError(
                description=f"more than GetConfigurationMaxKeys ({settings.get_int('GetConfigurationMaxKeys')}) keys")
        names = settings.names() if not key else key
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        seen: set[str] = set()
        for name in names:
            # Keys are CiString50 (§6.23): any case names the key, each is answered once.
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            spec = settings.spec(name)
            if spec is None:
                unknown.append(name)
                continue
            entry: dict[str, Any] = {"key": spec.name, "readonly": not spec.writable}
            if not spec.write_only:  # AuthorizationKey: listed, its value never disclosed
                entry["value"] = settings.raw(spec.name)
            known.append(entry)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        result = self.link.settings.change(key, value)
        status = {
            ChangeResult.ACCEPTED: "Accepted",
            ChangeResult.REJECTED: "Rejected",
            ChangeResult.REBOOT_REQUIRED: "RebootRequired",
            ChangeResult.NOT_SUPPORTED: "NotSupported",
        }[result]
        return call_result.ChangeConfiguration(status=status)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> call_result.ChangeAvailability:
        status = self.link.station.change_availability(connector_id, operative=type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        status = await self.link.station.unlock(connector_id)
        return call_result.UnlockConnector(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        ok = self.link.station.clear_cache()
        return call_result.ClearCache(status="Accepted" if ok else "Rejected")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.link.station.authorizer.local_list.version())

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **_: Any) -> call_result.SendLocalList:
        entries = entries_from_ocpp(local_authorization_list)
        status = self.link.station.authorizer.local_list.update(list_version, update_type == "Full", entries)
        return call_result.SendLocalList(status=status)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        # No vendor extensions are implemented: the spec's answer for that is UnknownVendorId.
        return call_result.DataTransfer(status="UnknownVendorId")
