"""`vigil backtest`: replay a CSV series or recorded OTLP through a rule and report what would have fired."""
