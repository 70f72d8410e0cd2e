"""Names and error texts the simulated estate draws from.

Kept apart from the schedule so the estate reads like the real thing (teams, regions, SQL
instances, storage accounts) without cluttering the arithmetic that generates it.
"""

from __future__ import annotations

from typing import NamedTuple

TEAMS: tuple[str, ...] = ("payments", "identity", "data", "platform", "web", "search", "ml", "ops")
ENVIRONMENTS: tuple[str, ...] = ("prod", "staging", "dev")
LOCATIONS: tuple[str, ...] = ("westeurope", "northeurope", "eastus2", "uksouth", "centralindia", "japaneast")
VM_ROLES: tuple[str, ...] = ("app", "web", "api", "batch", "etl", "jump", "dc", "cache", "queue", "report")
# Database names are free-form in SQL Server: a backslash and double quotes are legal, and they
# are exactly what a Prometheus label value must escape. Index 2 and 4 land in the first vault.
# Mixed case (5, 7) as real estates have it: jobs keep the database's case, its protected item
# lower-cases it (the docs' "msDB" job of the "msdb" item).
SQL_DATABASES: tuple[str, ...] = (
    "sales",
    "inventory",
    'crm "eu"',
    "payroll",
    "ledger\\archive",
    "ReportingDW",
    "orders",
    "HR",
    "telemetry",
    "billing",
)
FILE_SHARES: tuple[str, ...] = ("profiles", "shared-docs", "scans", "exports", "home", "builds")


class ErrorInfo(NamedTuple):
    """One entry of `errorDetails` as Recovery Services returns it (AzureIaaSVMErrorInfo shape)."""

    code: int
    title: str
    message: str
    recommendation: str


# The SQL entry 510008 is verbatim from Microsoft's REST docs (rsv_docs_sqlvm_failed_workload_job);
# the titles of the others are error codes from the Azure Backup troubleshooting guides, their
# numeric codes are illustrative.
VM_ERRORS: tuple[ErrorInfo, ...] = (
    ErrorInfo(
        400094,
        "UserErrorVmNotFound",
        "The virtual machine doesn't exist or was deleted.",
        "Stop protection of the deleted virtual machine, or restore it from a recovery point.",
    ),
    ErrorInfo(
        400012,
        "ExtensionSnapshotFailedNoNetwork",
        "Snapshot operation failed due to no network connectivity on the virtual machine.",
        "Ensure that the VM has network access to the Azure Backup service and Azure Storage.",
    ),
    ErrorInfo(
        400242,
        "UserErrorGuestAgentStatusUnavailable",
        "VM Agent unable to communicate with Azure Backup.",
        "Ensure the VM agent is installed, running and up to date, then retry the operation.",
    ),
    ErrorInfo(
        400251,
        "ExtensionOperationFailedForManagedDisks",
        "VMSnapshot extension operation failed.",
        "Retry the backup; if the problem persists, uninstall the VMSnapshot extension.",
    ),
)
SQL_ERRORS: tuple[ErrorInfo, ...] = (
    ErrorInfo(
        510008,
        "OperationCancelledBecauseConflictingOperationRunningUserError",
        "Operation cancelled as a conflicting operation was already running on the same database.",
        "Please try again after sometime.",
    ),
    ErrorInfo(
        59010,
        "UserErrorSQLNoSysadminMembership",
        "Azure Backup service doesn't have sysadmin privileges on the SQL Server instance.",
        "Add the NT SERVICE\\AzureWLBackupPluginSvc account to the sysadmin role.",
    ),
    ErrorInfo(
        59013,
        "UserErrorParentFullBackupMissing",
        "The full backup for this database is missing, so the log chain is broken.",
        'Trigger an ad hoc "Backup (Full)" and retry.',
    ),
)
FILE_SHARE_ERRORS: tuple[ErrorInfo, ...] = (
    ErrorInfo(
        380001,
        "UserErrorFileShareEndpointUnreachable",
        "The storage account of the file share could not be reached.",
        "Check the storage account firewall allows trusted Microsoft services.",
    ),
    ErrorInfo(
        380002,
        "UserErrorStorageAccountNotFound",
        "The storage account hosting the file share was not found.",
        "Stop protection of the file share if its storage account was deleted.",
    ),
)
