"""The operators' files: docker-compose.yml, deploy/nginx.conf (checked by a real nginx), the
Dockerfile's commands (run here: there is no container engine), and the README's table of
every environment variable the service reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from tests.support.servers import PYTHON, ROOT, ServerProcess, free_port

README = (ROOT / "README.md").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def readme_variables() -> set[str]:
    """The variables named in the first column of the README's settings table."""
    names: set[str] = set()
    for line in README.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def variables_read() -> set[str]:
    """Every variable the settings and `serve` read from the environment."""
    sources = [*sorted((ROOT / "config" / "settings").glob("*.py"))]
    sources.append(ROOT / "realtime" / "management" / "commands" / "serve.py")
    names: set[str] = set()
    for source in sources:
        text = source.read_text()
        names.update(re.findall(r"env_(?:str|bool|int|float|list)\(\s*\"([A-Z0-9_]+)\"", text))
        names.update(re.findall(r"environ(?:\.get\(|\[)\"([A-Z0-9_]+)\"", text))
    return names - {"PYTHONPATH"}


def test_the_readme_table_names_every_variable() -> None:
    read = variables_read()
    assert {"PORT", "DATABASE_URL", "REDIS_URL", "TLS_CERT", "WEB_CONCURRENCY"} <= read
    assert read - readme_variables() == set()


def test_compose_runs_two_app_containers_behind_nginx_on_redis_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "migrate", "app1", "app2", "nginx"}
    for name in ("app1", "app2", "migrate"):
        app = services[name]
        assert app["build"] == "."
        assert app["environment"]["DATABASE_URL"].startswith("postgres://")
        assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert set(app["environment"]) <= readme_variables()
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["app1"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert services["nginx"]["ports"] == ["${PUBLIC_PORT:-4000}:80"]


def test_the_nginx_config_is_valid_and_plain_round_robin() -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream general_socket \{(.*?)\}", config, re.DOTALL)
    assert upstream is not None
    servers = re.findall(r"server (\S+);", upstream.group(1))
    assert servers == ["app1:4000", "app2:4000"]
    assert not re.search(r"ip_hash|hash |sticky", upstream.group(1))  # no sticky sessions
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is not installed; run scripts/test"
    prefix = Path(tempfile.mkdtemp(prefix="nginx-check-"))
    local = config.replace("app1:4000", "127.0.0.1:1").replace("app2:4000", "127.0.0.1:2")
    local = local.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    local = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n" + local
    (prefix / "nginx.conf").write_text(local)
    check = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", "nginx.conf"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


def test_the_dockerfile_serves_as_a_non_root_user() -> None:
    assert DOCKERFILE.startswith("# ") and "\nFROM python:3.11-slim\n" in DOCKERFILE
    assert re.search(r"^USER app$", DOCKERFILE, re.MULTILINE)
    assert 'CMD ["python", "manage.py", "serve"]' in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests"} <= set(ignored)


def test_the_dockerfile_plugin_cache_command_finds_the_tls_endpoint() -> None:
    """The RUN line that writes Twisted's plugin cache, as the image runs it."""
    [command] = re.findall(r'python -c "(from twisted\.plugin import [^"]+)"', DOCKERFILE)
    probe = command + "; from twisted.internet.endpoints import _parseServer; "
    probe += "print(type(_parseServer('tlsfd:fileno=0:privateKey=k', None)[0]).__name__)"
    result = subprocess.run(
        [PYTHON, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "AdoptedTLSEndpointParser"


def test_the_dockerfile_healthcheck_passes_on_a_running_server(server: ServerProcess) -> None:
    [command] = re.findall(r'CMD python -c "([^"]+)"', DOCKERFILE)
    result = subprocess.run(
        [PYTHON, "-c", command],
        env={**os.environ, "PORT": str(server.port)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
