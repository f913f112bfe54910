"""ScraperJob: one lead-finder job's last known status, as its scraper reported it."""

from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    STARTED = "started"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ScraperJob(models.Model):
    """A scraper run, updated by every status event relayed for it.

    Leads are relayed to the job's watchers but not stored: the job keeps only their count
    (`leads`). `last_event` and `last_payload` are the last status event, replayed to a
    socket that joins the job's room later.
    """

    job_id = models.CharField(max_length=64, unique=True)
    query = models.CharField(max_length=500, blank=True, default="")
    location = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.STARTED, db_index=True
    )
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    found = models.PositiveIntegerField(default=0)
    percent = models.FloatField(default=0.0)
    leads = models.PositiveIntegerField(default=0, help_text="Leads relayed (not stored).")
    last_event = models.CharField(max_length=32, blank=True, default="")
    last_payload = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.status})"
