"""azure-backup-exporter: Prometheus metrics for Azure Backup jobs."""

__version__ = "0.1.0"
