# The service's production image: granian serving app.asgi:app (the front, then the Flask app)
# on port 8080, as a user without privileges.
#   docker build -t connector-sync-jobs:0.1.0 .     (or: docker compose build)
# PYTHON_IMAGE names another base with Python 3.11+ at /usr/local/bin/python (Debian-based,
# for useradd).
ARG PYTHON_IMAGE=python:3.11-slim

# Build: the project and its dependencies, installed (not editable) into a virtualenv of their
# own. Whatever a dependency would need to compile stays in this stage.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY index_templates ./index_templates
COPY app ./app
RUN python -m venv /opt/connector-sync-jobs \
 && /opt/connector-sync-jobs/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/connector-sync-jobs/bin/pip uninstall --yes --quiet pip setuptools \
 && cp app/observability/granian-ecs.json /opt/connector-sync-jobs/

# Run: the base, the virtualenv, and nothing else.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="connector-sync-jobs" \
      org.opencontainers.image.description="Elasticsearch's Connector Sync Job APIs as a standalone service over a real Elasticsearch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin connector-sync-jobs
COPY --from=build /opt/connector-sync-jobs /opt/connector-sync-jobs
WORKDIR /opt/connector-sync-jobs
# Logs as ECS JSON lines on the container's output (LOG_FORMAT=console for people); granian's
# own lines too (GRANIAN_LOG_CONFIG, read by granian itself).
ENV PATH=/opt/connector-sync-jobs/bin:$PATH PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 PORT=8080 LOG_FORMAT=ecs \
    GRANIAN_LOG_CONFIG=/opt/connector-sync-jobs/granian-ecs.json
USER connector-sync-jobs
EXPOSE 8080
# Ready: Elasticsearch answers, the templates are installed and the indices usable. The probe
# needs no credentials, whatever AUTH_MODE is.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_connector_service/ready' % os.environ.get('PORT', '8080'), timeout=4)"]
# `docker stop` sends SIGTERM to PID 1: `exec` makes granian PID 1, so it gets the signal, stops
# accepting, lets requests in flight finish (SHUTDOWN_TIMEOUT, 30 s; give `docker stop -t` or
# compose's stop_grace_period more) and exits 0.
STOPSIGNAL SIGTERM
# scripts/serve's defaults: one worker per two cores (at most 4), 32 threads each; the service
# writes the access log itself.
CMD ["sh", "-c", "w=$(( ($(nproc) + 1) / 2 )); [ $w -gt 4 ] && w=4; exec granian --interface asgi app.asgi:app --host $HOST --port $PORT --workers ${WEB_CONCURRENCY:-$w} --respawn-failed-workers --workers-kill-timeout ${SHUTDOWN_TIMEOUT:-30} --no-access-log"]
