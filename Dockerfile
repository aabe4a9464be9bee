# The service image: gunicorn serving app.wsgi:app on port 8080.
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY app ./app
COPY index_templates ./index_templates
# Editable, so app/ finds index_templates/ beside it.
RUN pip install --no-cache-dir -e .
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
CMD ["sh", "-c", "exec gunicorn app.wsgi:app --bind $HOST:$PORT --worker-class gthread --workers ${WEB_CONCURRENCY:-2} --threads ${WEB_THREADS:-32} --no-control-socket"]
