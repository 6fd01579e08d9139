"""A policy server for robot clients: openpi's websocket protocol over the reference or TT backend
(`python -m serve`)."""
