FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# ffmpeg/ffprobe: the worker transcodes short videos (docs/video.md).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md alembic.ini ./
COPY core core
COPY live live
COPY realtime realtime
COPY orders orders
COPY analytics analytics
COPY social social
COPY engagement engagement
COPY sharing sharing
COPY workers workers
COPY web web
COPY migrations migrations
# The nginx ingest config template (`livesell nginx-config`).
COPY deploy deploy
# Editable: the code runs from /app, beside alembic.ini, the migrations, templates and static files.
RUN pip install --no-cache-dir -e .

EXPOSE 8000
CMD ["livesell", "serve", "--host", "0.0.0.0", "--port", "8000"]
