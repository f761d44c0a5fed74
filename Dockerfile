# syntax=docker/dockerfile:1
#
# OUR Voice production image. One image runs every process of the "Processes" table in
# decisions.md (web, streaming, worker, beat, migrate); docker-compose.yml picks the command.
# Build: docker build -t ourvoice:latest .     Deploy: see docs/deployment.md.

ARG UV_VERSION=0.13
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:3.11-slim

LABEL org.opencontainers.image.title="OUR Voice" \
      org.opencontainers.image.description="Federated, community-moderated social network server" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

COPY --from=uv /uv /uvx /bin/

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH"

RUN groupadd --system --gid 1000 ourvoice \
    && useradd --system --uid 1000 --gid ourvoice --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin ourvoice

WORKDIR /app

# Dependencies first, so this layer stays cached until pyproject.toml or uv.lock change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself (.dockerignore keeps tests, docs, data and secrets out).
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# Static files into STATIC_ROOT (/app/staticfiles), served by whitenoise. Settings refuse to load
# without a secret key when debug is off, so this step gets a throwaway one that is not kept in
# the image's environment; the real key comes from .env at run time.
RUN OURVOICE_SECRET_KEY=collectstatic-build-only-not-a-secret \
    python manage.py collectstatic --noinput

# Runtime user. /app itself is writable for `celery beat` (it keeps celerybeat-schedule in the
# working directory); /app/data/media is where the media volume is mounted, and creating it here
# gives a fresh named volume the right owner. The code stays owned by root.
RUN mkdir -p /app/data/media \
    && chown ourvoice:ourvoice /app /app/data /app/data/media

USER ourvoice

# 8000: web (gunicorn, WSGI). 8001: streaming (uvicorn, ASGI), used by the streaming service.
EXPOSE 8000 8001

CMD ["gunicorn", "ourvoice.wsgi", "-w", "2", "-b", "0.0.0.0:8000"]
