FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core core
COPY live live
COPY realtime realtime
COPY orders orders
COPY analytics analytics
COPY workers workers
COPY web web
COPY migrations migrations
# Editable: the code runs from /app, beside alembic.ini, the migrations, templates and static files.
RUN pip install --no-cache-dir -e .

EXPOSE 8000
CMD ["livesell", "serve", "--host", "0.0.0.0", "--port", "8000"]
