"""The store: what the exporter knows between polls, and its immutable snapshots.

Per-item job state and counters, the inventory, the exporter's lifecycle and the state file.
"""
