"""The steps of the guide and what surrounds them, one module per PostgreSQL
concern: each takes the run's hosts and a report, and acts through the host
layer."""
