"""Admin: users' device tokens, by platform, with the last send error."""

from django.contrib import admin

from .models import DeviceToken


@admin.register(DeviceToken)
class DeviceTokenAdmin(admin.ModelAdmin):
    list_display = ("short_token", "uid", "account_id", "platform", "updated_at", "last_error")
    list_filter = ("platform",)
    search_fields = ("uid", "token")
    readonly_fields = ("created_at", "updated_at", "last_error")

    @admin.display(description="token", ordering="token")
    def short_token(self, obj: DeviceToken) -> str:
        return obj.token if len(obj.token) <= 32 else f"{obj.token[:32]}…"
