"""Server instances, their live sockets, and each user's presence."""

from django.db import models


class ServerInstance(models.Model):
    """One server process. Its heartbeat keeps its sockets alive in the registry."""

    id = models.CharField(primary_key=True, max_length=16)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    shutting_down = models.BooleanField(default=False)
    layer = models.CharField(
        max_length=32,
        default="",
        help_text="The channel layer it is on (a fingerprint of its settings): "
        "instances hear each other only on the same layer.",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.hostname}:{self.pid})"


class LiveSocket(models.Model):
    """One connected Socket.IO socket (one namespace of one client connection)."""

    sid = models.CharField(primary_key=True, max_length=32)
    namespace = models.CharField(max_length=200, db_index=True)
    uid = models.CharField(max_length=128, null=True, blank=True)
    account_id = models.CharField(max_length=128, null=True, blank=True)
    # not a foreign key: rows arrive in batches, and a dead instance's rows are swept by id
    instance_id = models.CharField(max_length=16, db_index=True)
    transport = models.CharField(max_length=16)
    remote_addr = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    connected_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-connected_at"]
        indexes = [
            models.Index(fields=["uid", "namespace"]),
            models.Index(fields=["account_id", "namespace"]),
        ]

    def __str__(self) -> str:
        return f"{self.sid} {self.namespace} uid={self.uid}"


class PresenceStatus(models.TextChoices):
    ACTIVE = "active"
    AWAY = "away"
    INACTIVE = "inactive"


class UserPresence(models.Model):
    """A user's presence across every instance: active while any socket of theirs lives."""

    uid = models.CharField(primary_key=True, max_length=128)
    account_id = models.CharField(max_length=128, null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=PresenceStatus.choices, default=PresenceStatus.INACTIVE
    )
    last_seen = models.DateTimeField()
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "user presence"
        ordering = ["uid"]

    def __str__(self) -> str:
        return f"{self.uid}: {self.status}"
