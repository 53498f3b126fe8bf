"""Headless outputs for scripts, cron and CI: the JSON summary, the CSV tables, the check and its
webhook. Never imports the plotting stack."""
