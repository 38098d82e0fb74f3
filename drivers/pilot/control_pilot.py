"""The control pilot of a real board: kernel hardware PWM out, ADS1115 plateaus in.

Wiring assumed: the PWM pin drives a ±12 V op-amp stage (PWM high -> +12 V, low -> -12 V, or
the reverse with `polarity="inversed"` on the SysfsPwm), then the 1 kΩ source resistor to CP.
Output modes map onto it as follows:

| Output            | `state_f_wiring="duty_zero"`      | `state_f_wiring="gpio"`                 |
|-------------------|-----------------------------------|-----------------------------------------|
| PWM at D %        | enabled, duty = D % of the period | state-F GPIO off, enabled, duty D %     |
| constant +12 V    | enabled, duty = period (100 %)    | state-F GPIO off, enabled, duty 100 %   |
| state F (-12 V)   | enabled, duty 0                   | duty 0, PWM disabled, state-F GPIO on   |

`duty_zero` suits boards whose op-amp maps a constantly low PWM pin to -12 V (most designs):
the channel stays enabled at 0 %, because what a disabled channel outputs is up to the PWM
driver. `gpio` is for boards with a switch (relay, analog switch) that ties CP to -12 V; the
GPIO is switched off before the PWM drives again (break before make).

Every call on the control path is one to three short sysfs writes (nothing is written when
nothing changes) and never waits."""
from __future__ import annotations

import enum

from gpiozero import OutputDevice

from drivers.pilot.cp_sensor import CpSensor
from drivers.pilot.sysfs_pwm import SysfsPwm
from hal.clock import Clock, SystemClock
from hal.types import CpReading, PilotMode, PilotOutput


class StateFWiring(str, enum.Enum):
    DUTY_ZERO = "duty_zero"  # 0 % duty: the op-amp drives -12 V
    GPIO = "gpio"  # a GPIO switches CP to -12 V while the PWM is off


class HardwarePilot:
    """Implements hal.contracts.ControlPilot. Starts in state F (EVSE not available) until the
    core sets its first output.

    `settle_s`: for this long after an output change `read()` repeats the last reading taken
    before the change (0 = off). Peak detectors need a few of their time constants to follow a
    new output; set it to about three of them if the board's detectors are slow."""

    def __init__(self, pwm: SysfsPwm, sensor: CpSensor, state_f: OutputDevice | None = None, *,
                 state_f_wiring: StateFWiring | str | None = None, settle_s: float = 0.0,
                 clock: Clock | None = None) -> None:
        wiring = StateFWiring(state_f_wiring) if state_f_wiring is not None else (
            StateFWiring.GPIO if state_f is not None else StateFWiring.DUTY_ZERO)
        if wiring is StateFWiring.GPIO and state_f is None:
            raise ValueError('state_f_wiring="gpio" needs the state-F output device')
        self.pwm = pwm
        self.sensor = sensor
        self.state_f_device = state_f
        self.state_f_wiring = wiring
        self.settle_s = settle_s
        self._clock = clock or SystemClock()
        self._changed_at = float("-inf")
        self._last_reading: CpReading | None = None
        if not pwm.opened:
            pwm.open()
        self._output = PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)  # replaced at once
        self.set_state_f()

    # ---- hal.contracts.ControlPilot ----------------------------------------------------------

    def set_pwm(self, duty_percent: float) -> None:
        if not 0.0 <= duty_percent <= 100.0:
            raise ValueError(f"PWM duty must be within 0-100 %, got {duty_percent}")
        self._drive(float(duty_percent))
        self._set_output(PilotOutput(PilotMode.PWM, float(duty_percent)))

    def set_constant_high(self) -> None:
        self._drive(100.0)
        self._set_output(PilotOutput(PilotMode.CONSTANT_HIGH, 100.0))

    def set_state_f(self) -> None:
        pwm = self.pwm
        pwm.set_duty_ns(0)
        if self.state_f_wiring is StateFWiring.GPIO:
            assert self.state_f_device is not None
            pwm.disable()
            self.state_f_device.on()
        else:
            pwm.enable()
        self._set_output(PilotOutput(PilotMode.STATE_F, 0.0))

    @property
    def output(self) -> PilotOutput:
        return self._output

    def read(self) -> CpReading:
        if self._last_reading is not None and self._clock.monotonic() - self._changed_at < self.settle_s:
            return self._last_reading
        reading = self.sensor.read(pwm_on=self._output.pwm_on)
        self._last_reading = reading
        return reading

    # ---- internals -----------------------------------------------------------------------------

    def _drive(self, duty_percent: float) -> None:
        if self.state_f_device is not None and self.state_f_device.value:
            self.state_f_device.off()
        self.pwm.set_duty_percent(duty_percent)
        self.pwm.enable()

    def _set_output(self, output: PilotOutput) -> None:
        if output != self._output:
            self._output = output
            self._changed_at = self._clock.monotonic()

    def close(self) -> None:
        """Leave the pilot in state F (EVSE not available) and the channel exported: a released
        PWM pin would leave the level to the PWM driver."""
        self.set_state_f()
