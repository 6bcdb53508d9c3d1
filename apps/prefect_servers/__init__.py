"""Prefect servers: connections to Prefect 2.x/3.x APIs whose runs and results Resultdeck syncs."""
