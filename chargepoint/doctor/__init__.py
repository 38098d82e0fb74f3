"""`chargepoint doctor`: exercises every configured device of the box on site and reports, for
each failure, what to check. See docs/doctor.md."""
from chargepoint.doctor.context import DoctorOptions
from chargepoint.doctor.exclusive import ControllerRunning
from chargepoint.doctor.results import CheckResult, Outcome, Report
from chargepoint.doctor.runner import Doctor

__all__ = ["CheckResult", "ControllerRunning", "Doctor", "DoctorOptions", "Outcome", "Report"]
