# The service image: granian serving app.asgi:app (the front, then the Flask app) on port 8080.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY index_templates ./index_templates
# Editable, so app/ finds index_templates/ beside it.
RUN pip install --no-cache-dir -e .
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
# scripts/serve's defaults: one worker per two cores (at most 4), 32 threads each.
CMD ["sh", "-c", "w=$(( ($(nproc) + 1) / 2 )); [ $w -gt 4 ] && w=4; exec granian --interface asgi app.asgi:app --host $HOST --port $PORT --workers ${WEB_CONCURRENCY:-$w} --respawn-failed-workers --workers-kill-timeout 30 --access-log"]
