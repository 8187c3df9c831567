"""`vigil demo`: a simulated shop that sends OpenTelemetry traces, logs and metrics to a running Vigil."""
