FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY collector ./collector
RUN pip install --no-cache-dir .
COPY rules /etc/vigil/rules
COPY templates /etc/vigil/templates
COPY deploy/vigil.yaml /etc/vigil/vigil.yaml
WORKDIR /var/lib/vigil
EXPOSE 4317 4318 8080
ENTRYPOINT ["vigil"]
CMD ["run", "-c", "/etc/vigil/vigil.yaml"]
