"""Azure's region pairs: where a vault's cross-region restore jobs live (its secondary region).

Source: Microsoft's "Azure regions list" (learn.microsoft.com/azure/reliability/regions-list,
"Paired region" column, with each region's programmatic name) and "Azure region pairs and
nonpaired regions" (learn.microsoft.com/azure/reliability/cross-region-replication-azure). Azure
Backup restores cross-region into the paired region of the vault's location, and
BackupCrrJobs_List is addressed to that region (`locations/{azureRegion}`).

A pair is not always symmetric: Brazil South's pair is South Central US, whose own is North
Central US; West US 3 pairs with East US, which pairs with West US. Regions with no pair
(Austria East, Italy North, Poland Central, Qatar Central, ...) are absent: a geo-redundant vault
there has no cross-region restore to read.
"""

from __future__ import annotations

PAIRED_REGIONS: dict[str, str] = {
    # Asia-Pacific
    "eastasia": "southeastasia",
    "southeastasia": "eastasia",
    # Australia
    "australiaeast": "australiasoutheast",
    "australiasoutheast": "australiaeast",
    "australiacentral": "australiacentral2",
    "australiacentral2": "australiacentral",
    # Brazil
    "brazilsouth": "southcentralus",
    "brazilsoutheast": "brazilsouth",
    # Canada
    "canadacentral": "canadaeast",
    "canadaeast": "canadacentral",
    # China (Azure operated by 21Vianet)
    "chinanorth": "chinaeast",
    "chinaeast": "chinanorth",
    "chinanorth2": "chinaeast2",
    "chinaeast2": "chinanorth2",
    "chinanorth3": "chinaeast3",
    "chinaeast3": "chinanorth3",
    # Europe
    "northeurope": "westeurope",
    "westeurope": "northeurope",
    # France
    "francecentral": "francesouth",
    "francesouth": "francecentral",
    # Germany
    "germanywestcentral": "germanynorth",
    "germanynorth": "germanywestcentral",
    # India
    "centralindia": "southindia",
    "southindia": "centralindia",
    "westindia": "southindia",
    "jioindiacentral": "jioindiawest",
    "jioindiawest": "jioindiacentral",
    # Japan
    "japaneast": "japanwest",
    "japanwest": "japaneast",
    # Korea
    "koreacentral": "koreasouth",
    "koreasouth": "koreacentral",
    # North America
    "eastus": "westus",
    "westus": "eastus",
    "eastus2": "centralus",
    "centralus": "eastus2",
    "northcentralus": "southcentralus",
    "southcentralus": "northcentralus",
    "westus2": "westcentralus",
    "westcentralus": "westus2",
    "westus3": "eastus",
    # Norway
    "norwayeast": "norwaywest",
    "norwaywest": "norwayeast",
    # South Africa
    "southafricanorth": "southafricawest",
    "southafricawest": "southafricanorth",
    # Sweden
    "swedencentral": "swedensouth",
    "swedensouth": "swedencentral",
    # Switzerland
    "switzerlandnorth": "switzerlandwest",
    "switzerlandwest": "switzerlandnorth",
    # United Arab Emirates
    "uaenorth": "uaecentral",
    "uaecentral": "uaenorth",
    # United Kingdom
    "uksouth": "ukwest",
    "ukwest": "uksouth",
    # US Government and Department of Defense
    "usgovvirginia": "usgovtexas",
    "usgovarizona": "usgovtexas",
    "usgovtexas": "usgovarizona",
    "usdodeast": "usdodcentral",
    "usdodcentral": "usdodeast",
}


def secondary_region(location: str) -> str | None:
    """The paired region of `location` ("West Europe" or "westeurope"), None when it has none we know."""
    return PAIRED_REGIONS.get(location.replace(" ", "").lower())
