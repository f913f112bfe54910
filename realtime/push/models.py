"""Device tokens: where a user's push notifications go."""

from django.db import models


class Platform(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS"
    WEB = "web", "Web"


class DeviceToken(models.Model):
    """One FCM registration token of one device (or browser) of a user."""

    uid = models.CharField(max_length=128, db_index=True)
    account_id = models.CharField(max_length=128, null=True, blank=True)
    token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # the last send's failure (other than an invalid token, which deletes the row); "" when fine
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.uid} {self.platform} {self.token[:16]}…"
