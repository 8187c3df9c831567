"""HTTP API served on listen.api: health, metrics, traces and the rest of DESIGN §7."""
