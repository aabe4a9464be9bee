# The service image: granian serving app.asgi:app (the front, then the Flask app) on port 8080.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY index_templates ./index_templates
# Editable, so app/ finds index_templates/ beside it.
RUN pip install --no-cache-dir -e .
# Logs as ECS JSON lines on the container's output (LOG_FORMAT=console for people).
ENV HOST=0.0.0.0 PORT=8080 LOG_FORMAT=ecs
EXPOSE 8080
# `docker stop` sends SIGTERM to PID 1: `exec` makes granian PID 1, so it gets the signal, stops
# accepting, lets requests in flight finish (SHUTDOWN_TIMEOUT, 30 s; give `docker stop -t` or
# compose's stop_grace_period more) and exits 0.
STOPSIGNAL SIGTERM
# scripts/serve's defaults: one worker per two cores (at most 4), 32 threads each; the service
# writes the access log itself.
CMD ["sh", "-c", "w=$(( ($(nproc) + 1) / 2 )); [ $w -gt 4 ] && w=4; exec granian --interface asgi app.asgi:app --host $HOST --port $PORT --workers ${WEB_CONCURRENCY:-$w} --respawn-failed-workers --workers-kill-timeout ${SHUTDOWN_TIMEOUT:-30} --no-access-log --log-config app/observability/granian-ecs.json"]
