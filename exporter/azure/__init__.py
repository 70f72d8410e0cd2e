"""Azure Resource Manager: credentials, the one HTTP client (paging, retries, throttling) and the APIs."""
