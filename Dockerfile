FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY stream stream
COPY models models
COPY monitors monitors
COPY migrations migrations
# The CPU build of torch (~200 MB) instead of PyPI's default CUDA build (several GB); trainers with a GPU can
# build from a CUDA base image without this index.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt .
ENTRYPOINT ["recstream"]
