"""Admin: the API sessions whose stored JWT a socket may present by `session_id`."""

from django.contrib import admin

from .models import ApiSession


@admin.register(ApiSession)
class ApiSessionAdmin(admin.ModelAdmin):
    list_display = ("session_id", "expires_at", "expired", "created_at")
    search_fields = ("session_id",)
    readonly_fields = ("created_at",)

    @admin.display(boolean=True, description="expired")
    def expired(self, session: ApiSession) -> bool:
        return session.is_expired()
