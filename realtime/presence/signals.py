"""`presence_changed(uid, account_id, status)`: sent once per real change, across instances."""

from django.dispatch import Signal

presence_changed = Signal()
