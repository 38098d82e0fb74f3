"""Protocol adapters: OCPP versions translate between the charging core and the CSMS."""
