"""Incidents as records: listing, detail, acknowledgement and MTTA/MTTR."""
