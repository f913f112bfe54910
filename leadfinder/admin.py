"""Admin: lead-finder jobs with their status and progress, filtered by status."""

from django.contrib import admin

from .models import ScraperJob


@admin.register(ScraperJob)
class ScraperJobAdmin(admin.ModelAdmin):
    list_display = (
        "job_id",
        "query",
        "location",
        "status",
        "progress",
        "found",
        "leads",
        "last_event",
        "started_at",
        "updated_at",
        "finished_at",
    )
    list_filter = ("status",)
    search_fields = ("job_id", "query")
    readonly_fields = [field.name for field in ScraperJob._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="progress", ordering="percent")
    def progress(self, job: ScraperJob) -> str:
        return f"{job.percent:.0f}% ({job.processed}/{job.total})"
