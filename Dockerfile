# mock-runtype: the Runtype Records API sandbox, listening on 0.0.0.0:8080.
#   docker build -t mock-runtype .
#   docker run --rm -p 8080:8080 mock-runtype
# Configure it with MOCK_RUNTYPE_* variables (docs/configuration.md); fixtures mount at /fixtures.

# Stage 1: into a venv, the locked dependencies (requirements.lock: exact versions, each file's hash
# checked; `make lock` refreshes it), then a wheel built from the source tree, without resolving again.
FROM python:3.12-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock .
RUN python -m venv /opt/mock-runtype \
 && /opt/mock-runtype/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY . .
RUN pip wheel --no-deps --wheel-dir /dist . \
 && /opt/mock-runtype/bin/pip install --no-deps /dist/*.whl

# Stage 2: the venv on the same base image, run by an unprivileged user.
FROM python:3.12-slim-bookworm
COPY --from=build /opt/mock-runtype /opt/mock-runtype
ENV PATH=/opt/mock-runtype/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MOCK_RUNTYPE_HOST=0.0.0.0 \
    MOCK_RUNTYPE_PORT=8080
# /state: where a state file (MOCK_RUNTYPE_STATE_FILE) can live on a volume, owned by the server's user.
RUN mkdir /state && chown 10001 /state
WORKDIR /fixtures
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-m", "mock_runtype.healthcheck"]
ENTRYPOINT ["mock-runtype"]
CMD ["serve"]
