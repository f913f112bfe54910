"""Admin: live sockets (with a disconnect action for any instance), presence, instances."""

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from ..emit import disconnect_sid_sync
from .models import LiveSocket, ServerInstance, UserPresence


@admin.register(LiveSocket)
class LiveSocketAdmin(admin.ModelAdmin):
    list_display = (
        "sid",
        "namespace",
        "uid",
        "account_id",
        "instance_id",
        "transport",
        "remote_addr",
        "connected_at",
        "last_seen",
    )
    list_filter = ("namespace", "instance_id", "transport")
    search_fields = ("sid", "uid", "account_id", "remote_addr", "user_agent")
    readonly_fields = [field.name for field in LiveSocket._meta.fields]
    actions = ["disconnect_sockets"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Disconnect the selected sockets (on whichever instance)")
    def disconnect_sockets(self, request, queryset) -> None:
        sids = list(queryset.values_list("sid", flat=True))
        for sid in sids:
            disconnect_sid_sync(sid)
        self.message_user(request, f"Disconnect sent to {len(sids)} socket(s).", messages.SUCCESS)


@admin.register(UserPresence)
class UserPresenceAdmin(admin.ModelAdmin):
    list_display = ("uid", "account_id", "status", "socket_count", "last_seen", "changed_at")
    list_filter = ("status",)
    search_fields = ("uid", "account_id")

    def get_queryset(self, request):
        sockets = (
            LiveSocket.objects.filter(uid=OuterRef("uid"))
            .values("uid")
            .annotate(n=Count("sid"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_sockets=Coalesce(Subquery(sockets), 0))

    @admin.display(description="sockets", ordering="_sockets")
    def socket_count(self, obj: UserPresence) -> int:
        return getattr(obj, "_sockets", 0)


@admin.register(ServerInstance)
class ServerInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "hostname", "pid", "started_at", "last_seen", "shutting_down", "layer")
    readonly_fields = [field.name for field in ServerInstance._meta.fields]
