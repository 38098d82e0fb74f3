"""Diagnostics and log uploads: the retained log file, the archives cut from it for the CSMS
(GetDiagnostics, GetLog) and their upload over FTP, HTTP and HTTPS. Protocol-neutral: the OCPP
adapters map requests and statuses onto it."""
