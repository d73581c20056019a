FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY stream stream
COPY models models
COPY monitors monitors
COPY migrations migrations
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["recstream"]
