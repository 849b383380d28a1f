"""Readers of datasets in their official layouts, each writing the prepared format.

One module per dataset; each has ``prepare(...) -> dict`` (the summary) and
reports what it kept and dropped through ``PrepareReport``.
"""
