"""The exporter's own life as metrics: config reloads (SIGHUP) and state file writes.

The reload metrics carry Prometheus' own names for the idea (`prometheus_config_last_reload_successful`,
`prometheus_config_last_reload_success_timestamp_seconds`, reloads counted by result as Alertmanager
does), so the alerts people already have for those translate directly. Like every other value they
reach the exposition when the next poll publishes it.

Sample:

    azure_backup_exporter_config_last_reload_successful 1.0
    azure_backup_exporter_config_last_reload_success_timestamp_seconds 1.7950002e+09
    azure_backup_exporter_config_reloads_total{result="success"} 2.0
    azure_backup_exporter_config_reloads_total{result="failure"} 1.0
    azure_backup_exporter_state_writes_total{result="success"} 310.0
    azure_backup_exporter_state_writes_total{result="failure"} 0.0
    azure_backup_exporter_state_last_write_duration_seconds 0.012
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.store.lifecycle import RESULTS, Lifecycle


class LifecycleCollector(Collector):
    def __init__(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle

    def collect(self) -> Iterator[Metric]:
        life = self._lifecycle.view()
        yield GaugeMetricFamily(
            "azure_backup_exporter_config_last_reload_successful",
            "1 if the last configuration reload (SIGHUP) succeeded, or none was asked for.",
            value=1.0 if life.last_reload_ok else 0.0,
        )
        yield GaugeMetricFamily(
            "azure_backup_exporter_config_last_reload_success_timestamp_seconds",
            "Time the running configuration was loaded.",
            value=life.last_reload_success,
        )
        counter = CounterMetricFamily(
            "azure_backup_exporter_config_reloads", "Configuration reloads (SIGHUP) by result.", labels=["result"]
        )
        for result in RESULTS:
            counter.add_metric([result], float(life.reloads[result]))
        yield counter
        written = CounterMetricFamily(
            "azure_backup_exporter_state_writes", "Writes of the state file by result.", labels=["result"]
        )
        for result in RESULTS:
            written.add_metric([result], float(life.state_writes[result]))
        yield written
        duration = GaugeMetricFamily(
            "azure_backup_exporter_state_last_write_duration_seconds",
            "Time the last successful write of the state file took (encoding, fsync, rename).",
        )
        if life.last_state_write_seconds is not None:
            duration.add_metric([], life.last_state_write_seconds)
        yield duration
