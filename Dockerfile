# general-socket: `manage.py serve`, one uvicorn worker per core (WEB_CONCURRENCY) on port 4000,
# as a non-root user. Configured by the environment alone (README, "Deploying").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    SQLITE_PATH=/app/data/db.sqlite3 \
    PORT=4000

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Twisted's plugin cache (it finds serve's TLS endpoint in twisted/plugins/) is written now,
# as the image's only writer; the app user owns nothing but its data directory
RUN python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/data && chown app /app/data
USER app

EXPOSE 4000
# SIGTERM: every worker tells its sockets (server_shutdown) and leaves within SHUTDOWN_TIMEOUT_S
STOPSIGNAL SIGTERM
# /status, over https when serve speaks TLS itself (its certificate names the public host)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import os, ssl, urllib.request; tls = bool(os.environ.get('TLS_CERT')); urllib.request.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('PORT', '4000') + '/status', timeout=2, context=ssl._create_unverified_context() if tls else None)"
CMD ["python", "manage.py", "serve"]
