"""Configuration: the YAML config and the web config file → typed, frozen objects.

Validated whole before the port is bound: every error with its key path, nothing exits or logs here.
"""
