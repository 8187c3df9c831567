"""Rule evaluation: measures per series, threshold and baseline conditions, the alert lifecycle."""
