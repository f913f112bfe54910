"""The admin on a real server, whose middleware runs on the loop (config.middleware): CSRF
enforced, the session saved at login (in a thread: the database), a message stored and shown
once, logout."""

from __future__ import annotations

import re
import subprocess
import uuid

import httpx

from tests.support.servers import PYTHON, ROOT, ServerProcess

PASSWORD = "admin-e2e-password-0123"


def superuser(server: ServerProcess) -> str:
    name = f"admin-{uuid.uuid4().hex[:8]}"
    command = ["createsuperuser", "--noinput", "--username", name, "--email", "a@example.com"]
    subprocess.run(
        [PYTHON, "manage.py", *command],
        cwd=ROOT,
        env={**server.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    return name


def csrf_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


async def test_login_a_message_and_logout(server: ServerProcess) -> None:
    name = superuser(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as admin:
        page = await admin.get("/admin/login/")
        assert page.status_code == 200 and "csrftoken" in page.cookies
        form = {"username": name, "password": PASSWORD}
        refused = await admin.post("/admin/login/?next=/admin/", data=form)
        assert refused.status_code == 403  # no CSRF token
        form["csrfmiddlewaretoken"] = csrf_token(page)
        login = await admin.post("/admin/login/?next=/admin/", data=form)
        assert login.status_code == 302 and login.headers["location"] == "/admin/"
        assert "sessionid" in login.cookies and login.headers["vary"] == "Cookie"
        index = await admin.get("/admin/")
        assert index.status_code == 200 and "Site administration" in index.text

        add = await admin.get("/admin/auth/group/add/")
        group = {"name": f"group-{name}", "csrfmiddlewaretoken": csrf_token(add)}
        added = await admin.post("/admin/auth/group/add/", data=group)
        assert added.status_code == 302 and "messages" in added.cookies
        shown = await admin.get(added.headers["location"])
        assert "was added successfully" in shown.text
        again = await admin.get(added.headers["location"])
        assert "was added successfully" not in again.text

        token = admin.cookies["csrftoken"]
        assert (await admin.post("/admin/logout/", data={"csrfmiddlewaretoken": token})).is_success
        out = await admin.get("/admin/")
        assert out.status_code == 302 and out.headers["location"].startswith("/admin/login/")
