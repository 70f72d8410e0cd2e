"""Polling: discovery, the per-vault job schedule, the inventory, job sources and sharding.

Reads Azure through exporter.azure, parses it, and hands the results to exporter.store.
"""
