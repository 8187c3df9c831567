"""The rule language of DESIGN §4: schema, loader with positioned errors, and the registry that swaps rule sets."""
