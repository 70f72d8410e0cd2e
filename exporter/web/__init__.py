"""Web: the HTTP server (/metrics, /, /-/healthy, /-/ready), its connection guard, TLS and basic auth."""
