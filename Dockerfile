# topomaps dashboard image: gunicorn serving app:server; the same image runs the Celery worker.
#   docker build -t topomaps .
#   docker run -p 8050:8050 -v topomaps-data:/data topomaps       (one container, no Redis)
#   docker compose up                                              (web + worker + redis)
# Settings are environment variables (README, "Deploy"). The CMD line and the HEALTHCHECK are
# run as they are, on a free port, by tests/deploy/test_image_contract.py.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOPOMAPS_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    TOPOMAPS_DEMO_BUILD=/app/build/demos \
    TF_CPP_MIN_LOG_LEVEL=3

RUN useradd --create-home --uid 1000 --user-group topomaps

WORKDIR /app
# Every requirement is pinned (==); this layer is rebuilt only when they change.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The code belongs to root: the app's user can read it, not change it. The project itself is
# installed without dependencies (they are the pinned requirements above).
COPY . .
RUN pip install --no-cache-dir --no-deps . && mkdir -p /data && chown topomaps:topomaps /data
# The demos, built once into the image (read-only for the app's user): a fresh /data copies
# them instead of training them in the first Run.
RUN TOPOMAPS_DATA_DIR=/tmp/demo-build python -m topomap_core.io.demo --build \
    && rm -rf /tmp/demo-build

USER topomaps
# Uploaded models and data (/data/models, /data/data), trained demo models
# (/data/demo-models), the result cache (/data/results), the jobs log and, without
# DASH_SECRET_KEY, the generated signing key: all state is here. Mount a volume.
VOLUME ["/data"]
EXPOSE 8050

# GET /health answers "OK" once a gunicorn worker serves; 401 (TOPOMAPS_AUTH on) is alive too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import http.client, sys; c = http.client.HTTPConnection('127.0.0.1', 8050, timeout=4); c.request('GET', '/health'); sys.exit(c.getresponse().status not in (200, 401))"]

# 2 processes x 4 threads for a 2-core box: requests are short (jobs run in the Celery worker
# or in processes of their own); a worker stuck 120 s is restarted; on SIGTERM requests in
# flight get 30 s to finish.
CMD ["gunicorn", "--bind", "0.0.0.0:8050", "--workers", "2", "--threads", "4", "--timeout", "120", "--graceful-timeout", "30", "--worker-tmp-dir", "/dev/shm", "app:server"]
