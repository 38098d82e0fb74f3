"""Energy meters over Modbus RTU (RS-485) and Modbus TCP, with register maps as data."""
from drivers.meter.bus import ModbusBus
from drivers.meter.maps import MODELS, get_map
from drivers.meter.modbus_meter import ModbusMeter
from drivers.meter.registers import RegisterMap, RegisterMapError, RegisterSpec, custom_map

__all__ = ["MODELS", "ModbusBus", "ModbusMeter", "RegisterMap", "RegisterMapError", "RegisterSpec",
           "custom_map", "get_map"]
