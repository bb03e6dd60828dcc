# A small image whose entrypoint is the cytoplan CLI, installed as the README does.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/cytoplan
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip install --upgrade pip && python -m pip install . \
    && useradd --create-home cytoplan

USER cytoplan
WORKDIR /data
ENTRYPOINT ["cytoplan"]
CMD ["--help"]
