"""Parsing: Azure response bodies (jobs of both vault kinds, protected items) → model values.

Unknown values pass through verbatim; unreadable ones are counted by field, never fatal.
"""
