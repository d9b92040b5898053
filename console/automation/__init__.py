"""Unattended cycles: one cycle (`cycle.py`), its settings, notifications and the systemd/cron schedule.

systemd timers or cron start the cycles; the product never runs a scheduler of its own."""
