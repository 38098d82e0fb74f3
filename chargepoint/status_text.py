"""`chargepoint status` for people: one line per EVSE, then the CSMS link and the queue."""
from __future__ import annotations

from typing import Any


def format_controller_status(status: dict[str, Any]) -> str:
    lines = [f"{status.get('chargepoint')} on board {status.get('board')}"]
    for e in status.get("evses", []):
        faults = ", ".join(e.get("faults") or []) or "none"
        tx = e.get("transaction_id") or (f"local {e['local_transaction_id']}" if e.get("local_transaction_id") else "-")
        lines.append(
            f"EVSE {e['id']}: {e.get('connector_status')}, CP {e.get('cp_state')}, "
            f"offered {e.get('offered_current_a')} A, contactor {'closed' if e.get('contactor_closed') else 'open'}, "
            f"{e.get('power_w')} W, {e.get('energy_wh')} Wh, transaction {tx}, faults: {faults}"
        )
    o = status.get("ocpp", {})
    lines.append(f"CSMS: {o.get('state')} since {o.get('since')}"
                 + (f", offline since {o['offline_since']}" if o.get("offline_since") else ""))
    q = status.get("outbox", {})
    lines.append(f"queued transaction messages: {q.get('length', 0)}"
                 + (f", oldest {q['oldest']}" if q.get("oldest") else ""))
    return "\n".join(lines)
