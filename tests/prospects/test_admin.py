"""The prospects admin: conversations searchable by contact and participant, every model listed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from prospects import communications, services
from prospects.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation_id() -> int:
    contact = Contact.objects.create(account_id="acme", name="Quentin Prospect")
    created = services.conversation_create(
        uid="alice", account_id="acme", contact_id=contact.pk, channel_id="web", users=["bob"]
    )
    cid = int(created["_id"])
    communications.communication_send(
        cid=cid, uid="alice", account_id="acme", data={"content": "welcome"}
    )
    services.note_add(cid=cid, uid="bob", account_id="acme", content="hot lead")
    return cid


def test_changelist_searches_by_contact_and_participant(admin_client, conversation_id) -> None:
    url = reverse("admin:prospects_conversationprospect_changelist")
    assert "Quentin Prospect" in admin_client.get(url, {"q": "quentin"}).content.decode()
    assert "Quentin Prospect" in admin_client.get(url, {"q": "bob"}).content.decode()
    assert "Quentin Prospect" not in admin_client.get(url, {"q": "nobody"}).content.decode()


def test_change_page_shows_participants_counts_and_notes(admin_client, conversation_id) -> None:
    url = reverse("admin:prospects_conversationprospect_change", args=[conversation_id])
    page = admin_client.get(url).content.decode()
    assert 'name="participants-1-unread_count" value="1"' in page  # bob's
    assert "hot lead</textarea>" in page


@pytest.mark.parametrize(
    "model", ["contact", "conversationprospect", "prospectparticipant", "communication", "note"]
)
def test_every_model_is_listed(admin_client, conversation_id, model) -> None:
    response = admin_client.get(reverse(f"admin:prospects_{model}_changelist"))
    assert response.status_code == 200
