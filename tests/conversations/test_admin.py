"""The conversations admin: search by title and participant, editable counts, paged messages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations import services
from conversations.models import Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation_id() -> int:
    created = services.conversation_create(
        uid="alice", account_id="acme", users=["bob"], title="Quarterly"
    )
    cid = int(created["_id"])
    for n in range(30):
        services.message_send(cid=cid, uid="alice", account_id="acme", content=f"note {n}")
    return cid


def test_changelist_searches_by_title_and_participant(admin_client, conversation_id) -> None:
    url = reverse("admin:conversations_conversation_changelist")
    assert "Quarterly" in admin_client.get(url, {"q": "quarter"}).content.decode()
    assert "Quarterly" in admin_client.get(url, {"q": "bob"}).content.decode()
    assert "Quarterly" not in admin_client.get(url, {"q": "nobody"}).content.decode()


def test_change_page_pages_messages_and_shows_unread_counts(admin_client, conversation_id) -> None:
    url = reverse("admin:conversations_conversation_change", args=[conversation_id])
    first = admin_client.get(url).content.decode()
    assert "note 29</textarea>" in first  # newest first, one page of 25
    assert "note 5</textarea>" in first and "note 4</textarea>" not in first
    assert "page 1 of 2" in first
    assert 'name="participants-1-unread_count" value="30"' in first
    second = admin_client.get(url, {"messages-page": "2"}).content.decode()
    assert "note 4</textarea>" in second and "note 0</textarea>" in second
    assert "note 5</textarea>" not in second


def test_staff_edit_unread_counts_in_the_participant_list(admin_client, conversation_id) -> None:
    bob = Participant.objects.get(conversation_id=conversation_id, uid="bob")
    url = reverse("admin:conversations_participant_changelist")
    page = admin_client.get(url).content.decode()
    assert 'name="form-0-unread_count"' in page
    response = admin_client.post(
        url,
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(Participant.objects.order_by("conversation_id", "uid")[0].pk),
            "form-0-unread_count": "0",
            "form-1-id": str(bob.pk),
            "form-1-unread_count": "3",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    bob.refresh_from_db()
    assert bob.unread_count == 3
