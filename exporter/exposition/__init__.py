"""Exposition: store snapshots → metric families → the text and gzip bytes /metrics serves.

Rendered once per poll by the publisher; scrapes only read the bytes it swapped in.
"""
