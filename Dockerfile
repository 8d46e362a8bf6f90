# The Connect backend: a two-stage build with uv, hash-pinned dependencies, a non-root user.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
WORKDIR /src
COPY requirements.lock ./
RUN uv venv /opt/venv \
 && uv pip sync --compile-bytecode --python /opt/venv/bin/python --require-hashes requirements.lock
# The service alone: the Stripe simulator (sim/) is a dev-only distribution, never copied.
COPY pyproject.toml README.md ./
COPY src/connect_backend ./src/connect_backend
# Compiled at build time: the image sets PYTHONDONTWRITEBYTECODE, so nothing is compiled at start.
RUN uv pip install --compile-bytecode --python /opt/venv/bin/python --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000
USER app
EXPOSE 8000
# SIGTERM (Docker's and Railway's stop signal): each worker finishes its requests in flight.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["python", "-m", "connect_backend"]
