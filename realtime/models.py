"""ApiSession: a session id a client may present instead of its JWT, with the stored token."""

from django.db import models
from django.utils import timezone


class ApiSession(models.Model):
    """A platform session: `session_id` in a CONNECT stands for the JWT stored here."""

    session_id = models.CharField(max_length=255, unique=True)
    token = models.TextField(help_text="The JWT this session stands for.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API session"

    def __str__(self) -> str:
        return self.session_id

    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
