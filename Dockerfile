# topomaps dashboard: docker build -t topomaps . && docker run -p 8050:8050 -v topomaps-data:/data topomaps
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TOPOMAPS_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    HOST=0.0.0.0 \
    PORT=8050

RUN useradd --create-home --uid 1000 topomaps
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=topomaps:topomaps . .
RUN mkdir -p /data && chown topomaps:topomaps /data

USER topomaps
# Uploaded models, demo models and the result cache live here.
VOLUME ["/data"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/', timeout=4)"
CMD ["gunicorn", "--bind", "0.0.0.0:8050", "--workers", "2", "--threads", "4", "--timeout", "120", "app:server"]
