"""OTLP ingest: HTTP and gRPC receivers, decoding and validation of requests, and the queue to the store."""
